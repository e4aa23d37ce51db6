"""The load driver: simulated leads holding whole conversations, the /healthz baseline, phases."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from _pool import LoopbackPool
from stats import Probes, Recorder, machine_seconds

MAX_TURNS = 14  # a conversation longer than this is not following the demo flow
MAX_SLOT_PICKS = 3  # a booking lead whose slot keeps being taken gives up and declines

TIMINGS = (
    ("within_1_month", "1か月以内"),
    ("within_3_months", "3か月以内"),
    ("within_6_months", "半年以内"),
    ("within_12_months", "1年以内"),
    ("undecided", "未定・情報収集中"),
)
CHALLENGES = (
    "夜間の問い合わせ対応が遅れています",
    "週末に届く見積依頼への返信が月曜になってしまい、競合に先を越されています",
    "問い合わせフォームからの商談化率が低く、初回の返信に時間がかかっています",
    "営業の人手が足りず、資料請求への折り返しが2〜3日後になっています",
    "海外代理店からの問い合わせに時差があって即答できません",
    "展示会後のリード対応が追いつかず、フォローが漏れています",
    "インサイドセールスの立ち上げを検討していて、一次対応を自動化したいです",
    "問い合わせ内容がばらばらで、担当者に引き継ぐ前のヒアリングに手間がかかります",
    "デモの日程調整のメールの往復が多く、商談までに1週間以上かかっています",
    "休日の問い合わせを取りこぼしていて、機会損失になっていると感じます",
)
NAMES = ("山田 太郎", "佐藤 花子", "鈴木 一郎", "高橋 美咲", "田中 健", "伊藤 さくら")
COMPANIES = (
    "株式会社ハルカゼ精機",
    "みなと台ハウジング株式会社",
    "株式会社ひなたキャリアリンク",
    "ユキワ医療機材株式会社",
    "株式会社あおば物流",
    "株式会社テンリュウ製作所",
)


class RequestFailed(Exception):
    """A request of a conversation failed (recorded already); the conversation stops."""


async def timed(
    recorder: Recorder, step: str, send: Callable[[], Awaitable[httpx.Response]], expect: int
) -> httpx.Response:
    """Send one request, record its latency under ``step`` (or the failure), return it."""
    started = time.perf_counter()
    try:
        response = await send()
    except httpx.HTTPError as exc:
        recorder.failed(step, f"{type(exc).__name__}: {exc}")
        raise RequestFailed from exc
    ms = (time.perf_counter() - started) * 1000
    if response.status_code != expect:
        recorder.failed(step, f"HTTP {response.status_code}: {response.text[:200]}")
        raise RequestFailed
    recorder.ok(step, ms)
    return response


@dataclass
class Lead:
    """What one simulated lead will say; ``books`` leads pick a slot, the others decline."""

    index: int
    books: bool
    timing: tuple[str, str]
    answers: list[tuple[str, str]]  # (step name, text), said in order when text is asked

    @classmethod
    def make(cls, index: int, run_id: str, book_ratio: float, seed: int) -> Lead:
        rng = random.Random(seed * 1_000_003 + index)
        return cls(
            index=index,
            books=rng.random() < book_ratio,
            timing=rng.choice(TIMINGS),
            answers=[
                ("challenge", rng.choice(CHALLENGES)),
                ("name", rng.choice(NAMES)),
                ("company", rng.choice(COMPANIES)),
                ("email", f"lead{index}.{run_id}@example.com"),
            ],
        )

    def visitor(self, run_id: str) -> str:
        return f"bench-{run_id}-{self.index:06d}"


def _kinds(replies: list[dict[str, Any]]) -> set[str]:
    return {str(r.get("kind")) for r in replies}


def _asks_contact(replies: list[dict[str, Any]]) -> bool:
    """Whether the bot asks for a way to reach the lead (its 「連絡先を伝えない」 choice)."""
    return any(
        option.get("value") == "declined"
        for reply in replies
        if reply.get("kind") == "choices"
        for option in reply.get("options", [])
    )


def _offered(replies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        slot
        for reply in replies
        if reply.get("kind") == "slots"
        for day in reply.get("days", [])
        for slot in day.get("slots", [])
    ]


async def converse(
    client: httpx.AsyncClient,
    lead: Lead,
    run_id: str,
    recorder: Recorder,
    think_ms: float,
    rng: random.Random,
    ended: Callable[[Lead, str, float], None] | None = None,
) -> None:
    """Hold one whole conversation, answering whatever the bot asks, as the widget would.

    With ``think_ms``, the lead pauses a random 0..2*think_ms before every request, the
    first one included (so leads arrive spread out rather than all at the same instant).
    ``ended(lead, step, sent)`` is called for the turn that ends the conversation (the one
    that writes the handoff), with the wall-clock time (``time.time()``) its request was sent.
    """
    if think_ms:
        await asyncio.sleep(rng.uniform(0, 2 * think_ms) / 1000)
    start_body = {
        "page": {"url": "https://example.com/", "title": "夜間・休日の自動応答 | 料金"},
        "visitor": lead.visitor(run_id),
    }
    response = await timed(
        recorder,
        "start",
        lambda: client.post("/api/chat/conversations", json=start_body),
        201,
    )
    body = response.json()
    url = f"/api/chat/conversations/{body['conversation_id']}/messages"
    headers = {"Authorization": f"Bearer {body['token']}"}
    replies: list[dict[str, Any]] = body["replies"]
    status = str(body["status"])
    answers = list(lead.answers)
    picks = 0
    for _ in range(MAX_TURNS):
        if status != "active":
            recorder.outcomes["ended"] += 1
            return
        kinds = _kinds(replies)
        offered = _offered(replies)
        message: dict[str, str]
        if "slots" in kinds and offered and lead.books and picks < MAX_SLOT_PICKS:
            slot = rng.choice(offered)
            message = {"slot": str(slot["id"]), "label": str(slot["label"])}
            step = "slot" if picks == 0 else "slot (retry)"
            picks += 1
        elif "slots" in kinds:
            message = {"slot": "decline", "label": "今回は予約しない"}
            step = "decline"
        elif "choices" in kinds and _asks_contact(replies):
            # Declined, so the bot asks how a rep can follow up: the lead gives the address.
            message = {"text": dict(lead.answers)["email"]}
            step = "contact"
        elif "choices" in kinds:
            value, label = lead.timing
            message = {"choice": value, "label": label}
            step = "timing"
        elif answers:
            step, text = answers.pop(0)
            message = {"text": text}
        else:
            break
        if think_ms:
            await asyncio.sleep(rng.uniform(0, 2 * think_ms) / 1000)
        send = functools.partial(client.post, url, json=message, headers=headers)
        sent = time.time()
        response = await timed(recorder, step, send, 200)
        body = response.json()
        replies, status = body["replies"], str(body["status"])
        if ended is not None and status != "active":
            ended(lead, step, sent)
        if step == "challenge" and "slots" not in _kinds(replies):
            recorder.outcomes["no slot offered"] += 1
        if step.startswith("slot") and "slots" in _kinds(replies):
            recorder.outcomes["slot taken by another lead"] += 1
        if step == "decline":
            recorder.outcomes["declined"] += 1
        if step == "email" and status != "active":
            recorder.outcomes["booked"] += 1
        if step == "contact" and status != "active":
            recorder.outcomes["declined, gave a contact"] += 1
    recorder.outcomes["incomplete (did not follow the demo flow)"] += 1


async def run_conversations(
    client: httpx.AsyncClient,
    *,
    concurrency: int,
    total: int,
    run_id: str,
    book_ratio: float,
    seed: int,
    think_ms: float,
    limit_seconds: float,
    probes: Probes | None = None,
    first_index: int = 0,
) -> Recorder:
    """``concurrency`` leads at a time, ``total`` conversations in all (a closed loop)."""
    recorder = Recorder()
    indexes = iter(range(first_index, first_index + total))

    async def worker(number: int) -> None:
        rng = random.Random(seed * 7919 + number)
        for index in indexes:
            lead = Lead.make(index, run_id, book_ratio, seed)
            with contextlib.suppress(RequestFailed):
                await converse(client, lead, run_id, recorder, think_ms, rng)

    await run_phase(recorder, [worker(n) for n in range(concurrency)], limit_seconds, probes)
    return recorder


async def run_baseline(
    client: httpx.AsyncClient,
    *,
    concurrency: int,
    total: int,
    limit_seconds: float,
    probes: Probes | None = None,
) -> Recorder:
    """The same concurrency hammering GET /healthz: the cost of HTTP + the framework."""
    recorder = Recorder()
    counter = iter(range(total))

    async def worker() -> None:
        for _ in counter:
            with contextlib.suppress(RequestFailed):
                await timed(recorder, "healthz", lambda: client.get("/healthz"), 200)

    await run_phase(recorder, [worker() for _ in range(concurrency)], limit_seconds, probes)
    return recorder


async def run_phase(
    recorder: Recorder, workers: list[Any], limit_seconds: float, probes: Probes | None
) -> None:
    """Run ``workers`` (coroutines) to the end or the time limit, recording into
    ``recorder`` the wall time and the CPU the server, PostgreSQL, this client and the
    machine used meanwhile."""
    server_cpu = probes.server if probes else None
    database_cpu = probes.database if probes else None
    server_before = server_cpu() if server_cpu else (math.nan, math.nan)
    database_before = database_cpu() if database_cpu else math.nan
    client_before = time.process_time()
    machine_before = machine_seconds()
    started = time.perf_counter()
    tasks = [asyncio.ensure_future(w) for w in workers]
    try:
        async with asyncio.timeout(limit_seconds):
            await asyncio.gather(*tasks)
    except TimeoutError:
        recorder.cut_short = True
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    recorder.seconds = time.perf_counter() - started
    recorder.client_cpu = time.process_time() - client_before
    machine_after = machine_seconds()
    recorder.machine_cpu = machine_after[0] - machine_before[0]
    recorder.stolen_cpu = machine_after[1] - machine_before[1]
    if server_cpu:
        after = server_cpu()
        if after[0] >= server_before[0]:  # else a process died: its time is gone
            recorder.server_cpu = after[0] - server_before[0]
            recorder.server_loop_cpu = after[1] - server_before[1]
    if database_cpu:
        recorder.database_cpu = database_cpu() - database_before


def make_client(url: str, leads: int, request_timeout: float, pool: str) -> httpx.AsyncClient:
    """One connection per lead and a few spare, so requests never queue inside the client;
    ``pool`` is "loopback" (bench/_pool.py, O(1) per request) or "httpx" (httpx's own)."""
    connections = leads + 4
    timeout = httpx.Timeout(request_timeout)
    if pool == "httpx":
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        return httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout)
    return httpx.AsyncClient(
        base_url=url, transport=LoopbackPool(max_connections=connections), timeout=timeout
    )


async def wait_quiet(limit_seconds: float, threshold: float = 0.15) -> None:
    """Wait (at most ``limit_seconds``) until the machine is idle: a shared machine's other
    work (tests, browsers) steals the cores the server and client need."""
    deadline = time.monotonic() + limit_seconds
    while True:
        before = machine_seconds()[0]
        await asyncio.sleep(2)
        busy = (machine_seconds()[0] - before) / 2
        if math.isnan(busy) or busy < threshold:
            return
        if time.monotonic() >= deadline:
            print(f"the machine is still busy ({busy:.2f} cores): measuring anyway", flush=True)
            return
        print(f"waiting for a quiet machine ({busy:.2f} cores busy) ...", flush=True)
