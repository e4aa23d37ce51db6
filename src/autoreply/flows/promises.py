"""Checks that a flow can keep what it promises (pure; part of ``flow check``).

- **Follow-up needs a way to reach the lead.** A handoff step (unless ``follow_up: false``)
  and asking for a person both promise that a rep will get in touch. On every path that
  reaches one, the flow must have asked for an email address, a phone number or a contact
  (a slot of type ``email``, ``phone`` or ``contact``), or have checked ``reachable`` (a
  branch rule whose condition is exactly ``reachable``; it is true on LINE, for form
  submitters and for leads whose address or number is known).
- **A held slot is confirmed.** A tapped slot is only held; every path on from the pick must
  reach a handoff step with ``confirm_booking: true`` before the conversation ends, or the
  hold lapses and the lead, told nothing, has no meeting.

The walk follows every step the engine could go to next, with one bit of state: whether a
way to reach the lead is known by then.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from autoreply.flows.spec import (
    CONTACT_SLOT_TYPES,
    AskStep,
    BranchRule,
    BranchStep,
    EndStep,
    FlowSpec,
    HandoffStep,
    OfferSlotsStep,
)

__all__ = ["REACHABLE_CONDITION", "check_promises"]

Path_ = tuple[str | int, ...]
Fail = Callable[[Path_, str], None]
#: The branch condition that counts as knowing how to reach the lead.
REACHABLE_CONDITION = "reachable"


def check_promises(
    spec: FlowSpec,
    successor: Mapping[str, str | None],
    targets: Callable[[str], Sequence[str]],
    fail: Fail,
) -> None:
    """Report every promise the flow could make but not keep (see the module docstring)."""
    walk = _Walk(spec, successor, targets)
    starts = [spec.start or next(iter(spec.steps))]
    starts.extend(g for g in (getattr(spec.intents, i).goto for i in ("human", "restart")) if g)
    for step_id in walk.reach(starts):
        fail(
            ("steps", step_id, "handoff"),
            f"handoff {step_id!r} promises a follow-up, but a path reaches it without asking "
            "for an email address or phone number (a slot of type email, phone or contact) "
            f"or checking '{REACHABLE_CONDITION}'; ask first, or set follow_up: false",
        )
    human = spec.intents.human
    if human.follow_up and human.goto is None:
        fail(
            ("intents", "human"),
            "asking for a person promises a follow-up: add 'goto' to a step that checks "
            f"'{REACHABLE_CONDITION}' or asks for a way to reach the lead",
        )
    elif human.follow_up and human.goto and not walk.ends_knowing(human.goto):
        fail(
            ("intents", "human", "goto"),
            f"after asking for a person, a path from {human.goto!r} ends without asking for "
            f"an email address or phone number or checking '{REACHABLE_CONDITION}'",
        )
    for step_id, step in spec.steps.items():
        if isinstance(step, OfferSlotsStep):
            picked = step.next or successor.get(step_id)
            if picked is not None and not walk.confirms(picked):
                fail(
                    ("steps", step_id, "offer_slots"),
                    "a picked slot is only held: every path on from the pick must reach a "
                    "handoff step with confirm_booking: true before the conversation ends",
                )


class _Walk:
    def __init__(
        self,
        spec: FlowSpec,
        successor: Mapping[str, str | None],
        targets: Callable[[str], Sequence[str]],
    ) -> None:
        self.spec = spec
        self.successor = successor
        self.targets = targets

    def _next(self, step_id: str, known: bool) -> list[tuple[str, bool]]:
        """Where the engine may go after this step, and whether contact is known there."""
        step = self.spec.steps[step_id]
        if isinstance(step, AskStep):
            slot = self.spec.slots.get(step.ask)
            known = known or (slot is not None and slot.type in CONTACT_SLOT_TYPES)
        if isinstance(step, BranchStep):
            found: list[tuple[str, bool]] = []
            for rule in step.branch:
                if isinstance(rule, BranchRule):
                    found.append((rule.goto, known or rule.if_.strip() == REACHABLE_CONDITION))
                else:
                    found.append((rule.else_, known))
            return [(t, k) for t, k in found if t in self.spec.steps]
        following = [*self.targets(step_id)]
        nxt = self.successor.get(step_id)
        if nxt is not None and nxt not in following:
            following.append(nxt)
        found = [(t, known) for t in following if t in self.spec.steps]
        if isinstance(step, OfferSlotsStep) and step.on_booked in self.spec.steps:
            # A lead with a meeting booked can be reached: confirming it needed a way.
            found = [(t, k or t == step.on_booked) for t, k in found]
        return found

    def reach(self, starts: Sequence[str]) -> list[str]:
        """Handoff steps promising a follow-up that some path from ``starts`` reaches with
        no way to reach the lead known."""
        bad: set[str] = set()
        seen: set[tuple[str, bool]] = set()
        todo = [(start, False) for start in starts]
        while todo:
            node = todo.pop()
            if node in seen or node[0] not in self.spec.steps:
                continue
            seen.add(node)
            step_id, known = node
            step = self.spec.steps[step_id]
            if isinstance(step, HandoffStep) and step.follow_up and not known:
                bad.add(step_id)
            todo.extend(self._next(step_id, known))
        return sorted(bad, key=list(self.spec.steps).index)

    def ends_knowing(self, start: str) -> bool:
        """Whether every path from ``start`` learns a way to reach the lead before it ends."""
        return self._every_path(
            start,
            done=lambda step: False,
            onward=lambda step_id: [t for t, known in self._next(step_id, False) if not known],
        )

    def confirms(self, start: str) -> bool:
        """Whether every path from ``start`` confirms the held slot before it ends."""
        return self._every_path(
            start,
            done=lambda step: isinstance(step, HandoffStep) and step.confirm_booking,
            onward=lambda step_id: [t for t, _ in self._next(step_id, False)],
        )

    def _every_path(
        self,
        start: str,
        *,
        done: Callable[[Any], bool],
        onward: Callable[[str], list[str]],
    ) -> bool:
        """Whether every path from ``start`` (following ``onward``) reaches a step that is
        ``done`` before an end step."""
        seen: set[str] = set()
        todo = [start]
        while todo:
            step_id = todo.pop()
            if step_id in seen or step_id not in self.spec.steps:
                continue
            seen.add(step_id)
            step = self.spec.steps[step_id]
            if done(step):
                continue
            if isinstance(step, EndStep):
                return False
            todo.extend(onward(step_id))
        return True
