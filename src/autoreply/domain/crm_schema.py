"""The JSON Schema of each CRM event (``docs/crm/<type>.schema.json``), generated from the
pydantic shapes of ``domain.crm_events``: the envelope with ``type`` fixed and ``data`` the
type's own model. ``autoreply crm schema`` prints or writes them."""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from autoreply.domain.crm_events import DATA, Event

__all__ = ["SCHEMA_BASE", "event_model", "event_schema", "schema_file"]

SCHEMA_BASE = "https://autoreply.invalid/schemas/crm/"


def _title(event_type: str) -> str:
    return "".join(part.capitalize() for part in event_type.replace("_", ".").split(".")) + "Event"


@cache
def event_model(event_type: str) -> type[BaseModel]:
    """The envelope of one event type as a model of its own."""
    if event_type not in DATA:
        raise ValueError(f"unknown event type {event_type!r}")
    model: type[BaseModel] = create_model(
        _title(event_type),
        __base__=Event,
        __doc__=f"The webhook body of a {event_type} event.",
        type=(Literal[event_type], Field(description="The event's type.")),
        data=(DATA[event_type], Field(description="What happened.")),
    )
    return model


def event_schema(event_type: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one event type's webhook body."""
    schema = event_model(event_type).model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_BASE + schema_file(event_type),
        **schema,
    }


def schema_file(event_type: str) -> str:
    """The file name of a type's schema: ``meeting.no_show.schema.json``."""
    return f"{event_type}.schema.json"
