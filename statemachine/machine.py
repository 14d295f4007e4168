"""The run's state machine, built with ``transitions`` from the one table in :mod:`states`.

The machine only answers "is this edge allowed, and where does it lead"; the database holds the
truth. ``auto_transitions=False`` so no ``to_<state>()`` backdoor exists: operator moves go
through :func:`force_edge`, which reads the table's operator edges.
"""

from __future__ import annotations

from transitions import Machine, MachineError

from .errors import TransitionError
from .states import ABORT_TARGET, TRANSITIONS, RunState, Transition, forced_targets, operator_edges


class _Model:
    state: str


def _build(model: object, initial: RunState, *, graph: bool = False, include_operator: bool = True) -> Machine:
    edges = [t for t in TRANSITIONS if include_operator or t.kind != "operator"]
    states = [s.value for s in RunState]
    transitions = [{"trigger": t.trigger, "source": t.source.value, "dest": t.dest.value} for t in edges]
    if graph:
        from transitions.extensions import GraphMachine

        return GraphMachine(model=model, states=states, transitions=transitions, initial=initial.value,
                            auto_transitions=False, ignore_invalid_triggers=False, graph_engine="mermaid",
                            title="Rebalancing run")
    return Machine(model=model, states=states, transitions=transitions, initial=initial.value,
                   auto_transitions=False, ignore_invalid_triggers=False)


class RunMachine:
    """A throw-away machine positioned at a stored state."""

    def __init__(self, state: RunState | str) -> None:
        self.model = _Model()
        self.machine = _build(self.model, RunState(state))

    @property
    def state(self) -> RunState:
        return RunState(self.model.state)

    def fire(self, trigger: str) -> RunState:
        """Fire an engine or loop-back trigger; raises TransitionError if the table forbids it."""
        if any(t.trigger == trigger and t.kind == "operator" for t in TRANSITIONS):
            raise TransitionError(f"'{trigger}' is an operator edge; use force", trigger=trigger)
        if any(t.trigger == trigger and t.kind == "recovery" for t in TRANSITIONS):
            raise TransitionError(f"'{trigger}' is a recovery edge; use retry --buy-side", trigger=trigger)
        try:
            self.model.trigger(trigger)  # type: ignore[attr-defined]
        except (MachineError, AttributeError) as exc:
            raise TransitionError(f"'{trigger}' is not allowed from {self.state}", trigger=trigger,
                                  state=self.state.value) from exc
        return self.state

    def triggers(self) -> list[str]:
        return list(self.machine.get_triggers(self.state.value))


def force_edge(source: RunState | str, target: str) -> Transition | None:
    """The operator edge from ``source`` to ``target`` (None for ABORTED); raises if not allowed."""
    target = target.upper()
    if target == ABORT_TARGET:
        return None
    for t in operator_edges(source):
        if t.dest.value == target:
            return t
    allowed = ", ".join(forced_targets(source))
    raise TransitionError(f"cannot force a run from {source} to {target}; allowed: {allowed}",
                          source=str(source), target=target, allowed=forced_targets(source))


def mermaid(current: RunState | str | None = None, visited: tuple[str, ...] | list[str] = ()) -> str:
    """A mermaid state diagram of the whole table; ``current`` is highlighted, ``visited`` states
    (where a run has been) are marked as previous."""
    model = _Model()
    _build(model, RunState.CREATED, graph=True)
    text: str = model.get_graph().draw(None)  # type: ignore[attr-defined]
    lines = text.splitlines()
    out = []
    kinds = {(t.source.value, t.dest.value, t.trigger): t.kind for t in TRANSITIONS}
    for line in lines:
        stripped = line.strip()
        if "-->" in stripped and ":" in stripped and not stripped.startswith("[*]"):
            left, trig = line.split(":", 1)
            src, dst = (p.strip() for p in left.split("-->"))
            labels = []
            for name in (p.strip() for p in trig.split("|")):
                kind = kinds.get((src, dst, name))
                suffix = {"loopback": " (loop-back)", "operator": " (operator)",
                          "recovery": " (recovery)"}.get(kind or "", "")
                labels.append(f"{name}{suffix}")
            line = f"{left}: {' | '.join(labels)}"
        if stripped.startswith("Class "):
            name = stripped.split()[1]
            style = ("s_active" if current and name == str(current)
                     else "s_previous" if name in visited else "s_default")
            line = f"  Class {name} {style}"
        out.append(line)
    return "\n".join(out)
