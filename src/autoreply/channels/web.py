"""The web chat channel: widget JSON in, channel-neutral events; replies out, widget JSON."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationError,
    model_validator,
)

from autoreply import jsonbody
from autoreply.domain.calendar import format_date
from autoreply.domain.leads import MAX_ANSWER_CHARS, free_text
from autoreply.errors import BadRequestError
from autoreply.flows.turns import Cards, Choices, Inbound, Reply, SlotPicker, Text

__all__ = [
    "BEACON_MAX_BYTES",
    "Banner",
    "CaseReadIn",
    "MessageIn",
    "PageIn",
    "ReplyOut",
    "StartIn",
    "StartOut",
    "TranscriptOut",
    "TurnOut",
    "case_read_in",
    "render_replies",
]


def _without_nul(value: Any) -> Any:
    """Free text loses its NUL characters before it is checked (PostgreSQL text cannot
    hold them); ids (visitor, choice, slot) keep them and are refused as not ours."""
    return free_text(value) if isinstance(value, str) else value


NoNul = BeforeValidator(_without_nul)
Url = Annotated[str, Field(max_length=2000), NoNul]
ShortText = Annotated[str, Field(max_length=300), NoNul]
VisitorId = Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PageIn(_In):
    """A page the visitor is on."""

    url: HttpUrl
    title: ShortText = ""
    referrer: Url = ""


class StartIn(_In):
    """Start a conversation from a page of the site."""

    page: PageIn
    utm: dict[Literal["source", "medium", "campaign", "term", "content"], ShortText] = Field(
        default_factory=dict
    )
    locale: Literal["ja", "en"] = "ja"
    flow: Annotated[str, Field(max_length=300)] | None = Field(
        None, description="Flow id (default: the configured flow)."
    )
    visitor: (
        Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")] | None
    ) = Field(None, description="The widget's visitor id, so one browser is one lead.")

    def source(self) -> dict[str, Any]:
        """What the handoff shows as where the lead came from."""
        return {
            "url": str(self.page.url),
            "title": self.page.title,
            "referrer": self.page.referrer,
            "utm": dict(self.utm),
            "pages": [{"url": str(self.page.url), "title": self.page.title}],
        }


class CaseReadIn(_In):
    """A case page telling that its story was read to the end: the signed view values it
    was opened with (``Links.case_view``), and how it knows (``end``: the end of the story
    came into view; ``time``: the page stayed visible long enough)."""

    c: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    v: Annotated[str, Field(min_length=32, max_length=32, pattern=r"^[0-9a-f]+$")]
    how: Literal["end", "time"]


BEACON_MAX_BYTES = 1024
"""A case page's report is about 120 bytes; anything much larger is not one."""


def case_read_in(content_type: str, body: bytes) -> CaseReadIn:
    """A case page's report, as ``navigator.sendBeacon`` or ``fetch`` sends it: JSON
    (``application/json``, or ``text/plain``, which is what a beacon of a string is) or a
    form (``application/x-www-form-urlencoded``, a beacon of ``URLSearchParams``).
    ``BadRequestError`` says what is wrong."""
    kind = content_type.split(";")[0].strip().lower()
    fields: Any
    if kind in ("application/json", "text/plain"):
        try:
            fields = jsonbody.loads(body)
        except ValueError as exc:
            raise BadRequestError(str(exc)) from exc
    elif kind == "application/x-www-form-urlencoded":
        try:
            parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError as exc:
            raise BadRequestError("the form is not UTF-8") from exc
        fields = {k: v[0] if len(v) == 1 else v for k, v in parsed.items()}
    else:
        raise BadRequestError(
            "send JSON (application/json or text/plain) or application/x-www-form-urlencoded"
        )
    if not isinstance(fields, dict):
        raise BadRequestError("the body must be an object with c, v and how")
    try:
        return CaseReadIn.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise BadRequestError(problems) from exc


class MessageIn(_In):
    """What the visitor did: typed text, tapped a choice, or picked a slot (exactly one)."""

    text: Annotated[str, Field(min_length=1, max_length=MAX_ANSWER_CHARS), NoNul] | None = None
    choice: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    slot: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    label: ShortText = Field("", description="The tapped button's label, for the transcript.")

    @model_validator(mode="after")
    def _exactly_one(self) -> MessageIn:
        given = [n for n in ("text", "choice", "slot") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("send exactly one of text, choice or slot")
        return self

    def event(self) -> Inbound:
        """The channel-neutral event."""
        if self.text is not None:
            return Inbound("text", text=self.text)
        if self.choice is not None:
            return Inbound("choice", text=self.label, value=self.choice)
        return Inbound("slot", text=self.label, value=self.slot)


class Banner(BaseModel):
    """The off-hours notice the widget shows above the chat."""

    open: bool
    text: str


class ReplyOut(BaseModel):
    """One reply as the widget renders it (see ``render_replies``)."""

    model_config = ConfigDict(extra="allow")
    kind: Literal["text", "choices", "cards", "slots"]


class StartOut(BaseModel):
    """A new conversation: its id, its secret token, the greeting."""

    conversation_id: str
    token: str
    status: str
    banner: Banner
    replies: list[ReplyOut]


class TurnOut(BaseModel):
    """The replies to a message."""

    status: str
    replies: list[ReplyOut]


class TranscriptOut(BaseModel):
    """Every message so far, for a reload or a second page of the site."""

    conversation_id: str
    status: str
    banner: Banner
    messages: list[dict[str, Any]]


def render_replies(
    replies: Sequence[Reply], locale: str, case_link: Callable[[str], str]
) -> list[dict[str, Any]]:
    """Widget JSON for replies: case links go through ``case_link``; slots grouped by day."""
    return [_render(r, locale, case_link) for r in replies]


def _render(reply: Reply, locale: str, case_link: Callable[[str], str]) -> dict[str, Any]:
    if isinstance(reply, Text):
        return {"kind": "text", "text": reply.text}
    if isinstance(reply, Choices):
        return {
            "kind": "choices",
            "text": reply.text,
            "free_text": reply.free_text,
            "options": [{"label": o.label, "value": o.value} for o in reply.options],
        }
    if isinstance(reply, Cards):
        return {
            "kind": "cards",
            "cards": [
                {
                    "id": c.id,
                    "title": c.title,
                    "customer": c.customer,
                    "industry": c.industry,
                    "summary": c.summary,
                    "url": case_link(c.id),
                }
                for c in reply.cards
            ],
        }
    if not isinstance(reply, SlotPicker):  # pragma: no cover - every kind is handled above
        raise TypeError(f"no widget rendering for {type(reply).__name__}")
    days: list[dict[str, Any]] = []
    for slot in reply.slots:
        day = format_date(slot.start.date(), locale)
        if not days or days[-1]["day"] != day:
            days.append({"day": day, "slots": []})
        days[-1]["slots"].append(
            {
                "id": slot.id,
                "time": f"{slot.start.hour}:{slot.start.minute:02d}",
                "label": slot.label,
                "start": slot.start.isoformat(),
            }
        )
    return {
        "kind": "slots",
        "text": reply.text,
        "days": days,
        "decline": {"label": reply.decline.label, "value": reply.decline.value},
    }
