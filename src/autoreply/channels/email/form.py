"""The web form's wire format: fields from a form post or JSON, where the submitter came
from (page, UTM), and the HMAC signature of server-to-server posts.

Pure: HTTP itself (reading the body, multipart) stays in the web route, and the posting
limit is ``service.limits`` (its counters are shared by every process).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from autoreply.errors import BadRequestError, UnauthorizedError

__all__ = [
    "FORM_KINDS",
    "JSON",
    "MULTIPART",
    "SIGNATURE_HEADER",
    "check_signature",
    "parse_fields",
    "signature",
    "source_of",
]

SIGNATURE_HEADER = "X-Autoreply-Signature"
JSON = "application/json"
URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
FORM_KINDS = (URLENCODED, MULTIPART, JSON)
_UTM = ("source", "medium", "campaign", "term", "content")


def signature(secret: str, body: bytes) -> str:
    """The header value a server-to-server post carries: ``sha256=<hex HMAC of the body>``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def check_signature(secret: str | None, given: str | None, body: bytes) -> None:
    """Raise ``UnauthorizedError`` unless ``given`` is the body's signature (constant time)."""
    if not given:
        raise UnauthorizedError(f"missing {SIGNATURE_HEADER}")
    expected = signature(secret, body) if secret else ""
    if not secret or not hmac.compare_digest(given.encode("utf-8"), expected.encode("ascii")):
        raise UnauthorizedError(f"wrong {SIGNATURE_HEADER}")


def parse_fields(
    kind: str, body: bytes, multipart: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The submitted fields by content type (``multipart`` are the fields the web layer
    parsed from a multipart body); ``BadRequestError`` says what is wrong."""
    if kind == JSON:
        return _json_fields(body)
    if kind == URLENCODED:
        try:
            parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError as exc:
            raise BadRequestError("the form is not UTF-8") from exc
        return {k: v[0] for k, v in parsed.items()}
    if kind == MULTIPART and multipart is not None:
        return {k: v for k, v in multipart.items() if isinstance(v, str)}
    raise BadRequestError(f"send {', '.join(FORM_KINDS[:-1])} or {FORM_KINDS[-1]}")


def _json_fields(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequestError(f"the body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequestError("the JSON body must be an object of field names to values")
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            out[str(key)] = str(value)
        elif isinstance(value, dict) and key == "utm":
            out["utm"] = {str(k): str(v) for k, v in value.items()}
        elif value is not None:
            raise BadRequestError(f"field {key!r}: give text, not {type(value).__name__}")
    return out


def source_of(fields: Mapping[str, Any], referer: str | None) -> dict[str, Any]:
    """Where the submitter was: the page (the form's hidden page_url, else the Referer) and
    the campaign (utm_* fields, or those of the page's address)."""
    page = str(fields.get("page_url") or referer or "")[:2000]
    utm = {k: str(v)[:300] for k, v in dict(fields.get("utm") or {}).items() if k in _UTM}
    query = parse_qs(urlsplit(page).query) if page else {}
    for key in _UTM:
        value = fields.get(f"utm_{key}") or (query.get(f"utm_{key}") or [""])[0]
        if value and key not in utm:
            utm[key] = str(value)[:300]
    return {"url": page, "title": str(fields.get("page_title") or "")[:300], "utm": utm}
