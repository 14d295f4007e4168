"""The token cache: one issuance shared by processes, the per-minute limit, invalidation."""

from __future__ import annotations

import os
import stat
import sys
import threading
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kis_helpers import TOKEN, FakeKis, kis_json  # noqa: E402, I001

from adapters.kis.auth import TokenProvider  # noqa: E402
from adapters.kis.errors import KisAuthError, KisTokenThrottled  # noqa: E402

URL = "http://127.0.0.1:9"


class FakeTime:
    def __init__(self) -> None:
        self.t = 1_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += s


def provider(fake: FakeKis, path: Path, clock: FakeTime, **kw: object) -> TokenProvider:
    return TokenProvider(fake.client(), URL, "key", "secret", path, clock=clock, sleep=clock.sleep, **kw)  # type: ignore[arg-type]


def test_token_is_issued_once_and_shared_through_the_file(tmp_path: Path) -> None:
    fake, clock = FakeKis(), FakeTime()
    a = provider(fake, tmp_path / "t.json", clock)
    b = provider(fake, tmp_path / "t.json", clock)  # another process, same machine
    assert a.token() == b.token() == f"{TOKEN}1"
    assert fake.tokens_issued == 1
    assert stat.S_IMODE(os.stat(tmp_path / "t.json").st_mode) == 0o600
    assert "key" not in (tmp_path / "t.json").read_text().replace("token", "")  # keyed by a hash


def test_concurrent_first_use_issues_one_token(tmp_path: Path) -> None:
    fake, clock = FakeKis(), FakeTime()
    out: list[str] = []
    threads = [
        threading.Thread(target=lambda: out.append(provider(fake, tmp_path / "t.json", clock).token()))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(out)) == 1 and fake.tokens_issued == 1


def test_token_is_refreshed_near_expiry(tmp_path: Path) -> None:
    fake, clock = FakeKis(), FakeTime()
    p = provider(fake, tmp_path / "t.json", clock, min_issue_interval_s=60)
    first = p.token()
    clock.t += 86400 - 300  # inside the refresh margin
    assert p.token() != first and fake.tokens_issued == 2


def test_reissue_waits_for_the_per_minute_limit(tmp_path: Path) -> None:
    fake, clock = FakeKis(), FakeTime()
    p = provider(fake, tmp_path / "t.json", clock, min_issue_interval_s=61, max_wait_s=65)
    tok = p.token()
    clock.t += 10
    p.invalidate(tok)
    assert p.token() != tok
    assert clock.slept == [pytest.approx(51)]


def test_reissue_beyond_the_wait_budget_raises_throttled(tmp_path: Path) -> None:
    fake, clock = FakeKis(), FakeTime()
    p = provider(fake, tmp_path / "t.json", clock, min_issue_interval_s=61, max_wait_s=5)
    p.invalidate(p.token())
    with pytest.raises(KisTokenThrottled):
        p.token()
    assert fake.tokens_issued == 1


def test_invalidate_leaves_a_newer_token_alone(tmp_path: Path) -> None:
    fake, clock = FakeKis(), FakeTime()
    a = provider(fake, tmp_path / "t.json", clock, min_issue_interval_s=0)
    b = provider(fake, tmp_path / "t.json", clock, min_issue_interval_s=0)
    old = a.token()
    a.invalidate(old)
    new = a.token()
    b.invalidate(old)  # b saw the old token refused, but a already replaced it
    assert b.token() == new and fake.tokens_issued == 2


@pytest.mark.parametrize(
    ("code", "exc"), [("EGW00133", KisTokenThrottled), ("EGW00103", KisAuthError), ("EGW00105", KisAuthError)]
)
def test_token_endpoint_403_shapes(tmp_path: Path, code: str, exc: type) -> None:
    fake = FakeKis().add(
        "tokenP", kis_json(403, {"error_code": code, "error_description": "접근토큰 발급 잠시 후 다시"})
    )
    with pytest.raises(exc) as info:
        provider(fake, tmp_path / "t.json", FakeTime()).token()
    assert info.value.code == code
    assert "secret" not in str(info.value)


def test_token_reply_without_expiry_is_malformed(tmp_path: Path) -> None:
    fake = FakeKis().add("tokenP", httpx.Response(200, json={"access_token": "x", "token_type": "Bearer"}))
    with pytest.raises(Exception, match="expires_in"):
        provider(fake, tmp_path / "t.json", FakeTime()).token()
