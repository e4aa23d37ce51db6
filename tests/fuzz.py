"""Hypothesis strategies for requests to the app: every route it has (JSON bodies from its
OpenAPI schema, HTML form posts, signed LINE webhooks), each value valid, odd or hostile.

A request is data (``Call``); the test sends it and checks the answer. Values come from a
pool of the app's own ids and tokens (so requests get past the first check and reach the
database) mixed with text built to break things: NUL, CR/LF, lone surrogates, non-ASCII
digits, ids past the integer range, slot ids past the calendar, deep nesting.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import strategies as st
from starlette.routing import BaseRoute

from tests.linestub import sign

__all__ = ["Call", "Known", "calls"]

NASTY = [
    "",
    "\x00",
    "a\x00b",
    "山田\n太郎",
    "A\r\nBcc: x@example.com",
    "²",
    "٣٣",
    "-1",
    "0",
    "2147483648",
    "99999999999999999999",
    "1e20",
    "NaN",
    "00010101T0000+2300-30",
    "99991231T2359+0000-9999",
    "20261124T1000+0900-30",
    "within_1_month",
    "service-overview",
    "taro@example.com",
    "x" * 3000,
    "%00",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "😀",
]
ODD_JSON = [
    b"",
    b"[" * 30_000,
    b'{"a":' * 12_000,
    b"\xff\xfe",
    b'{"text": NaN}',
    b'{"text": "\\ud800"}',
    b"null",
    b"[]",
    b'"text"',
    b"1e999",
]


@dataclass(frozen=True)
class Call:
    """One request: what the test client sends."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None
    route: str = ""  # the route template it exercises

    def __repr__(self) -> str:
        body = None if self.content is None else self.content[:300]
        return f"Call({self.method} {self.path[:300]!r} {dict(self.headers)} {body!r})"


@dataclass(frozen=True)
class Known:
    """Values of the app under test that make requests go further: a conversation and its
    token, signed links, a rep's API token, the LINE channel secret."""

    conversation: str
    token: str
    book_token: str
    continue_token: str
    cancel_signature: str
    slot: str
    rep_token: str
    csrf: str
    line_secret: str
    forms: Sequence[str]
    case_id: str
    case_signature: str
    form: Mapping[str, str]  # a valid submission of forms[0]
    rep_login: Mapping[str, str]  # email and password of the logged-in rep
    reschedule_signature: str = ""
    short_token: str = ""  # a short link's /b/<token> (cancel), valid

    def pool(self) -> list[str]:
        return [
            self.conversation,
            self.book_token,
            self.continue_token,
            self.cancel_signature,
            self.slot,
            self.csrf,
            "1",
            *self.forms,
            *(
                [self.short_token, self.short_token[:-1], "c" + "z" * 30 + ".1.0"]
                if self.short_token
                else []
            ),
        ]


def _mostly(good: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly ``good`` (the simplest choice, so Hypothesis favours it), else ``odd``:
    requests must get past the first check to go deep."""
    return st.sampled_from([good, good, good, odd]).flatmap(lambda chosen: chosen)


def _text(known: Known, *, surrogates: bool = False) -> st.SearchStrategy[str]:
    exclude = () if surrogates else ("Cs",)
    return st.one_of(
        st.sampled_from(known.pool()),
        st.sampled_from(NASTY),
        st.text(st.characters(exclude_categories=exclude), max_size=40),
    )


def _json_values(known: Known) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        _text(known, surrogates=True),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(_text(known), inner, max_size=3)
        ),
        max_leaves=8,
    )


def _from_schema(
    schema: Mapping[str, Any], spec: Mapping[str, Any], known: Known, depth: int = 0
) -> st.SearchStrategy[Any]:
    """Values of a JSON schema, now and then of the wrong type."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    odd = _json_values(known)
    if depth > 4:
        return odd
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return st.one_of(*(_from_schema(s, spec, known, depth + 1) for s in options))
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.one_of(st.sampled_from(schema["enum"]), odd)
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        values = {k: _from_schema(v, spec, known, depth + 1) for k, v in properties.items()}
        required = {k: v for k, v in values.items() if k in schema.get("required", ())}
        optional = {k: v for k, v in values.items() if k not in required}
        if not properties and "additionalProperties" in schema:
            extra = schema["additionalProperties"]
            value = _from_schema(extra if isinstance(extra, dict) else {}, spec, known, depth + 1)
            return st.dictionaries(_text(known), value, max_size=3)
        return _mostly(
            st.fixed_dictionaries(required, optional=optional),
            st.fixed_dictionaries({}, optional={**values, "bogus": odd}),
        )
    if kind == "array":
        items = _from_schema(schema.get("items", {}), spec, known, depth + 1)
        return st.lists(items, max_size=3)
    if kind == "string":
        sensible = st.sampled_from(
            ["https://example.com/pricing", "within_1_month", known.slot, "ja", "夜間の対応"]
        )
        return st.one_of(sensible, _text(known, surrogates=True))
    if kind == "integer":
        return st.one_of(st.integers(min_value=-(2**64), max_value=2**64), odd)
    if kind == "number":
        return st.floats(allow_nan=True, allow_infinity=True)
    if kind == "boolean":
        return st.booleans()
    return odd


def _path(template: str, known: Known) -> st.SearchStrategy[str]:
    good = {
        "conversation_id": [known.conversation],
        "form_id": list(known.forms),
        "token": [t for t in (known.book_token, known.continue_token, known.short_token) if t],
        "handoff_id": ["1", "2"],
        "booking_id": ["1", "2"],
        "case_id": [known.case_id],
    }
    names = [part[1:-1] for part in template.split("/") if part.startswith("{")]
    values = st.fixed_dictionaries(
        {n: _mostly(st.sampled_from(good.get(n, ["x"])), _text(known)) for n in names}
    )
    return values.map(
        lambda v: template.format(**{k: quote(x, safe="") or "x" for k, x in v.items()})
    )


def _query(known: Known, template: str, names: Sequence[str]) -> st.SearchStrategy[str]:
    signature = known.case_signature if template.startswith("/r/") else known.cancel_signature
    if template.endswith("/reschedule") and template.startswith("/bookings/"):
        signature = known.reschedule_signature
    good = {"s": [signature], "c": [known.continue_token], "status": ["open"], "channel": ["web"]}
    pairs = st.fixed_dictionaries(
        {},
        optional={n: _mostly(st.sampled_from(good.get(n, ["x"])), _text(known)) for n in names},
    )
    return pairs.map(lambda q: "?" + urlencode(q) if q else "")


def _headers(known: Known, template: str) -> st.SearchStrategy[dict[str, str]]:
    token = known.rep_token if template.startswith("/api/rep") else known.token
    odd = st.sampled_from(["Bearer ", "Basic eDp5", "Bearer \x7f", f"Bearer {known.rep_token}x"])
    return st.fixed_dictionaries(
        {"authorization": _mostly(st.just(f"Bearer {token}"), odd)},
        optional={
            "referer": st.sampled_from(["https://example.com/?utm_source=ad", "http://[", "x"]),
        },
    )


def _form_body(known: Known, base: Mapping[str, str]) -> st.SearchStrategy[tuple[str, bytes]]:
    """A form post that is mostly ``base``: each field kept, changed or left out, odd
    fields added; sent urlencoded, multipart or as JSON; now and then a body that is no
    form at all."""
    fields = st.builds(
        _changed, st.just(dict(base)), st.sampled_from([None, *base]), _text(known), st.booleans()
    )
    extra = st.builds(
        lambda named, other: {**other, **named},
        st.fixed_dictionaries({}, optional={f: _text(known) for f in EXTRA_FIELDS}),
        st.dictionaries(_text(known), _text(known), max_size=2),
    )
    values = st.builds(lambda f, e: {**e, **f}, fields, extra)
    urlencoded = values.map(lambda v: ("application/x-www-form-urlencoded", urlencode(v).encode()))
    multipart = values.map(_multipart)
    json_values = st.fixed_dictionaries(
        {},
        optional={
            **{k: _mostly(st.just(v), _json_values(known)) for k, v in base.items()},
            "utm": _json_values(known),
        },
    )
    as_json = _mostly(json_values, _json_values(known)).map(
        lambda v: ("application/json", json.dumps(v).encode())
    )
    raw = st.tuples(
        st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/xml", ""]),
        st.one_of(st.sampled_from(ODD_JSON), st.binary(max_size=64)),
    )
    return st.one_of(urlencoded, multipart, as_json, urlencoded, multipart, as_json, raw)


def _changed(base: dict[str, str], key: str | None, value: str, drop: bool) -> dict[str, str]:
    """``base`` with at most one field changed or left out."""
    if key is None:
        return base
    if drop:
        return {k: v for k, v in base.items() if k != key}
    return {**base, key: value}


def _multipart(values: Mapping[str, str]) -> tuple[str, bytes]:
    boundary = "fuzzboundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{quote(k)}"\r\n\r\n{v}\r\n'
        for k, v in values.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        "Content-Type: text/plain\r\n\r\nhello\r\n"
    )
    body = "".join(parts) + f"--{boundary}--\r\n"
    return f"multipart/form-data; boundary={boundary}", body.encode("utf-8", "replace")


EXTRA_FIELDS = ["utm", "utm_source", "page_url", "page_title", "phone"]


def _line_body(known: Known) -> st.SearchStrategy[bytes]:
    text = _text(known, surrogates=True)
    users = _mostly(
        st.sampled_from(["U1", "U" + "0" * 32]),
        st.one_of(st.just("U" + "f" * 33), text, st.integers(), st.none()),
    )
    event = st.fixed_dictionaries(
        {
            "type": _mostly(
                st.sampled_from(["message", "postback", "follow", "unfollow", "beacon"]), text
            ),
            "webhookEventId": _mostly(st.uuids().map(lambda u: u.hex.upper()), text),
            "timestamp": _mostly(
                st.integers(min_value=1_795_000_000_000, max_value=1_795_100_000_000),
                st.one_of(
                    st.sampled_from([10**20, -(10**20), 2**63, -1, 1e20]), st.integers(), text
                ),
            ),
            "source": _mostly(
                st.fixed_dictionaries(
                    {"type": st.sampled_from(["user", "user", "group"]), "userId": users}
                ),
                _json_values(known),
            ),
        },
        optional={
            "mode": st.sampled_from(["active", "standby"]),
            "replyToken": text,
            "message": st.fixed_dictionaries(
                {"type": st.sampled_from(["text", "sticker"]), "id": text, "text": text}
            ),
            "postback": st.fixed_dictionaries(
                {
                    "data": st.one_of(
                        text,
                        st.builds(
                            lambda v, label: urlencode({"k": "choice", "v": v, "l": label}),
                            text,
                            text,
                        ),
                    )
                }
            ),
        },
    )
    bodies = st.fixed_dictionaries(
        {"destination": st.just("Ubot"), "events": st.lists(event, max_size=3)}
    ).map(lambda b: json.dumps(b).encode())
    return _mostly(bodies, st.one_of(st.sampled_from(ODD_JSON), st.binary(max_size=64)))


def _line_calls(known: Known) -> st.SearchStrategy[Call]:
    def signed(body: bytes, good: bool) -> Call:
        signature = sign(known.line_secret, body) if good else "not-a-signature"
        headers = {"content-type": "application/json", "x-line-signature": signature}
        return Call("POST", "/line/webhook", headers, body, "/line/webhook")

    return st.builds(signed, _line_body(known), st.sampled_from([True, True, True, False]))


def calls(
    routes: Sequence[BaseRoute], spec: Mapping[str, Any], known: Known
) -> dict[str, st.SearchStrategy[Call]]:
    """Requests to each of ``routes``, by route ("METHOD /path")."""
    out: dict[str, st.SearchStrategy[Call]] = {}
    for route in routes:
        path, methods = getattr(route, "path", ""), getattr(route, "methods", None) or set()
        for method in sorted(methods - {"HEAD"}):
            if path == "/line/webhook":
                out[f"{method} {path}"] = _line_calls(known)
            else:
                out[f"{method} {path}"] = _route_calls(path, method, spec, known)
    return out


def _route_calls(
    template: str, method: str, spec: Mapping[str, Any], known: Known
) -> st.SearchStrategy[Call]:
    operation = spec["paths"].get(template, {}).get(method.lower(), {})
    params = operation.get("parameters", [])
    query = [p["name"] for p in params if p["in"] == "query"] or ["s", "c"]
    content = operation.get("requestBody", {}).get("content", {})
    body: st.SearchStrategy[tuple[str, bytes] | None]
    if template.endswith("/messages"):
        body = _mostly(_message(known), _from_schema(_schema(content), spec, known)).map(
            lambda v: ("application/json", json.dumps(v).encode())
        )
    elif "application/json" in content:
        schema = _schema(content)
        body = _mostly(
            _from_schema(schema, spec, known).map(
                lambda v: ("application/json", json.dumps(v).encode())
            ),
            st.sampled_from(ODD_JSON).map(lambda b: ("application/json", b)),
        )
    elif method == "POST":
        body = _form_body(known, _form_base(template, known))
    else:
        body = st.none()

    def build(
        path: str, q: str, headers: dict[str, str], payload: tuple[str, bytes] | None
    ) -> Call:
        if payload is not None:
            headers = {**headers, "content-type": payload[0]} if payload[0] else headers
        return Call(method, path + q, headers, payload[1] if payload else None, template)

    make: Callable[..., Call] = build
    return st.builds(
        make,
        _path(template, known),
        _query(known, template, query),
        _headers(known, template),
        body,
    )


def _schema(content: Mapping[str, Any]) -> Mapping[str, Any]:
    schema: Mapping[str, Any] = content.get("application/json", {}).get("schema", {})
    return schema


def _message(known: Known) -> st.SearchStrategy[dict[str, Any]]:
    """What the widget sends: text, or a tap on a choice or slot with its label."""
    text = _text(known, surrogates=True)
    return st.one_of(
        st.fixed_dictionaries({"text": text}),
        st.fixed_dictionaries({"choice": text}, optional={"label": text}),
        st.fixed_dictionaries({"slot": text}, optional={"label": text}),
    )


def _form_base(template: str, known: Known) -> Mapping[str, str]:
    """What a valid post to this route holds."""
    if template.startswith("/forms/"):
        return known.form
    if template.startswith("/book/"):
        return {"slot": known.slot}
    if template.startswith("/bookings/") and template.endswith("/reschedule"):
        return {"s": known.reschedule_signature, "slot": known.slot}
    if template.startswith("/bookings/"):
        return {"s": known.cancel_signature}
    if template == "/rep/login":
        return {**known.rep_login, "csrf_token": known.csrf}
    return {"csrf_token": known.csrf}
