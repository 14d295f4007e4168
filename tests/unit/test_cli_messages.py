"""The command line's message catalog (adapters/cli/messages.py): English and Korean have the same
ids and the same fields, and the language is chosen as documented."""

from __future__ import annotations

import string

import pytest

from adapters.cli import messages as m


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_languages_have_the_same_ids_and_fields():
    assert sorted(set(m.EN) ^ set(m.KO)) == []
    wrong = {k: (fields(m.EN[k]), fields(m.KO[k])) for k in m.EN if fields(m.EN[k]) != fields(m.KO[k])}
    assert wrong == {}


def test_korean_messages_are_translated():
    same = [k for k in m.EN if m.KO[k] == m.EN[k] and any(c.isalpha() and c.islower() for c in m.EN[k])
            and k not in ("error.kind", "render.llm")]
    assert same == []


@pytest.mark.parametrize(("option", "setting", "env", "want"), [
    (None, None, {"LANG": "ko_KR.UTF-8"}, "en"),  # unset: English, whatever the locale
    (None, "ko", {}, "ko"),
    ("en", "ko", {}, "en"),  # --lang beats REBALANCE_LANG
    ("ko", None, {"LANG": "en_US.UTF-8"}, "ko"),
    (None, "auto", {"LANG": "ko_KR.UTF-8"}, "ko"),
    (None, "auto", {"LC_ALL": "en_US.UTF-8", "LANG": "ko_KR.UTF-8"}, "en"),  # LC_ALL first
    (None, "auto", {"LC_ALL": "ko_KR.UTF-8", "LANG": "C"}, "ko"),
    (None, "auto", {}, "en"),
    ("auto", None, {"LANG": "ko"}, "ko"),
    (None, "KO", {}, "ko"),
])
def test_the_language_is_chosen_by_option_setting_then_locale(option, setting, env, want):
    assert m.resolve(option, setting, env) == want


def test_tr_formats_in_the_chosen_language_and_en_stays_english():
    try:
        m.set_lang("ko")
        assert m.tr("config.get", mp=3.0, sub=5.0) == "MP 임계값 3.0 %p, Sub-MP 임계값 5.0 %p"
        assert m.en("config.get", mp=3.0, sub=5.0) == "MP threshold 3.0 pp, Sub-MP threshold 5.0 pp"
        m.set_lang("xx")
        assert m.lang() == "en"
    finally:
        m.set_lang("en")


def test_cli_errors_carry_english_for_json_and_the_chosen_language_for_people():
    from statemachine.errors import RunNotFound, TargetsError

    try:
        m.set_lang("ko")
        exc = m.cli_error(TargetsError, "targets.none", {"field": "targets"})
        assert exc.message == m.EN["targets.none"] and exc.fields == {"field": "targets"}
        assert m.printed(exc, exc.message) == m.KO["targets.none"]
        assert m.error_line(RunNotFound("no run with id 'x'"), "no run with id 'x'") == (
            "[red]오류:[/] 실행을 찾을 수 없습니다 — no run with id 'x'")
        m.set_lang("en")
        line = m.error_line(RunNotFound("no run with id 'x'"), "no run with id 'x'")
        assert line == "[red]error:[/] no run with id 'x'"
    finally:
        m.set_lang("en")


def test_every_error_kind_names_an_error_class():
    import adapters.cli.guards
    import adapters.db.connect
    import adapters.scheduler.runner
    import statemachine.errors

    known = {name for mod in (statemachine.errors, adapters.cli.guards, adapters.db.connect, adapters.scheduler.runner)
             for name, obj in vars(mod).items() if isinstance(obj, type) and issubclass(obj, Exception)}
    assert sorted(set(m.ERROR_KINDS) - known) == []


def test_every_status_has_a_description_in_both_languages():
    from statemachine.states import RunStatus

    for lang in m.LANGS:
        assert {f"status.{s.value}" for s in RunStatus} <= set(m.CATALOGS[lang])
