"""What a conversation has told us about the lead, read off a flow's state: the challenge
in their words, the timing, the score and tier (pure)."""

from __future__ import annotations

from collections.abc import Mapping

from autoreply.domain.scoring import Score, Signals, score_lead
from autoreply.domain.timing import Timing
from autoreply.flows.loader import Flow
from autoreply.flows.spec import SlotType
from autoreply.flows.turns import Context, State

__all__ = ["LEAD_SLOT_TYPES", "challenge_of", "lead_score", "timing_of"]

LEAD_SLOT_TYPES = {
    SlotType.NAME: "name",
    SlotType.COMPANY: "company",
    SlotType.EMAIL: "email",
    SlotType.PHONE: "phone",
}


def lead_score(flow: Flow, state: State, ctx: Context) -> Score:
    """The lead's score and tier from what this conversation and the context know."""
    timing = timing_of(flow, state)
    challenge = bool(state.topics) or any(
        state.slots.get(name) for name, spec in flow.spec.slots.items() if spec.topics
    )
    return score_lead(
        Signals(
            timing_bucket=str(timing.bucket) if timing else None,
            challenge=challenge,
            topics=len(state.topics),
            booked=state.booking is not None,
            asked_for_human=state.handoff == "asked_for_human",
            requested_document=ctx.requested_document,
            pricing_views=ctx.pricing_views,
            cases_opened=ctx.cases_opened,
            opted_out=state.status == "opted_out" or bool(ctx.lead.get("opted_out")),
            flow_points=state.points,
        )
    )


def challenge_of(flow: Flow, state: State) -> str | None:
    """The lead's challenge in their own words (the first topics slot filled), if any."""
    return next(
        (
            str(state.slots[n])
            for n, s in flow.spec.slots.items()
            if s.topics and state.slots.get(n)
        ),
        None,
    )


def timing_of(flow: Flow, state: State) -> Timing | None:
    """The lead's timing (the first timing slot the flow filled), if any."""
    for name, spec in flow.spec.slots.items():
        value = state.slots.get(name)
        if spec.type is SlotType.TIMING and isinstance(value, Mapping):
            return Timing.from_dict(value)
    return None
