"""A child process for the cross-process limit tests: reads the balance of one simulated account
``N`` times through the KIS client (``shared``: the PostgreSQL limiter and token cache;
``local``: this process's own limiter, as before) and prints how many reads succeeded.

``python -m tests.workers.limits_child SIM_URL DB_URL MANIFEST N shared|local RATE``
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
from pydantic import SecretStr

from adapters.kis.broker import KisBroker
from adapters.kis.config import KisConfig
from adapters.kis.rate_limit import RateLimiter
from adapters.kis_sim.multi import load_tenants
from adapters.retry_policy import RetryPolicy


def main(sim_url: str, db_url: str, manifest: str, n: int, mode: str, rate: float) -> None:
    t = load_tenants(Path(manifest))[0]
    cfg = KisConfig(env="paper", appkey=SecretStr(t["appkey"]), appsecret=SecretStr(t["appsecret"]),
                    account=SecretStr(t["account"]), base_url=sim_url, requests_per_second=rate, rate_margin=0.15,
                    limits_db_url=db_url if mode == "shared" else None,
                    token_cache_path=Path(manifest).parent / f"token-{mode}.json",  # local: one machine's file
                    token_min_issue_interval_s=61, token_max_wait_s=0,
                    retry=RetryPolicy(attempts=1, initial_s=0.0, multiplier=1.0, max_s=0.0))
    limiter = None if mode == "shared" else RateLimiter(rate, 0.15)
    broker = KisBroker(cfg, httpx.Client(), limiter=limiter)
    ok = 0
    for _ in range(n):
        try:
            broker.balance()
            ok += 1
        except Exception as exc:  # noqa: BLE001 - counted, reported by class only
            print(f"error {type(exc).__name__}", flush=True)
    print(f"ok {ok}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], float(sys.argv[6]))
