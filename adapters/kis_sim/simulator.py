"""A KIS Open API simulator: the broker's REST protocol in front of :class:`SimAccount`.

The ASGI app (:class:`KisSimulator`, request parsing by Starlette) speaks what ``docs/kis.md``
describes: paths, request headers (app key, secret, ``Bearer`` token, ``tr_id``, ``tr_cont``),
real and paper TR ids (current and legacy), string-typed fields, pagination (balance 50 rows real
/ 20 paper, daily-ccld 100 / 15), the ``rt_cd``/``msg_cd``/``msg1`` envelope, the token endpoint
with its 403 shapes, revoke and hashkey. Response headers go out as the broker sends them.

It is split by idea; this module is its front door (the names other code imports) and its
command line, ``python -m adapters.kis_sim.simulator ACCOUNT [PORT]``:

* :mod:`~adapters.kis_sim.config` - :class:`SimulatorConfig` and the fake test credentials;
* :mod:`~adapters.kis_sim.gateway` - paths and TR ids, credential / token / rate-limit checks;
* :mod:`~adapters.kis_sim.oauth` - token issue and revoke, hashkey, the token store;
* ``tr_*`` - one module per TR family (balance, psbl, ccld, order, cancel, price, search_info,
  psbl_rvsecncl, holiday);
* :mod:`~adapters.kis_sim.fields` - the broker's published reply field lists, one module per TR family;
* :mod:`~adapters.kis_sim.faults` - injected and configured faults;
* :mod:`~adapters.kis_sim.wire` - writing replies with the broker's header casing;
* :mod:`~adapters.kis_sim.replies` - reply bodies;
* :mod:`~adapters.kis_sim.server` - the ASGI app, :class:`SimulatorServer`, :func:`serve_simulator`.
"""

from __future__ import annotations

from adapters.kis_sim.config import TEST_ACCOUNT, TEST_APPKEY, TEST_APPSECRET, SimulatorConfig
from adapters.kis_sim.faults import Fault
from adapters.kis_sim.gateway import (
    BALANCE,
    CCLD,
    HOLIDAY,
    ORDER,
    PRICE,
    PSBL,
    PSBL_RVSECNCL,
    REAL_ONLY,
    RVSE,
    SEARCH_INFO,
    SELL_TRS,
    TRS,
)
from adapters.kis_sim.server import KisSimulator, SimulatorServer, main, serve_simulator

__all__ = [
    "BALANCE",
    "CCLD",
    "HOLIDAY",
    "ORDER",
    "PRICE",
    "PSBL",
    "PSBL_RVSECNCL",
    "REAL_ONLY",
    "RVSE",
    "SEARCH_INFO",
    "SELL_TRS",
    "TEST_ACCOUNT",
    "TEST_APPKEY",
    "TEST_APPSECRET",
    "TRS",
    "Fault",
    "KisSimulator",
    "SimulatorConfig",
    "SimulatorServer",
    "main",
    "serve_simulator",
]


if __name__ == "__main__":  # pragma: no cover
    import sys

    main(
        sys.argv[1] if len(sys.argv) > 1 else "sim_account.json", int(sys.argv[2]) if len(sys.argv) > 2 else 0
    )
