"""Reading a lead's answer to a question: a choice by value, label, alias or a near miss,
and typed values (email, phone, name, company) cleaned or refused (pure)."""

from __future__ import annotations

from typing import Any

from rapidfuzz import fuzz, process

from autoreply.domain import leads
from autoreply.domain.topics import normalize
from autoreply.flows.spec import AskStep, SlotType
from autoreply.flows.turns import Inbound

__all__ = ["clean_answer", "contact_field", "label_of", "match_choice"]


def label_of(step: AskStep, value: str) -> str:
    return next((c.label for c in step.choices if c.value == value), value)


def match_choice(step: AskStep, event: Inbound, *, fuzzy: bool = True) -> str | None:
    """The choice value an answer means: exact value, label or alias, then (maybe) fuzzy."""
    if not step.choices:
        return None
    if event.kind == "choice":
        return event.value if any(c.value == event.value for c in step.choices) else None
    text = normalize(event.text)
    if not text:
        return None
    table: dict[str, str] = {}
    for choice in step.choices:
        for word in (choice.value, choice.label, *choice.aliases):
            table.setdefault(normalize(word), choice.value)
    if text in table:
        return table[text]
    if not fuzzy:
        return None
    found = process.extractOne(text, list(table), scorer=fuzz.ratio, score_cutoff=85)
    return table[found[0]] if found else None


def clean_answer(slot_type: SlotType, text: str) -> Any:
    text = text.strip()
    if not text or len(text) > leads.MAX_ANSWER_CHARS:
        return None
    if slot_type is SlotType.EMAIL:
        return leads.clean_email(text)
    if slot_type is SlotType.PHONE:
        return leads.clean_phone(text)
    if slot_type is SlotType.CONTACT:
        return leads.find_contact(text)
    if slot_type is SlotType.NAME:
        return leads.clean_name(text)
    if slot_type is SlotType.COMPANY:
        return leads.clean_company(text)
    if slot_type is SlotType.CHOICE:
        return None
    return text


def contact_field(value: Any) -> str | None:
    """The lead field a contact slot's value fills: ``email``, ``phone`` or neither (a
    choice such as "no thanks" is not a contact)."""
    if not isinstance(value, str):
        return None
    if "@" in value and leads.clean_email(value) == value:
        return "email"
    if leads.clean_phone(value) == value:
        return "phone"
    return None
