"""Signed CRM webhooks through the whole app, on both databases: leads chat in (FixedClock),
reps work the handoffs, the scheduler and outbox are run by hand, and a real receiver on
loopback (``tests/crmstub.py``) verifies every signature with ``sign.verify``, dedupes on
the event id, and can be told to fail (503 and recover; 400: given up)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from sqlalchemy import select

from autoreply.channels.crm.sign import SignatureError, verify
from autoreply.clock import FixedClock
from autoreply.domain.crm_schema import event_schema
from autoreply.service import crm, events, reps
from autoreply.store.models import OutboxRow
from autoreply.web.app import create_app
from tests.conftest import ROOT, make_settings, tokyo
from tests.crmstub import CrmStub, crm_stub
from tests.integration.conftest import PASSWORD
from tests.integration.test_cli import run
from tests.integration.test_email import FORM
from tests.integration.test_sla import World, chat, page_text, write_routing

SECRET = "whsec-crm-test-0123456789"
HUB_SECRET = "whsec-hub-test-9876543210"
TUESDAY = tokyo(2026, 11, 24, 10, 0)
#: A chat to a booked meeting: the lead, its name, company and email (one answer each), the
#: handoff.
#: A chat that books a meeting: the meeting is confirmed in the turn before the handoff is
#: written, so meeting.booked comes first (its handoff_id is then null; the lead links them).
CHAT = [
    "lead.created",
    "lead.updated",
    "lead.updated",
    "lead.updated",
    "meeting.booked",
    "handoff.created",
]
TEAM = """\
routing:
  teams:
    - id: inside
      name: インサイドセールス
      members: [ito@example.com, kato@example.com]
      notify: {}
  fallback: inside
"""


def time() -> float:
    return TUESDAY.timestamp()


def validate(event: dict[str, Any]) -> None:
    """Every event is valid against its published JSON Schema."""
    jsonschema.validate(event, event_schema(event["type"]))


@asynccontextmanager
async def world(
    url: str, clock: FixedClock, stub: CrmStub, tmp_path: Path, webhooks: str | None = None
) -> AsyncIterator[World]:
    """The app with the settings' webhook (and a webhooks file, if given) at the receiver."""
    extra: dict[str, Any] = {"crm_webhooks": tmp_path / "none.yaml"}
    if webhooks is not None:
        path = tmp_path / "webhooks.yaml"
        path.write_text(webhooks.replace("{stub}", stub.base), encoding="utf-8")
        extra["crm_webhooks"] = path
    settings = make_settings(
        database_url=url,
        routing=write_routing(tmp_path, TEAM),
        run_worker=False,
        crm_webhook_url=stub.url("default"),
        crm_webhook_secret=SECRET,
        **extra,
    )
    app = create_app(settings, clock=clock, migrate=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as web:
            built = World(app, web)
            await built.rep("伊藤 一郎", "ito@example.com", password=PASSWORD)
            await built.rep("加藤 次郎", "kato@example.com", password=PASSWORD)
            await built.rep("上田 部長", "boss@example.com", role="manager", password=PASSWORD)
            yield built


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(TUESDAY)


@pytest.fixture
async def receiver(clock: FixedClock) -> AsyncIterator[CrmStub]:
    """The receiver, its clock the sender's (a FixedClock): the replay window holds."""
    async with crm_stub(SECRET, lambda: clock.now().timestamp()) as stub:
        yield stub


async def crm_rows(w: World) -> list[OutboxRow]:
    async with w.runtime.sessions() as session:
        found = await session.scalars(
            select(OutboxRow).where(OutboxRow.channel == "crm").order_by(OutboxRow.id)
        )
        return list(found)


def types(stub: CrmStub, lead_id: int | None = None) -> list[str]:
    return [e["type"] for e in stub.events if lead_id is None or e["lead"]["id"] == lead_id]


async def test_a_leads_events_arrive_signed_in_order_and_valid(
    migrated: str, clock: FixedClock, receiver: CrmStub, tmp_path: Path
) -> None:
    """Chat to a booked meeting, a missed deadline passed on then escalated to the manager,
    contacted, reassigned by the manager: each step one event, in the order it happened,
    each signed (verified by the receiver), its headers naming it, valid to its schema."""
    async with world(migrated, clock, receiver, tmp_path) as w:
        row = await w.handoff(await chat(w))
        await w.drain()
        assert types(receiver) == CHAT
        created = receiver.events[CHAT.index("handoff.created")]["data"]["handoff"]
        booked = receiver.events[4]["data"]["meeting"]
        assert booked["sequence"] == 0 and booked["status"] == "confirmed"
        assert created["owner"]["email"] == "ito@example.com"
        assert created["team"] == "inside" and created["tier"] in "ABC"
        assert created["timing"] == "within_1_month" and created["challenge"]
        assert created["source"]["page"] == "https://example.com/"
        changes = [e["data"]["changed"] for e in receiver.events[:4]]
        assert changes == [[], ["name"], ["company"], ["email"]]
        assert receiver.events[3]["lead"]["name"] == "山田太郎"
        assert receiver.events[3]["lead"]["email"].startswith("lead-")

        clock.set(tokyo(2026, 11, 24, 10, 15))  # 10:05 + 10 minutes: passed to 加藤
        await w.drain()
        clock.set(tokyo(2026, 11, 24, 10, 30))  # the second miss: the manager
        await w.drain()
        clock.set(tokyo(2026, 11, 24, 10, 40))
        async with w.runtime.sessions() as session, session.begin():
            kato = await reps.find_rep(session, "kato@example.com")
            await reps.mark_contacted(session, row.id, kato, clock.now(), w.runtime.owners)
        await w.login("boss@example.com")
        clock.set(tokyo(2026, 11, 24, 10, 45))
        async with w.runtime.sessions() as session, session.begin():
            boss = await reps.find_rep(session, "boss@example.com")
            ito = await reps.find_rep(session, "ito@example.com")
            await w.runtime.owners.reassign(session, row.id, ito.id, boss, clock.now())
        await w.drain()

        assert types(receiver) == [
            *CHAT,
            "handoff.owner_changed",
            "handoff.escalated",
            "handoff.escalated",
            "handoff.contacted",
            "handoff.owner_changed",
        ]
        passed, level1, level2, contacted, reassigned = receiver.events[6:]
        assert passed["data"]["previous_owner"]["email"] == "ito@example.com"
        assert passed["data"]["handoff"]["owner"]["email"] == "kato@example.com"
        assert passed["lead"]["owner"]["email"] == "kato@example.com"  # the lead's, too
        assert passed["data"]["by"] is None  # the routing rules did it
        assert level1["data"]["level"] == 1
        assert [r["email"] for r in level1["data"]["to"]] == ["kato@example.com"]
        assert level2["data"]["level"] == 2 and level2["data"]["to"] == []
        assert contacted["data"]["by"]["email"] == "kato@example.com"
        assert contacted["data"]["handoff"]["status"] == "contacted"
        assert contacted["data"]["business_minutes"] == 40.0
        assert reassigned["data"]["by"]["email"] == "boss@example.com"
        assert reassigned["data"]["handoff"]["owner"]["email"] == "ito@example.com"

        assert len(receiver.requests) == len(receiver.events)  # no retries, no copies
        for request in receiver.requests:
            assert request.verified == "ok" and request.path == "/default"
            event = request.event
            assert request.headers["X-Autoreply-Event-Id"] == event["id"]
            assert request.headers["X-Autoreply-Event-Type"] == event["type"]
            assert request.headers["Content-Type"] == "application/json; charset=utf-8"
            if event["lead"]["name"]:  # UTF-8 as itself, not \\u escapes
                assert "山田太郎".encode() in request.body
            assert b": " not in request.body and b", " not in request.body  # compact
            validate(event)
        times = [e["occurred_at"] for e in receiver.events]
        assert times == sorted(times)
        rows = await crm_rows(w)
        assert [r.payload["event"]["id"] for r in rows] == [e["id"] for e in receiver.events]
        assert {r.status for r in rows} == {"sent"}


async def test_503_is_retried_with_the_same_body_and_the_leads_next_events_wait(
    migrated: str, clock: FixedClock, receiver: CrmStub, tmp_path: Path
) -> None:
    """The receiver is down (503) twice: the first event is retried with backoff, the same
    bytes and event id each time, a fresh signature; the lead's later events wait behind it
    (never overtaking), then everything arrives once, in order."""
    async with world(migrated, clock, receiver, tmp_path) as w:
        receiver.fail(503, times=2)
        await chat(w)
        await w.drain()
        assert [r.status for r in receiver.requests] == [503]
        rows = await crm_rows(w)
        assert [r.status for r in rows] == ["pending"] * len(CHAT)
        assert rows[0].attempts == 1 and "crm default: 503 stub says 503" in rows[0].last_error
        assert receiver.events == []

        clock.advance(timedelta(seconds=5))  # not yet due again
        await w.drain()
        assert len(receiver.requests) == 1
        clock.advance(timedelta(minutes=1))
        await w.drain()
        assert [r.status for r in receiver.requests] == [503, 503]
        clock.advance(timedelta(minutes=2))
        await w.drain()
        assert [r.status for r in receiver.requests] == [503, 503] + [204] * len(CHAT)
        assert types(receiver) == CHAT

        first = receiver.requests[:3]
        assert first[0].body == first[1].body == first[2].body
        assert len({r.headers["X-Autoreply-Event-Id"] for r in first}) == 1
        stamps = [r.headers["X-Autoreply-Signature"].split(",")[0] for r in first]
        assert len(set(stamps)) == 3, "each attempt is signed at its own moment"
        assert all(r.verified == "ok" for r in receiver.requests)
        assert {r.status for r in await crm_rows(w)} == {"sent"}


async def test_a_lost_answer_sends_a_copy_with_the_same_id_which_the_receiver_ignores(
    migrated: str, clock: FixedClock, receiver: CrmStub, tmp_path: Path
) -> None:
    """The receiver took the event but the worker died before marking it sent (its lease
    runs out): the copy carries the same event id and body, and deduping on the id keeps
    it once."""
    async with world(migrated, clock, receiver, tmp_path) as w:
        await chat(w)
        rows = await crm_rows(w)
        worker = w.runtime.worker
        [item] = [i for i in await worker._claim() if i.id == rows[0].id] or [None]
        assert item is not None
        await worker.transports["crm"].send(item, clock.now())  # accepted, never marked
        clock.advance(worker.policy.lease + timedelta(seconds=1))
        await w.drain()
        ids = [r.headers["X-Autoreply-Event-Id"] for r in receiver.requests]
        assert ids[0] == ids[1] and receiver.requests[0].body == receiver.requests[1].body
        assert types(receiver) == CHAT
        assert len({e["id"] for e in receiver.events}) == len(CHAT)


async def test_400_is_given_up_shown_to_managers_and_the_next_event_goes_on(
    migrated: str, clock: FixedClock, receiver: CrmStub, tmp_path: Path
) -> None:
    """A 400 is final: the row fails at once (no retry), the lead's next events are sent,
    and the manager's notifications page names the CRM endpoint, the event and the answer;
    a rep does not see that page."""
    async with world(migrated, clock, receiver, tmp_path) as w:
        receiver.fail(400)
        await chat(w)
        await w.drain()
        assert [r.status for r in receiver.requests] == [400] + [204] * (len(CHAT) - 1)
        assert types(receiver) == CHAT[1:]
        rows = await crm_rows(w)
        assert [r.status for r in rows] == ["failed"] + ["sent"] * (len(CHAT) - 1)
        assert rows[0].attempts == 1 and "crm default: 400" in rows[0].last_error

        await w.login("boss@example.com")
        page = page_text((await w.web.get("/rep/notifications")).text)
        assert "CRM Webhook（default・lead.created）" in page
        assert "失敗" in page and "crm default: 400 stub says 400" in page
        await w.web.post("/rep/logout")
        assert "問題はありません" not in page


async def test_the_same_fact_twice_is_one_event(
    migrated: str, clock: FixedClock, receiver: CrmStub, tmp_path: Path
) -> None:
    """Contacted twice, a handoff written again, a lead starting a second chat: nothing is
    sent twice; an emit of the same key gives the same id and queues nothing more."""
    async with world(migrated, clock, receiver, tmp_path) as w:
        row = await w.handoff(await chat(w))
        for _ in range(2):
            async with w.runtime.sessions() as session, session.begin():
                ito = await reps.find_rep(session, "ito@example.com")
                await reps.mark_contacted(session, row.id, ito, clock.now(), w.runtime.owners)
        async with w.runtime.sessions() as session, session.begin():
            fresh = await session.get(type(row), row.id)
            assert fresh is not None
            for _ in range(2):
                await crm.handoff_created(session, w.runtime.content, fresh, clock.now())
            again = await events.emit(
                session,
                w.runtime.content,
                "handoff.created",
                lead_id=row.lead_id,
                key=str(row.id),
                at=clock.now(),
                data={"handoff": await events.handoff_part(session, w.runtime.content, fresh)},
            )
        await w.drain()
        assert again == events.event_id("handoff.created", str(row.id))
        assert types(receiver) == [*CHAT, "handoff.contacted"]
        assert len(receiver.requests) == len(CHAT) + 1 == len(await crm_rows(w))


async def test_a_webhook_from_the_file_gets_only_its_events_signed_with_its_secret(
    migrated: str,
    clock: FixedClock,
    receiver: CrmStub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """flows/webhooks.yaml adds an endpoint with its own secret (from the environment) and
    event list: it receives those events only; the settings' endpoint all of them."""
    monkeypatch.setenv("AUTOREPLY_TEST_HUB_SECRET", HUB_SECRET)
    file = """\
webhooks:
  - name: hub
    url: "{stub}/hub"
    secret_env: AUTOREPLY_TEST_HUB_SECRET
    events: [handoff.created]
"""
    receiver.secrets["hub"] = HUB_SECRET
    async with world(migrated, clock, receiver, tmp_path, file) as w:
        assert [h.name for h in w.runtime.content.webhooks] == ["default", "hub"]
        await chat(w)
        await w.drain()
        hub = [r for r in receiver.requests if r.path == "/hub"]
        assert [r.headers["X-Autoreply-Event-Type"] for r in hub] == ["handoff.created"]
        assert hub[0].verified == "ok" and hub[0].status == 204
        with pytest.raises(SignatureError, match="does not match"):  # not the default's
            verify(SECRET, hub[0].headers["X-Autoreply-Signature"], hub[0].body, time())
        default = [r for r in receiver.requests if r.path == "/default"]
        assert len(default) == len(CHAT)
        rows = await crm_rows(w)
        assert sorted(r.recipient.split(":")[0] for r in rows) == ["default"] * len(CHAT) + ["hub"]
        assert (
            json.loads(hub[0].body)["id"]
            == json.loads(default[CHAT.index("handoff.created")].body)["id"]
        )


async def test_a_form_lead_and_a_line_follow_are_new_leads_and_new_facts_update_them(
    migrated: str, clock: FixedClock, receiver: CrmStub, tmp_path: Path
) -> None:
    """A form post makes a lead (name, company, email known); the same address posting again
    with another company updates it; a LINE follow (the use case the LINE inbox calls) makes
    a lead known by its display name."""
    async with world(migrated, clock, receiver, tmp_path) as w:
        form = {**FORM, "email": "form-lead@example.com"}
        posted = await w.web.post("/forms/document-request", json=form)
        assert posted.status_code < 300, posted.text
        await w.drain()
        first = [e for e in receiver.events if e["type"].startswith("lead.")]
        assert [e["type"] for e in first] == ["lead.created"]
        assert sorted(first[0]["data"]["changed"]) == ["company", "email", "name"]
        assert first[0]["lead"]["email"] == "form-lead@example.com"

        clock.advance(timedelta(minutes=30))
        again = await w.web.post("/forms/document-request", json={**form, "company": "新社名"})
        assert again.status_code < 300, again.text
        await w.runtime.service.start(
            channel="line", identities=[("line", "U0123456789")], facts={"display_name": "ライン"}
        )
        await w.drain()
        leads = [e for e in receiver.events if e["type"].startswith("lead.")]
        assert [(e["type"], e["data"]["changed"]) for e in leads] == [
            ("lead.created", first[0]["data"]["changed"]),
            ("lead.updated", ["company"]),
            ("lead.created", ["display_name"]),
        ]
        assert leads[1]["lead"]["id"] == leads[0]["lead"]["id"]
        assert leads[2]["lead"]["line_user_id"] == "U0123456789"
        assert all(r.verified == "ok" and r.status == 204 for r in receiver.requests)


async def test_crm_schema_prints_and_writes_the_published_files(tmp_path: Path) -> None:
    """`autoreply crm schema --type T` prints one schema; `--write DIR` writes the files
    that are docs/crm/."""
    printed = run("crm", "schema", "--type", "meeting.no_show", cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == event_schema("meeting.no_show")
    written = run("crm", "schema", "--write", str(tmp_path / "out"), cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    docs = ROOT / "docs" / "crm"
    for path in sorted(docs.glob("*.json")):
        assert (tmp_path / "out" / path.name).read_text(encoding="utf-8") == path.read_text(
            encoding="utf-8"
        ), f"run: autoreply crm schema --write docs/crm ({path.name})"
    assert len(list((tmp_path / "out").iterdir())) == len(list(docs.glob("*.json")))
