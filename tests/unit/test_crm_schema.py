"""docs/crm/<type>.schema.json are the schemas the event models make, and every event
type has one."""

from __future__ import annotations

import json

import jsonschema
import pytest

from autoreply.domain.crm_events import EVENT_TYPES
from autoreply.domain.crm_schema import event_schema, schema_file
from tests.conftest import ROOT

DOCS = ROOT / "docs" / "crm"


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_the_published_schema_is_current(event_type: str) -> None:
    committed = json.loads((DOCS / schema_file(event_type)).read_text(encoding="utf-8"))
    assert committed == event_schema(event_type), "run: autoreply crm schema --write docs/crm"
    jsonschema.Draft202012Validator.check_schema(committed)
    assert committed["properties"]["type"]["const"] == event_type


def test_no_stray_schema_files() -> None:
    assert sorted(p.name for p in DOCS.glob("*.json")) == sorted(map(schema_file, EVENT_TYPES))


def test_a_body_of_another_type_or_with_a_stray_field_is_refused() -> None:
    schema = event_schema("lead.created")
    body = {
        "id": "x",
        "type": "lead.created",
        "occurred_at": "2026-11-21T23:10:00+09:00",
        "lead": {"id": 1, "created_at": "2026-11-21T23:10:00+09:00"},
        "data": {"changed": ["name"]},
    }
    jsonschema.validate(body, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**body, "type": "lead.updated"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**body, "data": {"changed": [], "extra": 1}}, schema)
