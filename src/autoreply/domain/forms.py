"""Web forms (資料請求, 問い合わせ): their declared fields, and checking what was submitted."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from autoreply.domain import leads
from autoreply.errors import FlowError, FlowProblem
from autoreply.yamlsource import Located, Path_, load_located, read_source

__all__ = [
    "CONSENT_FIELD",
    "FieldError",
    "FieldSpec",
    "FieldType",
    "FlowFacts",
    "FormChoice",
    "FormSpec",
    "Forms",
    "FormsFile",
    "Submission",
    "forms_from_source",
    "load_forms",
    "parse_forms",
]

_ID = r"^[a-z0-9][a-z0-9_-]*$"
_FIELD = r"^[a-z][a-z0-9_]*$"
_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class FieldType(StrEnum):
    """What a field holds; name, company, email and phone also fill in the lead."""

    TEXT = "text"
    TEXTAREA = "textarea"
    NAME = "name"
    COMPANY = "company"
    EMAIL = "email"
    PHONE = "phone"
    CHOICE = "choice"


_LEAD_FIELDS = {
    FieldType.NAME: "name",
    FieldType.COMPANY: "company",
    FieldType.EMAIL: "email",
    FieldType.PHONE: "phone",
}


class FormChoice(BaseModel):
    """One option of a choice field (e.g. which document is requested)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: Annotated[str, StringConstraints(pattern=_ID)]
    label: _Text
    url: str | None = None  # where the requested document can be downloaded
    topics: tuple[_Text, ...] = ()  # topic ids this choice says the lead cares about


class FieldSpec(BaseModel):
    """One field of a form."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: FieldType
    label: _Text
    required: bool = False
    max_length: int | None = Field(None, ge=1, le=20_000)
    choices: tuple[FormChoice, ...] = ()
    slot: str | None = None  # the flow slot this answer fills when the chat continues
    challenge: bool = False  # the lead's own words about their challenge (課題)

    @property
    def limit(self) -> int:
        """Longest accepted answer, in characters."""
        if self.max_length is not None:
            return self.max_length
        return leads.MAX_ANSWER_CHARS if self.type is FieldType.TEXTAREA else 200


class FormSpec(BaseModel):
    """A form whose submitter gets a contextual auto-reply."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = ""  # the key under ``forms:``
    title: _Text
    kind: Literal["document_request", "inquiry"] = "inquiry"
    locale: Literal["ja", "en"] = "ja"
    flow: str | None = None  # which flow continues the conversation (default: the locale's)
    reply_template: _Text = "form_reply"  # templates/email/<name>.<locale>.*.j2
    require_signature: bool = False
    honeypot: str | None = "website"
    #: The submitter must agree to the privacy notice (個人情報の取り扱い): the form shows a
    #: required checkbox, and a post (HTML or JSON) without ``consent`` is refused. False
    #: only for a form whose posts come from a tool that took the consent on its own page.
    consent: bool = True
    fields: dict[Annotated[str, StringConstraints(pattern=_FIELD)], FieldSpec]

    @property
    def email_field(self) -> str:
        """The name of the (one) email field."""
        return next(n for n, f in self.fields.items() if f.type is FieldType.EMAIL)


class FormsFile(BaseModel):
    """A forms file (``flows/forms.yaml``): form id -> its fields and reply."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    forms: dict[Annotated[str, StringConstraints(pattern=_ID)], FormSpec]


@dataclass(frozen=True)
class FieldError:
    """Why one field was refused: a code for programs, a message for people."""

    code: Literal[
        "required",
        "too_long",
        "invalid_email",
        "invalid_phone",
        "unknown_choice",
        "consent_required",
    ]
    message: str
    limit: int | None = None
    """For ``too_long``: the most characters the field takes, and how many were sent."""
    length: int | None = None


@dataclass(frozen=True)
class Submission:
    """What a form submission said, checked and cleaned."""

    form: FormSpec
    values: Mapping[str, str]
    consented: bool = False  # agreed to the privacy notice with this submission

    @property
    def email(self) -> str:
        """The submitter's address (normalised)."""
        return self.values[self.form.email_field]

    def lead_facts(self) -> dict[str, str]:
        """Name, company, email and phone as the lead record keeps them."""
        facts = {}
        for name, spec in self.form.fields.items():
            target = _LEAD_FIELDS.get(spec.type)
            if target and self.values.get(name):
                facts[target] = self.values[name]
        return facts

    def chosen(self) -> list[tuple[str, FormChoice]]:
        """(field label, choice) of every choice field answered."""
        out = []
        for name, spec in self.form.fields.items():
            value = self.values.get(name)
            for choice in spec.choices:
                if choice.value == value:
                    out.append((spec.label, choice))
        return out

    def challenge(self) -> str:
        """The lead's own words about their challenge (the fields marked ``challenge``)."""
        fields = self.form.fields
        return "\n".join(
            self.values[n] for n in fields if fields[n].challenge and self.values.get(n)
        )

    def topics(self) -> list[str]:
        """Topic ids the choices made imply (e.g. a document about lead response)."""
        return list(dict.fromkeys(t for _, c in self.chosen() for t in c.topics))

    def slots(self) -> dict[str, str]:
        """Flow slots this submission already answers."""
        return {
            spec.slot: self.values[name]
            for name, spec in self.form.fields.items()
            if spec.slot and self.values.get(name)
        }

    def summary(self) -> list[tuple[str, str]]:
        """(label, answer as the lead sees it) of every answered field, in form order."""
        out = []
        for name, spec in self.form.fields.items():
            value = self.values.get(name)
            if not value:
                continue
            label = next((c.label for c in spec.choices if c.value == value), value)
            out.append((spec.label, label))
        return out


@dataclass(frozen=True)
class FlowFacts:
    """What a form needs to know of the flow that continues its conversation."""

    id: str
    locale: str
    slots: frozenset[str] | None = None  # None: unknown (its file did not load)


class Forms:
    """The declared forms, by id."""

    def __init__(
        self, forms: Mapping[str, FormSpec], source: str = "forms", src: Located | None = None
    ) -> None:
        self.by_id = dict(forms)
        self.source = source
        self.src = src

    def problem(self, path: Path_, message: str) -> FlowProblem:
        """A problem at ``path`` of the forms file (line 1 when it was not read from one)."""
        if self.src is None:
            return FlowProblem(self.source, 1, 1, message)
        return self.src.problem(path, message)

    def reference_problems(
        self,
        flow_for: Callable[[str | None, str], FlowFacts | None],
        topic: Callable[[str], object | None] | None = None,
        template: Callable[[str], bool] | None = None,
    ) -> list[FlowProblem]:
        """What the forms name that does not exist, at the line that names it.

        ``flow_for(flow id or None, locale)`` finds the flow a form continues in (None:
        unknown); ``topic`` looks a topic up by id, ``template`` tells whether a reply email
        template exists. A lookup not given is not checked.
        """
        found: list[tuple[Path_, str]] = []
        for form in self.by_id.values():
            flow = flow_for(form.flow, form.locale)
            found += [
                (("forms", form.id, *path), f"form {form.id!r}{why}")
                for path, why in _references(form, flow, topic, template)
            ]
        return [self.problem(path, why) for path, why in found]

    def get(self, form_id: str) -> FormSpec | None:
        """The form with this id, or None."""
        return self.by_id.get(form_id)

    def check(
        self, form: FormSpec, raw: Mapping[str, str | Sequence[str]]
    ) -> tuple[Submission | None, dict[str, FieldError]]:
        """Clean a submission, or say what is wrong with each field (never raises).

        Unknown fields are ignored; a field sent twice counts with its first value. Free
        text loses its NUL characters; a name or company is made one line (control
        characters become spaces, see ``leads.one_line``), so it is safe in an email header;
        an address or a choice holding a control character is not one (a phone number is
        kept as parsed).
        """
        values: dict[str, str] = {}
        errors: dict[str, FieldError] = {}
        for name, spec in form.fields.items():
            given = raw.get(name, "")
            text = _prepared(spec, given if isinstance(given, str) else (given[0] if given else ""))
            if not text:
                if spec.required:
                    errors[name] = FieldError("required", f"{spec.label} is required")
                continue
            if len(text) > spec.limit:
                errors[name] = FieldError(
                    "too_long",
                    f"at most {spec.limit} characters (this has {len(text)})",
                    limit=spec.limit,
                    length=len(text),
                )
                continue
            cleaned = _clean(spec, text)
            if isinstance(cleaned, FieldError):
                errors[name] = cleaned
            else:
                values[name] = cleaned
        consented = _agreed(raw.get(CONSENT_FIELD, ""))
        if form.consent and not consented:
            errors[CONSENT_FIELD] = FieldError(
                "consent_required",
                "agree to the handling of personal information (個人情報の取り扱い): "
                f"send {CONSENT_FIELD!r} true",
            )
        if errors:
            return None, errors
        return Submission(form, values, consented), {}


CONSENT_FIELD = "consent"
_YES = frozenset({"1", "true", "yes", "on", "agree", "agreed"})


def _agreed(given: str | Sequence[str]) -> bool:
    """Whether a consent value says yes (a ticked checkbox, ``true`` from JSON)."""
    text = given if isinstance(given, str) else (given[0] if given else "")
    return text.strip().lower() in _YES


_ONE_LINE = (FieldType.NAME, FieldType.COMPANY)
_FREE_TEXT = (FieldType.TEXT, FieldType.TEXTAREA)


def _references(
    form: FormSpec,
    flow: FlowFacts | None,
    topic: Callable[[str], object | None] | None,
    template: Callable[[str], bool] | None,
) -> list[tuple[Path_, str]]:
    """What one form names that does not exist, as (path under the form, why)."""
    found: list[tuple[Path_, str]] = []
    if form.flow and flow is None:
        found.append((("flow",), f": unknown flow {form.flow!r}"))
    elif form.flow and flow is not None and flow.locale != form.locale:
        found.append(
            (("flow",), f" is in {form.locale!r} but flow {flow.id!r} is in {flow.locale!r}")
        )
    if template is not None and not template(form.reply_template):
        found.append((("reply_template",), f": no template email/{form.reply_template}.ja.txt.j2"))
    for name, spec in form.fields.items():
        if flow is not None and flow.slots is not None and spec.slot not in {None, *flow.slots}:
            found.append(
                (
                    ("fields", name, "slot"),
                    f": field {name!r} fills slot {spec.slot!r}, "
                    f"which flow {flow.id!r} does not have",
                )
            )
        for index, choice in enumerate(spec.choices):
            found += [
                (
                    ("fields", name, "choices", index, "topics", position),
                    f": field {name!r}: unknown topic {topic_id!r}",
                )
                for position, topic_id in enumerate(choice.topics)
                if topic is not None and topic(topic_id) is None
            ]
    return found


def _prepared(spec: FieldSpec, text: str) -> str:
    if spec.type in _ONE_LINE:
        return leads.one_line(text)
    if spec.type in _FREE_TEXT:
        return leads.free_text(text).strip()
    return text.strip()


def _clean(spec: FieldSpec, text: str) -> str | FieldError:
    if spec.type is FieldType.EMAIL:
        email = leads.clean_email(text)
        return email.lower() if email else FieldError("invalid_email", "not an email address")
    if spec.type is FieldType.PHONE:
        phone = leads.clean_phone(text)
        return phone or FieldError("invalid_phone", "not a phone number")
    if spec.type is FieldType.CHOICE:
        if any(c.value == text for c in spec.choices):
            return text
        return FieldError("unknown_choice", f"not one of the choices of {spec.label}")
    if spec.type is FieldType.NAME:
        return leads.clean_name(text) or text  # text is one line already
    if spec.type is FieldType.COMPANY:
        return leads.clean_company(text) or text
    return text


def parse_forms(text: str, file: str) -> Forms:
    """Check and load a forms file; ``FlowError`` lists every problem as file:line:column."""
    return forms_from_source(load_located(text, file))


def forms_from_source(src: Located) -> Forms:
    """Check and load a forms file read with positions (see :func:`parse_forms`)."""
    spec = src.model(FormsFile, "a forms file", "forms")
    problems: list[FlowProblem] = []
    forms: dict[str, FormSpec] = {}
    for form_id, form in spec.forms.items():
        base = ("forms", form_id)
        emails = [n for n, f in form.fields.items() if f.type is FieldType.EMAIL]
        if len(emails) != 1:
            problems.append(
                src.problem((*base, "fields"), "a form needs exactly one email field", key=True)
            )
        elif not form.fields[emails[0]].required:
            problems.append(
                src.problem((*base, "fields", emails[0]), "the email field must be required")
            )
        for name, field_spec in form.fields.items():
            here = (*base, "fields", name)
            if field_spec.type is FieldType.CHOICE and not field_spec.choices:
                problems.append(src.problem(here, "a choice field needs choices"))
            if field_spec.type is not FieldType.CHOICE and field_spec.choices:
                problems.append(src.problem((*here, "choices"), "only choice fields have choices"))
        if CONSENT_FIELD in form.fields:
            problems.append(
                src.problem(
                    (*base, "fields", CONSENT_FIELD),
                    "'consent' is the privacy-notice checkbox, not a field of its own",
                    key=True,
                )
            )
        if form.honeypot and form.honeypot in form.fields:
            problems.append(
                src.problem((*base, "honeypot"), "the honeypot must not be one of the fields")
            )
        forms[form_id] = form.model_copy(update={"id": form_id})
    if problems:
        raise FlowError(problems)
    return Forms(forms, source=src.file, src=src)


def load_forms(path: Path) -> Forms:
    """Read a forms file (a missing file means no forms)."""
    if not path.exists():
        return Forms({}, source=str(path))
    return parse_forms(read_source(path), str(path))
