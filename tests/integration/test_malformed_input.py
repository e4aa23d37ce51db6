"""Input no browser or partner would send, on SQLite and PostgreSQL: refused with a 4xx
and a reason, or cleaned and accepted; never a 500, never an accepted submission lost."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from autoreply.clock import FixedClock
from autoreply.store.models import Conversation, FormSubmission, Lead, Message, OutboxRow
from autoreply.web.app import create_app
from tests.integration.test_email import FORM, _settings, count, deliver
from tests.mailserver import MailServer, mail_server

PAGE = {"url": "https://example.com/", "title": "サンプル株式会社"}
DOCUMENTS = "/forms/document-request"


@pytest.fixture
def smtp() -> Iterator[MailServer]:
    """The SMTP server, up."""
    with mail_server() as server:
        yield server


@pytest.fixture
async def app(migrated: str, clock: FixedClock, smtp: MailServer) -> AsyncIterator[FastAPI]:
    """The app sending through the loopback SMTP server."""
    application = create_app(_settings(migrated, smtp), clock=clock, migrate=False)
    async with application.router.lifespan_context(application):
        yield application


async def _start(client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    response = await client.post("/api/chat/conversations", json={"page": PAGE})
    assert response.status_code == 201, response.text
    body = response.json()
    return body["conversation_id"], {"Authorization": f"Bearer {body['token']}"}


def _refused(response: httpx.Response, *statuses: int) -> None:
    """A 4xx (one of ``statuses`` when given) whose body says why."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    if statuses:
        assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert response.json()["detail"]


# -- 1. utm of the wrong type ----------------------------------------------------------------


@pytest.mark.parametrize("utm", ["google", 7, 1.5, ["a", "b"], True, {"source": ["x"]}])
async def test_utm_of_the_wrong_type_in_json_is_a_400_with_the_reason(
    client: httpx.AsyncClient, app: FastAPI, utm: Any
) -> None:
    """``utm`` must be an object of text values; anything else is refused and nothing is
    stored."""
    response = await client.post(DOCUMENTS, json={**FORM, "utm": utm})
    _refused(response, 400)
    assert "utm" in response.json()["detail"]
    assert await count(app, FormSubmission) == 0


async def test_utm_as_a_plain_field_of_a_browser_form_is_ignored(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """A browser form (urlencoded or multipart) has no nested ``utm``: a field named so is
    just an unknown field, and the submission is accepted with the utm_* fields."""
    posted = await client.post(DOCUMENTS, data={**FORM, "utm": "google", "utm_source": "ad"})
    assert posted.status_code == 303, posted.text
    multipart = await client.post(
        DOCUMENTS,
        data={**FORM, "email": "hanako@example.com", "utm": "x"},
        files={"attachment": ("a.txt", b"hello", "text/plain")},
    )
    assert multipart.status_code == 303, multipart.text
    async with app.state.runtime.sessions() as session:
        sources = [s for s in await session.scalars(select(FormSubmission.source))]
    assert sorted(s["utm"].get("source", "") for s in sources) == ["", "ad"]


# -- 2. deeply nested JSON -------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"[" * 30_000, b'{"a":' * 12_000, b'{"utm": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"],
    ids=["lists", "objects", "utm"],
)
async def test_deeply_nested_json_on_a_form_is_a_400_not_a_recursion_error(
    client: httpx.AsyncClient, body: bytes
) -> None:
    """Nesting deeper than any form needs is refused with the reason (within the form's
    64 KiB, so it is the nesting that is refused)."""
    response = await client.post(
        DOCUMENTS, content=body, headers={"content-type": "application/json"}
    )
    _refused(response, 400)


# -- 3. booking slot ids that overflow a datetime --------------------------------------------


@pytest.mark.parametrize(
    "slot", ["00010101T0000+2300-30", "99991231T2359+0000-9999", "99991231T2359-2359-30"]
)
async def test_slot_ids_beyond_the_calendar_are_a_400_on_the_booking_page(
    client: httpx.AsyncClient, app: FastAPI, slot: str
) -> None:
    """A slot id whose time cannot exist (year 0, past year 9999) is not a slot: 400 with
    the reason on the booking page and in the chat, and the page itself still opens."""
    cid, auth = await _start(client)
    runtime = app.state.runtime
    token = runtime.service.links.book(cid, runtime.content.clock.now()).rsplit("/", 1)[1]
    page = await client.get(f"/book/{token}")
    assert page.status_code == 200
    _refused(await client.post(f"/book/{token}", data={"slot": slot}), 400)
    tap = await client.post(
        f"/api/chat/conversations/{cid}/messages", json={"slot": slot}, headers=auth
    )
    _refused(tap, 400)


@pytest.mark.parametrize("expires", ["²", "①", "٣" * 30, "9" * 400])
async def test_link_tokens_with_odd_digits_are_expired_links_not_a_500(
    client: httpx.AsyncClient, expires: str
) -> None:
    """A token whose expiry is not ASCII digits (or absurdly long) is simply not ours."""
    for path in (f"/book/abc.{expires}.sig", f"/c/abc.{expires}.sig"):
        assert (await client.get(path)).status_code == 410
    assert (await client.post(f"/book/abc.{expires}.sig", data={"slot": "x"})).status_code == 410


# -- 4. NUL characters -----------------------------------------------------------------------


async def test_nul_in_chat_text_and_labels_is_removed_and_the_turn_answered(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Free text loses its NUL characters (PostgreSQL text cannot hold them); the turn is
    answered and stored."""
    cid, auth = await _start(client)
    url = f"/api/chat/conversations/{cid}/messages"
    tap = await client.post(
        url, json={"choice": "within_1_month", "label": "1か月\x00以内"}, headers=auth
    )
    assert tap.status_code == 200, tap.text
    said = await client.post(url, json={"text": "夜間の\x00問い合わせ"}, headers=auth)
    assert said.status_code == 200, said.text
    async with app.state.runtime.sessions() as session:
        texts = list(await session.scalars(select(Message.text).where(Message.direction == "in")))
    assert texts == ["1か月以内", "夜間の問い合わせ"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("text", "\x00"),
        ("choice", "within_1_month\x00"),
        ("slot", "20261124T1000+0900-30\x00"),
    ],
)
async def test_nul_in_chat_values_is_refused_with_a_reason(
    client: httpx.AsyncClient, field: str, value: str
) -> None:
    """Text that is nothing but NUL is empty; a choice or slot with a NUL is not on offer."""
    cid, auth = await _start(client)
    response = await client.post(
        f"/api/chat/conversations/{cid}/messages", json={field: value}, headers=auth
    )
    _refused(response)


async def test_nul_in_start_fields_is_removed_or_refused(client: httpx.AsyncClient) -> None:
    """Page titles, referrers and UTM values lose their NULs (the URL parser drops them
    from the page address); a visitor id or flow id with a NUL is refused."""
    started = await client.post(
        "/api/chat/conversations",
        json={
            "page": {"url": "https://example.com/\x00", "title": "料金\x00", "referrer": "a\x00b"},
            "utm": {"source": "goo\x00gle"},
            "flow": None,
        },
    )
    assert started.status_code == 201, started.text
    for body in (
        {"page": PAGE, "visitor": "visitor\x00id"},
        {"page": PAGE, "flow": "demo-ja\x00"},
    ):
        _refused(await client.post("/api/chat/conversations", json=body))


@pytest.mark.parametrize("bad", ["%00", "abc%00def", "x" * 65, "%F0%9F%98%80"])
async def test_conversation_ids_in_paths_with_nul_or_out_of_shape_are_refused(
    client: httpx.AsyncClient, bad: str
) -> None:
    """A conversation id that is not one of ours in shape is a 422 before any query."""
    _, auth = await _start(client)
    for method, path, extra in (
        ("GET", f"/api/chat/conversations/{bad}", {}),
        ("POST", f"/api/chat/conversations/{bad}/messages", {"json": {"text": "x"}}),
        ("POST", f"/api/chat/conversations/{bad}/pages", {"json": {"url": PAGE["url"]}}),
        ("GET", f"/r/{bad}/maker-night-inquiries?s=x", {}),
        ("GET", f"/bookings/{bad}/cancel?s=x", {}),
        ("POST", f"/bookings/{bad}/cancel", {"data": {"s": "x"}}),
    ):
        response = await client.request(method, path, headers=auth, **extra)
        _refused(response, 422)


async def test_nul_in_form_fields_is_removed_from_text_and_refused_in_values(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Free text and names lose their NULs and the submission is accepted; an address or
    a choice with a NUL is a field error."""
    accepted = await client.post(
        DOCUMENTS,
        json={
            **FORM,
            "name": "山田\x00太郎",
            "message": "夜間の\x00問い合わせ",
            "page_title": "資料\x00",
            "page_url": "https://example.com/?utm_source=a%00b",
        },
    )
    assert accepted.status_code == 202, accepted.text
    refused = await client.post(
        DOCUMENTS, json={**FORM, "email": "x\x00@example.com", "document": "pricing\x00"}
    )
    assert refused.status_code == 422
    assert set(refused.json()["errors"]) == {"email", "document"}
    async with app.state.runtime.sessions() as session:
        lead = await session.scalar(select(Lead))
        assert lead is not None and lead.name == "山田 太郎"
    assert await count(app, FormSubmission) == 1


# -- 6. CR/LF in single-line fields ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "company", "seen"),
    [
        ("山田\n太郎", "株式会社\r\nサンプル", "山田 太郎"),
        ("A\r\nBcc: x@example.com", "Acme", "A Bcc: x@example.com"),
        ("\x1b[31m山田\x7f太郎\u2028様", "Acme", "[31m山田 太郎 様"),
    ],
)
async def test_a_name_with_line_breaks_is_kept_and_answered_with_a_safe_header(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer, name: str, company: str, seen: str
) -> None:
    """CR, LF and other control characters in a name or company become spaces: the
    submission is accepted and stored, and the reply goes out with one To header and no
    header injected."""
    posted = await client.post(DOCUMENTS, json={**FORM, "name": name, "company": company})
    assert posted.status_code == 202, posted.text
    assert await count(app, FormSubmission) == 1 and await count(app, OutboxRow) == 1
    assert await deliver(app) == 1
    [received] = smtp.recorder.received
    assert received.rcpt_tos == [FORM["email"]]
    head = received.data.split(b"\r\n\r\n", 1)[0]
    assert b"\nBcc" not in head and b"\rBcc" not in head
    message = received.message
    assert message.get_all("Bcc") is None and len(message.get_all("To") or []) == 1
    assert message["To"].addresses[0].display_name == seen
    async with app.state.runtime.sessions() as session:
        lead = await session.scalar(select(Lead))
        assert lead is not None and "\n" not in (lead.name or "") and "\r" not in lead.company
        conversation = await session.scalar(select(Conversation))
        assert conversation is not None


async def test_a_name_with_line_breaks_in_a_browser_form_is_kept(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer
) -> None:
    """``name=山田%0A太郎`` from a browser is accepted too, and its reply sent."""
    posted = await client.post(
        DOCUMENTS,
        content="&".join(f"{k}={v}" for k, v in {**FORM, "name": "山田%0A太郎"}.items()).encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert posted.status_code == 303, posted.text
    assert await deliver(app) == 1
    assert smtp.recorder.received[0].message["To"].addresses[0].display_name == "山田 太郎"
