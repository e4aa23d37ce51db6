"""What a conversation has told us about the lead, read off a flow's state: the challenge
in their words, the timing, the score and tier (pure)."""

from __future__ import annotations

from collections.abc import Mapping

from autoreply.domain.scoring import Score, Signals, score_lead
from autoreply.domain.timing import Timing
from autoreply.flows.answers import contact_field
from autoreply.flows.loader import Flow
from autoreply.flows.spec import CONTACT_SLOT_TYPES, SlotType
from autoreply.flows.turns import Context, State

__all__ = [
    "CONTACT_SLOT_TYPES",
    "LEAD_SLOT_TYPES",
    "REACHABLE_CHANNELS",
    "challenge_of",
    "lead_score",
    "reachable",
    "timing_of",
]

LEAD_SLOT_TYPES = {
    SlotType.NAME: "name",
    SlotType.COMPANY: "company",
    SlotType.EMAIL: "email",
    SlotType.PHONE: "phone",
}

#: Channels on which the lead can be reached without asking (LINE pushes; a form or an
#: email came with the address).
REACHABLE_CHANNELS = frozenset({"line", "form", "email"})


def reachable(flow: Flow, state: State, ctx: Context) -> bool:
    """Whether a rep could follow up: the channel reaches the lead, or we know an email
    address or phone number (from the lead's record or this conversation)."""
    if ctx.channel in REACHABLE_CHANNELS or ctx.lead.get("email") or ctx.lead.get("phone"):
        return True
    return any(
        contact_field(state.slots.get(name)) is not None
        for name, spec in flow.spec.slots.items()
        if spec.type in CONTACT_SLOT_TYPES
    )


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
            booked=state.booked,
            asked_for_human=state.handoff == "asked_for_human",
            requested_document=ctx.requested_document,
            pricing_views=ctx.pricing_views,
            cases_clicked=ctx.cases_clicked,
            cases_read=ctx.cases_read,
            return_visits=ctx.return_visits,
            second_form=ctx.second_form,
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
