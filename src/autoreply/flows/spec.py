"""The flow file format: pydantic models that validate YAML and publish the JSON Schema."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

__all__ = [
    "CONTACT_SLOT_TYPES",
    "STEP_KINDS",
    "AskStep",
    "BranchRule",
    "BranchStep",
    "Choice",
    "EndStep",
    "FlowSpec",
    "GotoStep",
    "HandoffStep",
    "IntentSpec",
    "OfferSlotsStep",
    "OfferSpec",
    "RecommendSpec",
    "RecommendStep",
    "SayStep",
    "SetSpec",
    "SetStep",
    "SlotSpec",
    "SlotType",
    "Step",
    "TemplateRef",
    "Text",
    "step_kind",
]

LINE_CHOICE_LABEL_MAX = 20
LINE_QUICK_REPLY_MAX = 13


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlotType(StrEnum):
    """What a slot holds; decides how an answer is read and validated."""

    TEXT = "text"
    CHOICE = "choice"
    TIMING = "timing"
    EMAIL = "email"
    PHONE = "phone"
    CONTACT = "contact"  # a way to reach the lead: an email address or a phone number
    COMPANY = "company"
    NAME = "name"


#: Slots whose answer is a way to reach the lead.
CONTACT_SLOT_TYPES = frozenset({SlotType.EMAIL, SlotType.PHONE, SlotType.CONTACT})


class SlotSpec(_Strict):
    """A piece of information the flow collects from the lead."""

    type: SlotType
    label: str | None = Field(None, description="How reps and the handoff name this slot.")
    topics: bool = Field(False, description="Derive topic tags from the answer (challenges).")


class TemplateRef(_Strict):
    """A message kept in a file under the templates folder instead of inline."""

    template: str = Field(description="Path relative to the templates folder.")


Text = Annotated[
    str | TemplateRef,
    Field(description="A Jinja2 template inline, or {template: path} to a file."),
]


class Choice(_Strict):
    """One tappable answer (a LINE quick reply, a widget button)."""

    label: str = Field(description="What the lead sees (LINE: at most 20 characters).")
    value: str = Field(description="What is stored in the slot.")
    aliases: list[str] = Field(default_factory=list, description="Other ways to type it.")


class AskStep(_Strict):
    """Ask the lead something and store the answer in a slot."""

    ask: str = Field(description="The slot to fill.")
    say: Text = Field(description="The question.")
    choices: list[Choice] = Field(default_factory=list)
    free_text: bool | None = Field(
        None, description="Accept typed answers that are no choice (default: only without choices)."
    )
    reask: Text | None = Field(None, description="Said when the answer cannot be used.")
    max_tries: int = Field(2, ge=1, le=5, description="Failed answers before moving on.")
    on_fail: str | None = Field(None, description="Step after max_tries (default: next).")
    skip_if_known: bool = Field(False, description="Do not ask when the slot is already known.")
    confirm: Text | None = Field(
        None,
        description="Timing slots: the short question asked when a typed answer has two readings"
        " (variables: confirming.reading, confirming.other); a built-in polite one when absent.",
    )
    confirm_uncertain: bool = Field(
        True, description="Timing slots: confirm an uncertain reading before storing it."
    )
    next: str | None = None


class BranchRule(_Strict):
    """``if`` a condition holds, ``goto`` a step."""

    if_: str = Field(alias="if", description="A condition, e.g. slots.timing.bucket == 'later'.")
    goto: str


class BranchElse(_Strict):
    """Where to go when no rule matched."""

    else_: str = Field(alias="else")


def _rule_kind(value: Any) -> str:
    if isinstance(value, BranchElse) or (isinstance(value, dict) and "else" in value):
        return "else"
    return "rule"


BranchItem = Annotated[
    Annotated[BranchRule, Tag("rule")] | Annotated[BranchElse, Tag("else")],
    Discriminator(_rule_kind),
]


class BranchStep(_Strict):
    """Choose the next step from conditions, first match wins."""

    branch: list[BranchItem] = Field(min_length=1)


class SetSpec(_Strict):
    """Tags to add or remove, and points to add to the lead's score."""

    tags: list[str] = Field(default_factory=list)
    remove_tags: list[str] = Field(default_factory=list)
    score: int = Field(0, ge=-100, le=100)
    reason: str | None = Field(None, description="Why, as shown to the rep.")


class SetStep(_Strict):
    """Mark the lead with tags or score points."""

    set: SetSpec
    say: Text | None = None
    next: str | None = None


class RecommendSpec(_Strict):
    """Which case studies to send."""

    query: str = Field(description="Template of the text to match, e.g. '{{ slots.challenge }}'.")
    limit: int = Field(3, ge=1, le=12)
    industry: str | None = Field(None, description="Template giving the lead's industry.")
    min_score: float = Field(50.0, ge=0, le=100)


class RecommendStep(_Strict):
    """Send the case studies that fit what the lead said."""

    recommend: RecommendSpec
    say: Text | None = Field(None, description="Said before the cards (``cases`` is set).")
    empty: Text | None = Field(None, description="Said when nothing matched.")
    next: str | None = None


class OfferSpec(_Strict):
    """How many meeting slots to offer, how far ahead, how long."""

    count: int | None = Field(None, ge=1, le=12)
    days_ahead: int | None = Field(None, ge=1, le=60)
    duration: int | None = Field(None, ge=10, le=240, description="Minutes.")


class OfferSlotsStep(_Strict):
    """Offer meeting slots; the lead picks one or declines."""

    offer_slots: OfferSpec
    say: Text = Field(description="Said with the slots.")
    decline_label: str = Field(description="The choice for 'none of these'.")
    none: Text | None = Field(None, description="Said when no slot is free.")
    reask: Text | None = None
    on_decline: str | None = Field(None, description="Step when declined (default: next).")
    already_booked: Text | None = Field(
        None,
        description="Said instead of offering when the lead already has a meeting booked "
        "(in another conversation: one person, one meeting); ``lead_booking`` is set.",
    )
    on_booked: str | None = Field(
        None, description="Step after already_booked (default: on_decline, else next)."
    )
    next: str | None = None


class HandoffStep(_Strict):
    """Create the handoff record for a rep."""

    handoff: str = Field(description="The reason, shown to the rep.")
    follow_up: bool = Field(
        True,
        description="A rep will get in touch: every path here must ask for an email address "
        "or phone number, or check 'reachable' (flow check). False: the lead was told "
        "honestly that nobody can follow up.",
    )
    confirm_booking: bool = Field(
        False,
        description="Confirm the slot held for the lead (a tapped slot is only held until "
        "then); if the hold lapsed and the slot was taken, the lead is offered slots again.",
    )
    say: Text | None = None
    next: str | None = None


class GotoStep(_Strict):
    """Continue at another step."""

    goto: str
    say: Text | None = None


class EndStep(_Strict):
    """End the conversation."""

    end: Literal[True, "completed"] = True
    say: Text | None = None


class SayStep(_Strict):
    """Say something and go on."""

    say: Text
    next: str | None = None


STEP_KINDS: tuple[str, ...] = (
    "ask",
    "branch",
    "set",
    "recommend",
    "offer_slots",
    "handoff",
    "goto",
    "end",
    "say",
)
_STEP_MODELS: dict[str, type[_Strict]] = {
    "ask": AskStep,
    "branch": BranchStep,
    "set": SetStep,
    "recommend": RecommendStep,
    "offer_slots": OfferSlotsStep,
    "handoff": HandoffStep,
    "goto": GotoStep,
    "end": EndStep,
    "say": SayStep,
}


def step_kind(value: Any) -> str | None:
    """The kind of a raw or parsed step: its first action key (``say`` only if alone)."""
    if isinstance(value, BaseModel):
        for kind, model in _STEP_MODELS.items():
            if isinstance(value, model):
                return kind
        return None
    if isinstance(value, dict):
        for kind in STEP_KINDS:
            if kind in value:
                return kind
    return None


Step = Annotated[
    Annotated[AskStep, Tag("ask")]
    | Annotated[BranchStep, Tag("branch")]
    | Annotated[SetStep, Tag("set")]
    | Annotated[RecommendStep, Tag("recommend")]
    | Annotated[OfferSlotsStep, Tag("offer_slots")]
    | Annotated[HandoffStep, Tag("handoff")]
    | Annotated[GotoStep, Tag("goto")]
    | Annotated[EndStep, Tag("end")]
    | Annotated[SayStep, Tag("say")],
    Discriminator(
        step_kind,
        custom_error_type="step_kind",
        custom_error_message="a step needs one of: " + ", ".join(STEP_KINDS),
    ),
]


class IntentSpec(_Strict):
    """A global intent: works at any step, matched fuzzily on what the lead types."""

    say: Text = Field(description="The answer when the intent is recognised.")
    phrases: list[str] = Field(default_factory=list, description="Added to the built-in phrases.")
    goto: str | None = Field(None, description="Continue at this step instead of the default.")
    follow_up: bool = Field(
        True,
        description="human only: a rep will get in touch, so 'goto' must lead to a step "
        "that checks 'reachable' or asks for a way to reach the lead (flow check). False: "
        "the answer tells the lead honestly that nobody can follow up.",
    )


class Intents(_Strict):
    """The three global intents every flow answers."""

    human: IntentSpec = Field(description="Asks for a person: handoff now.")
    stop: IntentSpec = Field(description="Opts out: end and mark the lead opted out.")
    restart: IntentSpec = Field(description="Starts over from the first step.")


class Messages(_Strict):
    """Messages the engine needs outside of steps."""

    after_end: Text = Field(description="Answer to a message after the conversation ended.")
    invalid_choice: Text | None = Field(None, description="Default re-ask for choices.")
    slot_taken: Text | None = Field(None, description="Said when a picked slot was just taken.")


class FlowSpec(_Strict):
    """A whole conversation flow, as operators write it in YAML."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"title": "autoreply flow"}
    )

    flow: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="The flow id.")
    version: int = Field(1, ge=1, description="Bump on every published change.")
    locale: Literal["ja", "en"]
    title: str | None = None
    start: str | None = Field(None, description="First step (default: the first listed).")
    slots: dict[str, SlotSpec] = Field(default_factory=dict)
    intents: Intents
    messages: Messages
    steps: dict[str, Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _start_default(self) -> FlowSpec:
        if self.start is None:
            object.__setattr__(self, "start", next(iter(self.steps)))
        return self
