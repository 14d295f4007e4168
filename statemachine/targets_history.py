"""The history of strategy decisions, each with what changed against the decision before it.

Needs: decisions newest first (the store's order) and the one before the oldest of them, if any.
Gives: per decision, the list of changes ``{"field", "before", "after"}`` where ``field`` is
``mp.<class>``, ``sub_mp.<class>.<ticker>`` or ``mp_id`` and a value absent on one side is None.
The first decision ever lists every value as added.
"""

from __future__ import annotations

from typing import Any

from .models import Targets
from .records import StrategyDecision


def _flat(t: Targets | None) -> dict[str, Any]:
    if t is None:
        return {}
    out: dict[str, Any] = {"mp_id": t.mp_id}
    out.update({f"mp.{c}": v for c, v in t.mp.items()})
    for c, weights in t.sub_mp.items():
        out.update({f"sub_mp.{c}.{tk}": w for tk, w in weights.items()})
    return out


def targets_changes(before: Targets | None, after: Targets) -> list[dict[str, Any]]:
    """What ``after`` changed against ``before`` (None: nothing before), MP first, in field order."""
    a, b = _flat(before), _flat(after)
    keys = list(b) + [k for k in a if k not in b]
    return [{"field": k, "before": a.get(k), "after": b.get(k)} for k in keys if a.get(k) != b.get(k)]


def with_changes(decisions: list[StrategyDecision], previous: StrategyDecision | None) -> list[
        tuple[StrategyDecision, list[dict[str, Any]]]]:
    """``decisions`` (newest first) each paired with its changes; ``previous`` is the decision just
    older than the last of them (None when the last is the first ever)."""
    if not decisions:
        return []
    older = [*decisions[1:], previous]
    return [(d, targets_changes(p.targets if p else None, d.targets)) for d, p in zip(decisions, older, strict=True)]
