"""Rich rendering of runs, timelines, drift and history for people (``--json`` skips all this)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.box import HEAVY_HEAD, SIMPLE_HEAD, Box
from rich.console import Console
from rich.table import Table

from adapters.cli.messages import lang, status_words, tr
from statemachine.units import pct

STATUS_STYLE = {"SUCCEEDED": "green", "NOT_NEEDED": "green", "STOPPED": "cyan", "RUNNING": "yellow",
                "BLOCKED": "magenta", "PARTIAL": "yellow", "FAILED": "red", "ABORTED": "red"}


def _status(s: str | None) -> str:
    if not s:
        return ""
    return f"[{STATUS_STYLE.get(s, 'white')}]{s}[/]"


def _t(iso: str | None, with_date: bool = False) -> str:
    fmt = "%Y-%m-%d %H:%M:%S.%f" if with_date else "%H:%M:%S.%f"
    return datetime.fromisoformat(iso).strftime(fmt)[:-3] if iso else ""


def cols(*ids: str) -> list[str]:
    """Column headers in the chosen language ("" for an unnamed column)."""
    return [tr(f"col.{c}") if c else "" for c in ids]


def usd(micros: int | None) -> str:
    """An estimate in millionths of a USD, for reading: ``$0.0123``."""
    return "-" if micros is None else f"${micros / 1_000_000:,.4f}"


def llm_line(cost: dict[str, Any] | None) -> str:
    """A run's (or a month's) LLM tokens and estimated price in one phrase."""
    if not cost or not cost.get("llm_attempts"):
        return tr("llm.none")
    unpriced = tr("llm.unpriced", count=cost["unpriced_attempts"]) if cost.get("unpriced_attempts") else ""
    return tr("llm.some", attempts=cost["llm_attempts"], total=f"{cost['total_tokens']:,}",
              input=f"{cost['prompt_tokens']:,}", output=f"{cost['output_tokens']:,}", usd=usd(cost["usd_micros"]),
              unpriced=unpriced, models=", ".join(cost.get("models") or []))


def drift_tables(console: Console, drift: dict[str, Any] | None, title: str) -> None:
    if not drift:
        return
    th = drift["thresholds"]
    exceeded = f"[red]{tr('render.exceeded')}[/]"
    rows = [[c["asset_class"], f"{c['target_pct']:.2f}", f"{c['actual_pct']:.2f}", f"{pct(c['drift'], 2):+.2f}",
             exceeded if c["exceeded"] else ""] for c in drift["classes"]]
    console.print(table(tr("render.drift_mp", title=title, mp=th["mp"], total=f"{drift['total']:,}"),
                        cols("class", "target_pct", "actual_pct", "drift_pp", ""), rows, numeric=range(1, 4),
                        keys={0: 12, 4: 8}))
    rows = [[r["ticker"], _clip(r["name"], 22), r["asset_class"], f"{r['quantity']:,}", krw(r["price"]),
             krw(r["value"]), krw(r["target_value"]), f"{r['actual_weight']:.2f}",
             f"{r['target_weight']:.2f}", f"{pct(r['drift'], 2):+.2f}", exceeded if r["exceeded"] else ""]
            for r in drift["tickers"]]
    console.print(table(tr("render.drift_sub", title=title, sub=th["sub_mp"]),
                        cols("ticker", "name", "class", "qty", "price", "value", "target_value", "in_class_pct",
                             "target_pct", "drift_pp", ""), rows, numeric=range(3, 10), keys={0: 6, 10: 8}))


def show_run(console: Console, view: dict[str, Any]) -> None:
    run = view["run"]
    console.print(tr("render.run_head", id=run["id"], account=run["account"], state=run["state"],
                     status=_status(run["status"]), max_phase=run["max_phase"], planner=run["planner"],
                     mp=run["thresholds"]["mp"], sub=run["thresholds"]["sub_mp"]))
    if run.get("error"):
        console.print(tr("render.error", message=run["error"]))
    if run.get("blocked_reason"):
        console.print(tr("render.blocked", reason=run["blocked_reason"]))
    if "llm_cost" in view:
        console.print(tr("render.llm", text=llm_line(view["llm_cost"])))
    t = Table(title=tr("render.timeline"))
    for c in ("#", "time_utc", "took", "transition", "status", "actor", "what_happened"):
        t.add_column(c if c == "#" else tr(f"col.{c}"), justify="right" if c in ("#", "took") else "left")
    day0 = view["transitions"][0]["at"][:10] if view["transitions"] else ""
    for r in view["transitions"]:
        took = f"{r['duration_ms'] / 1000:.2f}s" if r["duration_ms"] is not None else ""
        move = r["to"] if r["from"] in ("-", r["to"]) else f"{r['from']} → {r['to']}"
        when = _t(r["at"], r["at"][:10] != day0)  # operators may act days later: then the date too
        t.add_row(str(r["seq"]), when, took, f"{r['trigger']}: {move}", _status(r["status"]), r["actor"],
                  _clip(r["reason"] or "", 160))
    console.print(t)
    for i in view.get("interruptions") or []:  # the gap a step's duration does not include
        console.print(tr("render.interruption", seq=i["after_seq"], message=i["message"]), soft_wrap=True)
    drift_tables(console, view.get("drift_before"), tr("render.before"))
    for p in view["plans"]:
        verdict = tr("render.passed") if p["passed"] else (tr("render.failed") if p["passed"] is False
                                                             else tr("render.unchecked"))
        cost = (p.get("meta") or {}).get("cost")
        tokens = (tr("render.tokens", tokens=f"{cost['total_tokens']:,}", usd=usd(cost.get("usd_micros")))
                  if isinstance(cost, dict) else "")
        console.print(tr("render.plan", side=tr(f"side.{p['side']}"), attempt=p["attempt"], planner=p["planner"],
                         verdict=verdict, tokens=tokens)
                      + (tr("render.planner_error", error=p["error"]) if p["error"] else ""))
        for o in p["orders"]:
            console.print(f"   {tr('side.' + p['side'])} {o['quantity']:>6,} x {o['ticker']} {o['name'][:24]}  "
                          f"— {o['reason']}")
        for c in p["checks"]:
            mark = "[green]✓[/]" if c["passed"] else "[red]✗[/]"
            console.print(f"   {mark} {c['rule']} {c['ticker'] or ''} {c['message']}")
    if view["orders"]:
        rows = [[o["side"], o["ticker"], f"{o['quantity']:,}", f"{o['filled_quantity']:,}",
                 krw(o["avg_price"]) if o["filled_quantity"] else "", krw(o["amount"]), krw(o["fees"]), o["status"],
                 o["odno"] or "", _clip(o["message"] or "", 40)] for o in view["orders"]]
        console.print(table(tr("render.orders"), cols("side", "ticker", "qty", "filled", "avg_price", "amount", "fees",
                                                         "status", "order_no", "note"),
                            rows, numeric=range(2, 7)))
    for side in ("sell_fills", "buy_fills"):
        f = view.get(side)
        if f and f.get("projected"):
            console.print(tr("render.projected", side=tr(f"side.{side.split('_')[0]}")))
            for r in f["fills"]:
                console.print(f"   {r['side']} {r['filled']:,} x {r['ticker']} ≈ {r['amount']:,} KRW")
    drift_tables(console, view.get("drift_after") if view.get("orders") else None, tr("render.after"))
    h = view.get("history")
    if h:
        b = (h.get("drift_before") or {}).get("total_abs_drift")
        a = (h.get("drift_after") or {}).get("total_abs_drift")
        console.print(tr("render.result", status=_status(h["status"]), trades=len(h["trades"]),
                         cost=f"{h['total_cost']:,}", before="-" if b is None else f"{b:.2f}pp",
                         after="-" if a is None else f"{a:.2f}pp"))
        if h.get("recovery"):
            console.print(tr("render.recovery", line=recovery_line(h["recovery"])))


def recovery_line(rec: dict[str, Any]) -> str:
    """The first outcome and each buy-side recovery attempt of a history row, on one line."""
    first = rec.get("first_total_abs_drift_after")
    tries = "; ".join(f"#{i} {a['at'][:19]} by {a['actor']} ({a.get('reason') or ''}): "
                      f"{a.get('outcome') or tr('render.running')}"
                      for i, a in enumerate(rec.get("attempts") or [], 1))
    return tr("render.recovery_line", status=rec["first_status"],
              drift="" if first is None else tr("render.recovery_drift", drift=f"{first:.2f}"),
              error=": " + _clip(rec["first_error"], 160) if rec.get("first_error") else "", tries=tries)


def _clip(text: str, n: int) -> str:
    """At most ``n`` characters, cut at a word boundary with an ellipsis (never in the middle of a number)."""
    if len(text) <= n:
        return text
    cut = text[: n - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > n // 2 else cut).rstrip(" ,;:") + "…"


def krw(n: float | int | None) -> str:
    """A KRW amount or price for reading: an integer with thousands separators (``14,000``)."""
    return "" if n is None else f"{round(n):,}"


def table(title: str, columns: list[str], rows: list[list[str]], numeric: range | tuple[int, ...] = (),
          keys: dict[int, int] | None = None, box: Box = HEAVY_HEAD) -> Table:
    """A table with its numeric columns right-aligned and the columns empty in every row left out
    (a blank-headed flag column such as "exceeded" when nothing exceeded); ``keys``: columns that never
    wrap or shrink below the given width (ids, times)."""
    keep = [i for i, c in enumerate(columns) if any(r[i] for r in rows) or (c and not rows)]
    keys = dict(keys or {})
    for i in numeric:  # a number is never cut: the text columns (names, reasons) wrap first
        keys.setdefault(i, max((len(r[i]) for r in rows), default=0) or 1)
    t = Table(title=title, box=box)
    for i in keep:
        t.add_column(columns[i], justify="right" if i in numeric else "left", no_wrap=i in keys,
                     min_width=keys.get(i), overflow="fold" if i in numeric else "ellipsis")
    for r in rows:
        t.add_row(*[r[i] for i in keep])
    return t


def runs_table(console: Console, runs: list[dict[str, Any]], now: datetime, title: str = "Runs") -> None:
    t = Table(title=title)
    for c in ("id", "account", "state", "status", "phase", "age", "lease_holder", "error"):
        t.add_column(tr(f"col.{c}"), justify="right" if c in ("phase", "age") else "left", no_wrap=c == "id",
                     min_width=22 if c == "id" else None)
    for r in runs:
        age = now - datetime.fromisoformat(r["created_at"])
        lease = r.get("lease") or {}
        holder = r.get("lease_owner") or ""
        if lease.get("state") == "stale":
            holder = f"[red]{tr('render.stale')}[/] {holder}"
        t.add_row(r["id"], r["account"], r["state"], _status(r["status"]), str(r["max_phase"]),
                  str(age).split(".")[0], holder, _clip(r.get("error") or "", 50))
    console.print(t)
    if lang() != "en":  # status names are identifiers: in Korean, what the ones shown mean
        for s in dict.fromkeys(r["status"] for r in runs):
            console.print(f"  {_status(s)}: {status_words(s)}")
    for r in runs:  # the whole sentence, below the table: what happened to the holder, what to do
        lease = r.get("lease") or {}
        if lease.get("state") in ("stale", "free") and lease.get("message"):
            console.print(f"[red]{r['id']}:[/] {lease['message']}", soft_wrap=True)


def history_table(console: Console, rows: list[dict[str, Any]],
                  months: list[dict[str, Any]] | None = None) -> None:
    rows_ = []
    for h in rows:
        b = (h.get("drift_before") or {}).get("total_abs_drift")
        a = (h.get("drift_after") or {}).get("total_abs_drift")
        llm = h.get("llm_cost") or {}
        used = bool(llm.get("llm_attempts"))  # no LLM call: the LLM cells stay empty (the columns go)
        rows_.append([h["executed_at"][:16].replace("T", " "), h["run_id"], _status(h["status"]),
                      f"{h['mp_threshold_percent']}/{h['sub_mp_threshold_percent']}",
                      "-" if b is None else f"{b:.2f}pp", "-" if a is None else f"{a:.2f}pp", str(len(h["trades"])),
                      f"{h['total_cost']:,}", f"{llm.get('total_tokens', 0):,}" if used else "",
                      usd(llm.get("usd_micros", 0)) if used else ""])
    # the keys (when, which run, how it ended) never shrink: the figures wrap first
    t = table(tr("render.history"), cols("executed_utc", "run", "status", "thresholds", "drift_before",
                                                "drift_after", "trades", "cost", "llm_tokens", "llm_usd"),
              rows_, numeric=range(3, 10), keys={0: 16, 1: 22, 2: 10}, box=SIMPLE_HEAD)
    console.print(t)
    for h in rows:
        if h.get("recovery"):
            console.print(tr("render.history_recovery", run=h["run_id"], line=recovery_line(h["recovery"])))
    for m in months or []:
        console.print(tr("render.llm_month", month=m["month"], runs=m["runs"], text=llm_line(m)))
