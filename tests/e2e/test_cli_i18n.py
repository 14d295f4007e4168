"""The command line in English and Korean: the same commands in both languages, the expected text
read from the catalog (adapters/cli/messages.py); ``--json`` is the same in both."""

from __future__ import annotations

import json
import re

import pytest

from adapters.cli.messages import CATALOGS, ERROR_KINDS
from adapters.sim.account import SimAccount
from tests.e2e.cli_helpers import DEMO_TARGETS, Cli

MARKUP = re.compile(r"\[/?(?:bold|red|green|cyan|magenta|yellow|dim)?\]")


def msg(lang: str, key: str, **params: object) -> str:
    """A catalog message as the terminal shows it (rich markup removed)."""
    return MARKUP.sub("", CATALOGS[lang][key].format(**params))


def error(lang: str, kind: str | None, detail: str) -> str:
    text = msg(lang, "error.kind", kind=ERROR_KINDS[kind], message=detail) if lang == "ko" and kind else detail
    return msg(lang, "error.line", message=text)


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("i18n")
    c = Cli(tmp, f"sqlite:///{tmp / 'i18n.db'}", REBALANCE_ACCOUNT_ALIAS="acct", COLUMNS="200", NO_COLOR="1")
    c.env.pop("REBALANCE_LANG", None)
    assert c("targets", "set", str(DEMO_TARGETS)).returncode == 0
    SimAccount.demo(c.account)
    done = c("run", "--max-phase", "2", "--json")
    assert done.returncode == 0, done.stderr
    c.run_id = json.loads(done.stdout)["run"]["id"]  # type: ignore[attr-defined]
    return c


# each language, chosen both ways: the setting and the global option
WAYS = [("en", {"REBALANCE_LANG": "en"}, []), ("ko", {"REBALANCE_LANG": "ko"}, []),
        ("en", {"REBALANCE_LANG": "ko"}, ["--lang", "en"]), ("ko", {}, ["--lang", "ko"])]
IDS = ["en-setting", "ko-setting", "en-option", "ko-option"]


@pytest.mark.parametrize(("lang", "env", "opt"), WAYS, ids=IDS)
def test_error_messages(cli, lang, env, opt):
    res = cli(*opt, "show", "nope", **env)
    assert res.returncode == 3 and res.stderr.strip() == error(lang, "RunNotFound", "no run with id 'nope'")
    res = cli(*opt, "config", "set", **env)
    assert res.returncode == 2 and res.stderr.strip() == error(lang, "TargetsError", msg(lang, "config.set_needs"))
    missing = cli.tmp / "nope.json"
    res = cli(*opt, "targets", "set", str(missing), **env)
    assert res.returncode == 2
    assert res.stderr.strip() == error(lang, "TargetsError", msg(lang, "file.missing", what="targets", path=missing))


@pytest.mark.parametrize(("lang", "env", "opt"), WAYS, ids=IDS)
def test_status_show_and_config_output(cli, lang, env, opt):
    run_id = cli.run_id
    res = cli(*opt, "status", run_id, **env)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].strip() == msg(lang, "status.title_one")
    header = next(x for x in lines if run_id not in x and msg(lang, "col.lease_holder") in x)
    for col in ("col.account", "col.state", "col.status", "col.age"):
        assert msg(lang, col) in header
    assert "STOPPED" in res.stdout and "DRIFT_CHECKED" in res.stdout  # identifiers in both languages
    legend = f"STOPPED: {msg('ko', 'status.STOPPED')}"
    assert (legend in res.stdout) == (lang == "ko")
    show = cli(*opt, "show", run_id, **env)
    assert show.returncode == 0
    assert msg(lang, "render.timeline") in show.stdout and msg(lang, "col.what_happened") in show.stdout
    assert msg(lang, "render.drift_sub", title=msg(lang, "render.before"), sub=5.0) in show.stdout
    got = cli(*opt, "config", "get", **env)
    assert got.stdout.strip() == msg(lang, "config.get", mp=3.0, sub=5.0)


def test_json_is_the_same_in_both_languages(cli):
    for args in (["show", cli.run_id], ["status", cli.run_id], ["config", "get"], ["history"], ["show", "nope"]):
        en = cli(*args, "--json", REBALANCE_LANG="en")
        ko = cli(*args, "--json", REBALANCE_LANG="ko")
        assert (en.returncode, en.stdout) == (ko.returncode, ko.stdout), args
        json.loads(en.stdout)
    assert json.loads(ko.stdout)["message"] == "no run with id 'nope'"


@pytest.mark.parametrize(("env", "want"), [
    ({"LANG": "ko_KR.UTF-8"}, "en"),  # unset: English
    ({"REBALANCE_LANG": "auto", "LANG": "ko_KR.UTF-8", "LC_ALL": ""}, "ko"),
    ({"REBALANCE_LANG": "auto", "LANG": "ko_KR.UTF-8", "LC_ALL": "C.UTF-8"}, "en"),
])
def test_auto_follows_the_locale_and_unset_is_english(cli, env, want):
    got = cli("config", "get", **env)
    assert got.stdout.strip() == msg(want, "config.get", mp=3.0, sub=5.0)


def test_an_unknown_language_is_refused(cli):
    res = cli("--lang", "fr", "config", "get")
    assert res.returncode == 2 and "fr" in res.stderr and res.stdout == ""
