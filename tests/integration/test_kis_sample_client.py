"""The broker's own sample client (koreainvestment/open-trading-api ``examples_user``), unchanged,
against the simulator on both hosts: token, price, balance in pages, buying power, buy,
daily orders, sell, balance again (tests/kis_sample_driver.py drives it); balance over three pages
on paper, two on real.

The sample is not part of this project: set ``KIS_SAMPLE_REPO`` to a clone of
https://github.com/koreainvestment/open-trading-api (its git directory or its work tree); the test
exports ``examples_user`` into a temporary directory and skips when the variable is unset. The
sample imports ``Crypto`` (pycryptodome) for websocket decryption only; when it is not installed,
a stub package that raises on use stands in for it. docs/kis.md says how this was run and what
happened. With the same clone, the simulator's field lists (adapters/kis_sim/fields) are compared
with the broker's ``examples_llm/**/chk_*.py`` lists they were taken from.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kis_helpers import many_holdings_account  # noqa: E402, I001

from adapters.kis_sim.fields import balance as FB  # noqa: E402
from adapters.kis_sim.fields import ccld as FC  # noqa: E402
from adapters.kis_sim.fields import holiday as FH  # noqa: E402
from adapters.kis_sim.fields import order as FO  # noqa: E402
from adapters.kis_sim.fields import asking_price as FA  # noqa: E402
from adapters.kis_sim.fields import price as FP  # noqa: E402
from adapters.kis_sim.fields import psbl as FS  # noqa: E402
from adapters.kis_sim.fields import psbl_rvsecncl as FR  # noqa: E402
from adapters.kis_sim.fields import search_info as FI  # noqa: E402
from adapters.kis_sim.simulator import TEST_ACCOUNT, TEST_APPKEY, TEST_APPSECRET, SimulatorConfig  # noqa: E402
from adapters.kis_sim.simulator import SimulatorServer  # noqa: E402
from adapters.sim.account import SimAccount  # noqa: E402

REPO = os.environ.get("KIS_SAMPLE_REPO", "")
DRIVER = Path(__file__).resolve().parents[1] / "kis_sample_driver.py"
TICKER = "400000"

pytestmark = pytest.mark.skipif(
    not REPO or not Path(REPO).exists(),
    reason="the broker's sample client is not fetched: set KIS_SAMPLE_REPO to a clone of "
    "github.com/koreainvestment/open-trading-api (git dir or work tree)",
)


def export_sample(dest: Path) -> Path:
    """``examples_user`` of the sample repository, copied unchanged into ``dest``."""
    repo = Path(REPO)
    if (repo / "examples_user").is_dir():
        shutil.copytree(repo / "examples_user", dest / "examples_user")
    else:
        tar = subprocess.run(["git", f"--git-dir={repo}", "archive", "HEAD", "examples_user"],
                             check=True, capture_output=True).stdout
        with tarfile.open(fileobj=BytesIO(tar)) as t:
            t.extractall(dest, filter="data")
    return dest / "examples_user"


def crypto_stub(dest: Path) -> Path:
    """A stand-in ``Crypto`` package (only imported by the sample; raises if used)."""
    for sub, body in {"Crypto/__init__.py": "", "Crypto/Cipher/__init__.py": "",
                      "Crypto/Util/__init__.py": "",
                      "Crypto/Cipher/AES.py": "def new(*a, **k):\n    raise RuntimeError('Crypto stub')\n",
                      "Crypto/Util/Padding.py": "def unpad(*a, **k):\n    raise RuntimeError('Crypto stub')\n"
                      }.items():
        (dest / sub).parent.mkdir(parents=True, exist_ok=True)
        (dest / sub).write_text(body)
    return dest


def devlp_yaml(url: str) -> str:
    cano = TEST_ACCOUNT.split("-")[0]
    return "\n".join([
        f'my_app: "{TEST_APPKEY}"', f'my_sec: "{TEST_APPSECRET}"',
        f'paper_app: "{TEST_APPKEY}"', f'paper_sec: "{TEST_APPSECRET}"',
        'my_htsid: "simuser"',
        f'my_acct_stock: "{cano}"', f'my_acct_future: "{cano}"',
        f'my_paper_stock: "{cano}"', f'my_paper_future: "{cano}"',
        'my_prod: "01"',
        f'prod: "{url}"', 'ops: "ws://127.0.0.1:9"', f'vps: "{url}"', 'vops: "ws://127.0.0.1:9"',
        'my_token: ""', 'my_agent: "kis-simulator-conformance"', "",
    ])


@pytest.mark.parametrize(("env", "holdings"), [("demo", 45), ("real", 55)])
def test_the_brokers_sample_client_completes_a_session(tmp_path: Path, env: str, holdings: int) -> None:
    sample = export_sample(tmp_path)
    home = tmp_path / "home"
    (home / "KIS" / "config").mkdir(parents=True)
    acct = tmp_path / "acct.json"
    SimAccount.create(acct, many_holdings_account(acct, holdings))
    # the broker's limits as they are: 2 requests a second on paper, 20 on real; tokens once a minute
    config = SimulatorConfig(env="paper" if env == "demo" else "real")
    with SimulatorServer(acct, config) as srv:
        # the sample joins host and path as f"{my_url}{api_url}"; a trailing slash gives "//uapi/..."
        (home / "KIS" / "config" / "kis_devlp.yaml").write_text(devlp_yaml(srv.url + "/"))
        path = [str(sample)]
        if importlib.util.find_spec("Crypto") is None:
            path.append(str(crypto_stub(tmp_path / "stubs")))
        run = subprocess.run(
            [sys.executable, str(DRIVER), env, TICKER], cwd=sample / "domestic_stock", capture_output=True,
            text=True, timeout=300,
            env={**os.environ, "HOME": str(home), "PYTHONPATH": os.pathsep.join(path)},
        )
        calls = dict(srv.simulator.calls)
        limited = srv.simulator.rate_limited
    assert run.returncode == 0, run.stderr[-3000:]
    line = next(x for x in run.stdout.splitlines() if x.startswith("RESULT "))
    out = json.loads(line.removeprefix("RESULT "))
    page = 20 if env == "demo" else 50
    assert out["price"] == "10000" and out["price_columns"] == 82
    assert out["balance_rows"] == holdings and out["balance_pages"] == -(-holdings // page)  # 3 paper, 2 real
    assert out["buyable_qty"] == 50_000_000 // 10_000
    assert out["buy_odno"] and out["sell_odno"] and out["buy_odno"] != out["sell_odno"]
    assert {out["buy_odno"].zfill(10), out["sell_odno"].zfill(10)} - {o.zfill(10) for o in out["daily_orders"]} \
        == {out["sell_odno"].zfill(10)}  # the sell came after the daily order list
    assert out["holding_before"] == out["holding_after"] == 10
    assert out["balance_rows_after"] == holdings
    assert limited == 0, calls


def broker_list(tr: str) -> list[str]:
    """The field names of ``examples_llm/domestic_stock/<tr>/chk_<tr>.py``'s COLUMN_MAPPING."""
    rel = f"examples_llm/domestic_stock/{tr}/chk_{tr}.py"
    repo = Path(REPO)
    if (repo / rel).exists():
        src = (repo / rel).read_text(encoding="utf-8")
    else:
        src = subprocess.run(["git", f"--git-dir={repo}", "show", f"HEAD:{rel}"], check=True,
                             capture_output=True, text=True).stdout
    tree = ast.parse(src)
    node = next(n.value for n in tree.body if isinstance(n, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "COLUMN_MAPPING" for t in n.targets))
    return list(ast.literal_eval(node))


@pytest.mark.parametrize(("tr", "specs", "ours_only"), [
    ("inquire_price", [FP.OUTPUT], set()),
    ("inquire_asking_price_exp_ccn", [FA.OUTPUT1, FA.OUTPUT2], set()),
    ("inquire_balance", [FB.OUTPUT1, FB.OUTPUT2], set()),
    ("inquire_psbl_order", [FS.OUTPUT], set()),
    ("order_cash", [FO.ORDER_CASH_OUTPUT], set()),
    ("order_rvsecncl", [FO.RVSECNCL_OUTPUT], {"KRX_FWDG_ORD_ORGNO", "ODNO", "ORD_TMD"}),
    ("inquire_daily_ccld", [FC.OUTPUT1, FC.OUTPUT2], {"cncl_cfrm_qty"}),
    ("inquire_psbl_rvsecncl", [FR.OUTPUT], set()),
    ("search_info", [FI.OUTPUT], set()),
    ("chk_holiday", [FH.OUTPUT], set()),
], ids=lambda x: x if isinstance(x, str) else "")
def test_the_field_lists_are_the_brokers(tr: str, specs: list[dict[str, str]], ours_only: set[str]) -> None:
    theirs = broker_list(tr)
    ours = [k for spec in specs for k in spec if k not in ours_only]
    assert list(dict.fromkeys(ours)) == theirs  # same names, same order (output1 then output2)
