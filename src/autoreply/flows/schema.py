"""The published JSON Schema of flow files (for editors that validate as people type)."""

from __future__ import annotations

from typing import Any

from autoreply.flows.spec import FlowSpec

__all__ = ["SCHEMA_ID", "flow_json_schema"]

SCHEMA_ID = "https://autoreply.invalid/schemas/flow.schema.json"


def flow_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a flow file, generated from the same models that load it."""
    schema = FlowSpec.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
