"""Reachability in a flow: from a step, with some slots known, can a turn reach a meeting
offer before a question that waits for the lead? (So the service loads reps and bookings
only for turns that may need them.) Pure; memoised per engine."""

from __future__ import annotations

from typing import Any

from autoreply.flows.loader import Flow
from autoreply.flows.spec import AskStep, BranchElse, BranchStep, EndStep, GotoStep, OfferSlotsStep

__all__ = ["OfferReach"]


class OfferReach:
    """Answers ``reaches(step_id, known)`` for one compiled flow, remembering each answer
    (flows do not change after loading)."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self._memo: dict[tuple[str, frozenset[str]], bool] = {}

    def reaches(self, step_id: str, known: frozenset[str]) -> bool:
        """Whether running from ``step_id`` with the ``known`` slots filled may reach a slot
        offer before a question that waits (memoised: flows do not change after loading)."""
        key = (step_id, known)
        if key not in self._memo:
            seen: set[str] = set()
            todo = [step_id]
            found = False
            while todo and not found:
                current = todo.pop()
                if current in seen or current not in self.flow.spec.steps:
                    continue
                seen.add(current)
                step = self.flow.step(current)
                if isinstance(step, OfferSlotsStep):
                    found = True
                elif not isinstance(step, AskStep) or (step.skip_if_known and step.ask in known):
                    todo.extend(self._next_steps(current, step))
            self._memo[key] = found
        return self._memo[key]

    def _next_steps(self, step_id: str, step: Any) -> list[str]:
        targets = [
            getattr(step, name, None)
            for name in ("next", "goto", "on_fail", "on_decline", "on_booked")
        ]
        if isinstance(step, BranchStep):
            targets += [r.else_ if isinstance(r, BranchElse) else r.goto for r in step.branch]
        if not isinstance(step, GotoStep | BranchStep | EndStep):
            targets.append(self.flow.successor.get(step_id))
        return [t for t in targets if isinstance(t, str)]
