"""The web form's wire format: fields from a form post or JSON, where the submitter came
from (page, UTM), and the HMAC signature of server-to-server posts.

Pure: HTTP itself (reading the body, multipart) stays in the web route, and the posting
limit is ``service.limits`` (its counters are shared by every process).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from autoreply import jsonbody
from autoreply.domain.leads import free_text, one_line
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
    """Fields of a JSON object: each value text or a number (as text), ``utm`` an object
    of such values; anything else is refused with the field it is in."""
    try:
        data = jsonbody.loads(body)
    except ValueError as exc:
        raise BadRequestError(str(exc)) from exc
    if not isinstance(data, dict):
        raise BadRequestError("the JSON body must be an object of field names to values")
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "utm" and value is not None:
            out["utm"] = _utm(value)
        elif key == "consent" and isinstance(value, bool):  # the privacy notice agreed
            out["consent"] = "true" if value else ""
        elif _is_text(value):
            out[str(key)] = str(value)
        elif value is not None:
            raise BadRequestError(f"field {key!r}: give text, not {_kind(value)}")
    return out


def _is_text(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "true/false"}.get(
        type(value), type(value).__name__
    )


def _utm(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise BadRequestError(
            f'field \'utm\': give an object like {{"source": "…"}}, not {_kind(value)}'
        )
    utm = {}
    for key, item in value.items():
        if not _is_text(item):
            raise BadRequestError(f"field 'utm': {key!r} must be text, not {_kind(item)}")
        utm[str(key)] = str(item)
    return utm


def source_of(fields: Mapping[str, Any], referer: str | None) -> dict[str, Any]:
    """Where the submitter was: the page (the form's hidden page_url, else the Referer) and
    the campaign (utm_* fields, or those of the page's address). Each value is one line of
    text (NUL dropped, other control characters become spaces); a ``utm`` that is not an
    object (a browser form's plain field of that name) is not a campaign, and a page
    address that does not parse has none."""
    page = _line(fields.get("page_url") or referer or "", 2000)
    given = fields.get("utm")
    utm = {k: _line(v, 300) for k, v in (given if isinstance(given, dict) else {}).items()}
    utm = {k: v for k, v in utm.items() if k in _UTM and v}
    query = _query(page)
    for key in _UTM:
        value = fields.get(f"utm_{key}") or (query.get(f"utm_{key}") or [""])[0]
        if value and key not in utm:
            utm[key] = _line(value, 300)
    return {"url": page, "title": _line(fields.get("page_title") or "", 300), "utm": utm}


def _query(page: str) -> dict[str, list[str]]:
    try:
        return parse_qs(urlsplit(page).query) if page else {}
    except ValueError:  # e.g. "http://[" (an unclosed IPv6 host)
        return {}


def _line(value: Any, limit: int) -> str:
    return one_line(free_text(str(value)))[:limit]
