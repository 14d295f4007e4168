"""Rich rendering of runs, timelines, drift and history for people (``--json`` skips all this)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
    t = Table(title=tr("render.drift_mp", title=title, mp=th["mp"], total=f"{drift['total']:,}"))
    for c in ("class", "target_pct", "actual_pct", "drift_pp", ""):
        t.add_column(tr(f"col.{c}") if c else "", justify="right" if c not in ("class", "") else "left")
    for c in drift["classes"]:
        t.add_row(c["asset_class"], f"{c['target_pct']:.2f}", f"{c['actual_pct']:.2f}", f"{pct(c['drift'], 2):+.2f}",
                  f"[red]{tr('render.exceeded')}[/]" if c["exceeded"] else "")
    console.print(t)
    t = Table(title=tr("render.drift_sub", title=title, sub=th["sub_mp"]))
    for c in ("ticker", "name", "class", "qty", "price", "value", "target_value", "in_class_pct", "target_pct",
              "drift_pp", ""):
        t.add_column(tr(f"col.{c}") if c else "", justify="left" if c in ("ticker", "name", "class", "") else "right")
    for r in drift["tickers"]:
        t.add_row(r["ticker"], r["name"][:22], r["asset_class"], f"{r['quantity']:,}", f"{r['price']:,}",
                  f"{r['value']:,}", f"{r['target_value']:,}", f"{r['actual_weight']:.2f}",
                  f"{r['target_weight']:.2f}", f"{pct(r['drift'], 2):+.2f}",
                  f"[red]{tr('render.exceeded')}[/]" if r["exceeded"] else "")
    console.print(t)


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
        t.add_column(c if c == "#" else tr(f"col.{c}"))
    day0 = view["transitions"][0]["at"][:10] if view["transitions"] else ""
    for r in view["transitions"]:
        took = f"{r['duration_ms'] / 1000:.2f}s" if r["duration_ms"] is not None else ""
        move = r["to"] if r["from"] in ("-", r["to"]) else f"{r['from']} → {r['to']}"
        when = _t(r["at"], r["at"][:10] != day0)  # operators may act days later: then the date too
        t.add_row(str(r["seq"]), when, took, f"{r['trigger']}: {move}", _status(r["status"]), r["actor"],
                  (r["reason"] or "")[:160])
    console.print(t)
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
        t = Table(title=tr("render.orders"))
        for c in ("side", "ticker", "qty", "filled", "avg_price", "amount", "fees", "status", "order_no", "note"):
            t.add_column(tr(f"col.{c}"))
        for o in view["orders"]:
            t.add_row(o["side"], o["ticker"], f"{o['quantity']:,}", f"{o['filled_quantity']:,}",
                      f"{o['avg_price']:,.1f}", f"{o['amount']:,}", f"{o['fees']:,}", o["status"], o["odno"] or "",
                      (o["message"] or "")[:40])
        console.print(t)
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
    return text if len(text) <= n else text[: n - 1] + "…"


def runs_table(console: Console, runs: list[dict[str, Any]], now: datetime, title: str = "Runs") -> None:
    t = Table(title=title)
    for c in ("id", "account", "state", "status", "phase", "age", "lease_holder", "error"):
        t.add_column(tr(f"col.{c}"))
    for r in runs:
        age = now - datetime.fromisoformat(r["created_at"])
        lease = r.get("lease") or {}
        holder = r.get("lease_owner") or ""
        if lease.get("state") == "stale":
            holder = f"[red]{tr('render.stale')}[/] {holder}"
        t.add_row(r["id"], r["account"], r["state"], _status(r["status"]), str(r["max_phase"]),
                  str(age).split(".")[0], holder, (r.get("error") or "")[:50])
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
    t = Table(title=tr("render.history"))
    for c in ("executed_utc", "run", "status", "thresholds", "drift_before", "drift_after", "trades", "cost",
              "llm_tokens", "llm_usd"):
        t.add_column(tr(f"col.{c}"))
    for h in rows:
        b = (h.get("drift_before") or {}).get("total_abs_drift")
        a = (h.get("drift_after") or {}).get("total_abs_drift")
        llm = h.get("llm_cost") or {}
        t.add_row(h["executed_at"][:19], h["run_id"], _status(h["status"]),
                  f"{h['mp_threshold_percent']}/{h['sub_mp_threshold_percent']}",
                  "-" if b is None else f"{b:.2f}pp", "-" if a is None else f"{a:.2f}pp", str(len(h["trades"])),
                  f"{h['total_cost']:,}", f"{llm.get('total_tokens', 0):,}", usd(llm.get("usd_micros", 0)))
    console.print(t)
    for h in rows:
        if h.get("recovery"):
            console.print(tr("render.history_recovery", run=h["run_id"], line=recovery_line(h["recovery"])))
    for m in months or []:
        console.print(tr("render.llm_month", month=m["month"], runs=m["runs"], text=llm_line(m)))
