"""The published JSON Schemas of operator files (for editors that validate as people type)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from autoreply.flows.spec import FlowSpec

__all__ = ["SCHEMA_ID", "flow_json_schema", "json_schema"]

SCHEMA_ID = "https://autoreply.invalid/schemas/flow.schema.json"


def json_schema(model: type[BaseModel], name: str) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the files of kind ``name``, generated from the same
    pydantic ``model`` that loads them; its ``$id`` ends in ``<name>.schema.json``."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID.replace("flow.schema.json", f"{name}.schema.json"),
        **schema,
    }


def flow_json_schema() -> dict[str, Any]:
    """JSON Schema of a flow file (published as ``docs/flow.schema.json``)."""
    return json_schema(FlowSpec, "flow")
