"""The page's message catalog (adapters/http/web/i18n.js): English and Korean have exactly the same
message ids and the same placeholders, and every id that app.js, targets.js or index.html uses exists."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "adapters" / "http" / "web"


@cache
def catalogs() -> dict[str, dict[str, str]]:
    """The catalog of i18n.js (strict JSON between its CATALOG markers)."""
    src = (WEB / "i18n.js").read_text()
    m = re.search(r"/\*CATALOG-BEGIN\*/(.*)/\*CATALOG-END\*/", src, re.S)
    assert m, "i18n.js has no CATALOG-BEGIN/END markers"
    data: dict[str, dict[str, str]] = json.loads(m.group(1))
    return data


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_both_languages_have_the_same_ids():
    c = catalogs()
    assert set(c) == {"en", "ko"}
    assert sorted(set(c["en"]) ^ set(c["ko"])) == []
    assert len(c["en"]) > 150


def test_both_languages_have_the_same_placeholders():
    c = catalogs()
    wrong = {k: (placeholders(c["en"][k]), placeholders(c["ko"][k])) for k in c["en"]
             if placeholders(c["en"][k]) != placeholders(c["ko"][k])}
    assert wrong == {}


def test_korean_messages_are_translated():
    """A Korean message equal to its English one must be a name or a symbol, not an English phrase."""
    c = catalogs()
    same = [k for k in c["en"] if c["ko"][k] == c["en"][k] and re.search(r"[a-z]{3,} [a-z]{3,}", c["en"][k])]
    assert same == []
    assert all(re.search(r"[가-힣]", v) for k, v in c["ko"].items() if k.startswith(("tab.", "col.", "op.")))


def test_every_id_the_page_uses_is_in_the_catalog():
    c = catalogs()["en"]
    js = (WEB / "app.js").read_text()
    html = (WEB / "index.html").read_text()
    used = set(re.findall(r"\bt\(\"([\w.-]+)\"", js))
    used |= set(re.findall(r"\"((?:col|side|status)\.[\w-]+)\"", js))
    used |= set(re.findall(r"data-i18n(?:-placeholder|-title)?=\"([\w.-]+)\"", html))
    tg = (WEB / "targets.js").read_text()  # the MP and Sub-MP tabs: T(id), L(tag, id) and section(kind, id, id)
    used |= set(re.findall(r"\bT\(\"([\w.-]+)\"", tg)) | set(re.findall(r"\bL\(\"\w+\", \"([\w.-]+)\"", tg))
    used |= set(re.findall(r"\"(tg\.[\w-]+)\"", tg))
    assert len(used) > 100
    assert sorted(used - set(c)) == []
    for prefix, values in (("status.", ["SUCCEEDED", "NOT_NEEDED", "STOPPED", "RUNNING", "BLOCKED", "PARTIAL",
                                        "FAILED", "ABORTED"]), ("side.", ["sell", "buy"])):
        assert all(prefix + v in c for v in values)


def test_the_status_descriptions_cover_every_status():
    from statemachine.states import RunStatus

    c = catalogs()["ko"]
    assert {f"status.{s.value}" for s in RunStatus} <= set(c)
