"""The backtest chart as SVG, written by hand (no plotting dependency): the value over time
(the policy, buy-and-hold, the ideal daily rebalance) above the largest absolute drift (pp) with
the MP threshold line; rebalance dates are marked in both panels. A synthetic history says so in
the title."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from statemachine.backtest.models import BacktestResult

W, H = 900, 520
LEFT, RIGHT = 70, 20
TOP1, BOTTOM1 = 40, 290
TOP2, BOTTOM2 = 330, 480


def _path(xs: list[float], ys: list[float]) -> str:
    return "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))


def _scale(lo: float, hi: float, top: float, bottom: float) -> Callable[[float], float]:
    span = (hi - lo) or 1.0
    return lambda v: bottom - (v - lo) / span * (bottom - top)


def render_svg(result: BacktestResult, threshold_pp: float | None = None, title: str | None = None) -> str:
    days = result.days
    n = len(days)
    x_of = [LEFT + (i / max(1, n - 1)) * (W - LEFT - RIGHT) for i in range(n)]
    values = [float(d.value) for d in days]
    bh = _series(result, "buy_and_hold")
    ideal = _series(result, "ideal_daily")
    lo = min(values + bh + ideal)
    hi = max(values + bh + ideal)
    y1 = _scale(lo, hi, TOP1, BOTTOM1)
    drifts = [d.max_abs_drift_pp for d in days]
    dmax = max(drifts + [threshold_pp or 0.0, 1.0])
    y2 = _scale(0.0, dmax * 1.05, TOP2, BOTTOM2)
    label = title or f"Backtest {result.start} to {result.end}: policy {result.policy}, planner {result.planner}"
    if result.synthetic:
        label += " (SYNTHETIC DATA)"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
             f'font-family="sans-serif" font-size="11">',
             '<rect width="100%" height="100%" fill="white"/>',
             f'<text x="{LEFT}" y="20" font-size="14">{escape(label)}</text>']
    reb = [i for i, d in enumerate(days) if d.rebalanced]
    for i in reb:
        parts.append(f'<line class="rebalance" x1="{x_of[i]:.1f}" x2="{x_of[i]:.1f}" y1="{TOP1}" y2="{BOTTOM2}" '
                     f'stroke="#f0a000" stroke-opacity="0.35"/>')
    for top, bottom in ((TOP1, BOTTOM1), (TOP2, BOTTOM2)):
        parts.append(f'<rect x="{LEFT}" y="{top}" width="{W - LEFT - RIGHT}" height="{bottom - top}" '
                     f'fill="none" stroke="#888"/>')
    for v in (lo, (lo + hi) / 2, hi):
        parts.append(f'<text x="{LEFT - 4}" y="{y1(v) + 4:.1f}" text-anchor="end">{v / 1e6:,.1f}M</text>')
    for v in (0.0, dmax / 2, dmax):
        parts.append(f'<text x="{LEFT - 4}" y="{y2(v) + 4:.1f}" text-anchor="end">{v:.1f}pp</text>')
    parts.append(f'<path class="ideal" d="{_path(x_of, [y1(v) for v in ideal])}" fill="none" stroke="#999" '
                 f'stroke-dasharray="4 3"/>')
    parts.append(f'<path class="buy-and-hold" d="{_path(x_of, [y1(v) for v in bh])}" fill="none" stroke="#2a9d8f"/>')
    parts.append(f'<path class="value" d="{_path(x_of, [y1(v) for v in values])}" fill="none" stroke="#1d3557" '
                 f'stroke-width="1.5"/>')
    parts.append(f'<path class="drift" d="{_path(x_of, [y2(v) for v in drifts])}" fill="none" stroke="#e63946"/>')
    if threshold_pp:
        parts.append(f'<line class="threshold" x1="{LEFT}" x2="{W - RIGHT}" y1="{y2(threshold_pp):.1f}" '
                     f'y2="{y2(threshold_pp):.1f}" stroke="#e63946" stroke-dasharray="6 3"/>')
    parts.append(f'<text x="{LEFT + 6}" y="{TOP1 + 14}">value (KRW): policy (navy), buy-and-hold (green), '
                 f'ideal daily (grey); rebalances ({len(reb)}) in orange</text>')
    parts.append(f'<text x="{LEFT + 6}" y="{TOP2 + 14}">largest absolute drift (pp of T); MP threshold dashed</text>')
    parts.append(f'<text x="{LEFT}" y="{H - 15}">{days[0].date}</text>')
    parts.append(f'<text x="{W - RIGHT}" y="{H - 15}" text-anchor="end">{days[-1].date}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _series(result: BacktestResult, which: str) -> list[float]:
    """The comparison's daily values (kept on the result as ``values`` in its summary's block)."""
    series = result.series.get(which) if result.series else None
    return [float(v) for v in series] if series else [float(d.value) for d in result.days]
