"""Lead score and tier (A/B/C) with the reasons a rep sees."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "CASES_READ_SCORED",
    "PRICING_VIEWS_SCORED",
    "Reason",
    "Score",
    "Signals",
    "Tier",
    "score_lead",
]

Tier = Literal["A", "B", "C"]

_TIMING_POINTS = {
    "within_1_month": 30,
    "within_3_months": 25,
    "within_6_months": 15,
    "within_12_months": 10,
    "later": 5,
}
TIER_A_MIN = 60
TIER_B_MIN = 30
PRICING_VIEWS_SCORED = 2
"""Pricing views beyond this many add nothing more (10 points each)."""
CASES_READ_SCORED = 2
"""Case studies read to the end beyond this many add nothing more (15 points each)."""


@dataclass(frozen=True)
class Reason:
    """One contribution to the score: a code the templates translate, and its points."""

    code: str
    points: int
    detail: str = ""


@dataclass(frozen=True)
class Signals:
    """Everything known about a lead's interest, gathered from all channels."""

    timing_bucket: str | None = None
    challenge: bool = False
    topics: int = 0
    booked: bool = False
    asked_for_human: bool = False
    requested_document: bool = False
    pricing_views: int = 0
    cases_clicked: int = 0
    cases_read: int = 0
    return_visits: int = 0
    second_form: bool = False
    opted_out: bool = False
    flow_points: tuple[tuple[str, int], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Score:
    """Points, the tier they give, and why."""

    points: int
    tier: Tier
    reasons: tuple[Reason, ...]


def score_lead(signals: Signals) -> Score:
    """Score a lead: recent, concrete interest ranks first (Tier A), cold or unknown last.

    Tier A (>= 60 points, or a booked meeting) is what reps call first the next
    business day; B (>= 30) is "considering"; C is everything else, and always an
    opted-out lead. Behaviour counts as well as words: the pricing page viewed (twice
    counts), a case study read to the end, coming back, a second form.

    >>> score_lead(Signals(timing_bucket="within_1_month", challenge=True, booked=True)).tier
    'A'
    """
    reasons: list[Reason] = []
    if signals.timing_bucket in _TIMING_POINTS:
        reasons.append(
            Reason("timing", _TIMING_POINTS[signals.timing_bucket], signals.timing_bucket)
        )
    if signals.challenge:
        reasons.append(Reason("challenge", 20))
        if signals.topics:
            reasons.append(Reason("topics", 5, str(signals.topics)))
    if signals.booked:
        reasons.append(Reason("booked", 40))
    if signals.asked_for_human:
        reasons.append(Reason("asked_for_human", 20))
    if signals.requested_document:
        reasons.append(Reason("requested_document", 15))
    if signals.pricing_views:
        reasons.append(
            Reason(
                "pricing_views",
                min(signals.pricing_views, PRICING_VIEWS_SCORED) * 10,
                str(signals.pricing_views),
            )
        )
    if signals.cases_clicked:
        reasons.append(
            Reason("cases_clicked", min(signals.cases_clicked, 2) * 5, str(signals.cases_clicked))
        )
    if signals.cases_read:
        reasons.append(
            Reason(
                "case_read",
                min(signals.cases_read, CASES_READ_SCORED) * 15,
                str(signals.cases_read),
            )
        )
    if signals.return_visits:
        reasons.append(Reason("return_visit", 10, str(signals.return_visits)))
    if signals.second_form:
        reasons.append(Reason("second_form", 10))
    reasons.extend(Reason("flow", points, why) for why, points in signals.flow_points)
    points = sum(r.points for r in reasons)
    tier: Tier
    if signals.opted_out:
        tier = "C"
        reasons.append(Reason("opted_out", 0))
    elif points >= TIER_A_MIN or signals.booked:
        tier = "A"
    elif points >= TIER_B_MIN:
        tier = "B"
    else:
        tier = "C"
    return Score(points=points, tier=tier, reasons=tuple(reasons))
