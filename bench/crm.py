"""The handoff CSV export at scale, and what a CRM event costs the transaction that emits it.

    PYTHONPATH=src python bench/crm.py                       # SQLite, 10,000 and 100,000
    python bench/crm.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test
    python bench/crm.py --sizes 1000,10000

For each size, a fresh database (a SQLite file in a temporary folder, or a new PostgreSQL
database next to the one named) is filled with that many leads, conversations and
handoffs (each record with a 12-message transcript, as real handoffs carry) and exported
with ``service.crm.export_csv`` (its chunks encoded to UTF-8 as the route does): once
timed, once under ``tracemalloc`` for the peak of Python memory the export allocated (the
streaming claim: it must not grow with the number of rows). Then ``--events``
``handoff.created`` events are emitted, one transaction each, with one webhook configured,
against the same transactions with none (``emit`` returns before any query).

Prints one table. Exit status 0 (a benchmark never gates), 2 if it could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from tests.conftest import make_settings  # noqa: E402

from autoreply.bootstrap import build_content  # noqa: E402
from autoreply.clock import FixedClock  # noqa: E402
from autoreply.domain.crm_events import Webhook  # noqa: E402
from autoreply.service import crm  # noqa: E402
from autoreply.store.db import create_engine, session_factory, upgrade  # noqa: E402
from autoreply.store.models import Conversation, HandoffRow, Lead  # noqa: E402

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
BATCH = 5000


def record(n: int) -> dict[str, Any]:
    line = "夜間の問い合わせ対応が遅れていて、翌朝まで返信できないことが多いです。"
    return {
        "channel": "web",
        "source": {"url": "https://example.com/pricing", "utm": {"source": "google"}},
        "timing": {"bucket": "within_1_month", "text": "1か月以内"},
        "challenge": line,
        "topics": ["夜間対応", "料金"],
        "first_line": f"山田様{n}、お問い合わせありがとうございます。" + line,
        "first_response_seconds": 1.2,
        "transcript": [
            {"direction": "in" if i % 2 else "out", "text": line, "at": NOW.isoformat()}
            for i in range(12)
        ],
    }


async def seed(url: str, count: int) -> None:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session, session.begin():
            for start in range(0, count, BATCH):
                ids = range(start + 1, min(count, start + BATCH) + 1)
                await session.execute(
                    insert(Lead),
                    [
                        {
                            "id": i,
                            "created_at": NOW,
                            "updated_at": NOW,
                            "name": f"山田 太郎{i}",
                            "company": f"株式会社サンプル{i}",
                            "email": f"lead{i}@example.com",
                        }
                        for i in ids
                    ],
                )
                await session.execute(
                    insert(Conversation),
                    [
                        {
                            "id": i,
                            "public_id": uuid.uuid4().hex,
                            "lead_id": i,
                            "channel": "web",
                            "flow_id": "demo-ja",
                            "flow_version": 1,
                            "status": "ended",
                            "state": {},
                            "source": {},
                            "created_at": NOW,
                            "updated_at": NOW,
                            "version": 1,
                        }
                        for i in ids
                    ],
                )
                await session.execute(
                    insert(HandoffRow),
                    [
                        {
                            "id": i,
                            "conversation_id": i,
                            "lead_id": i,
                            "reason": "booked",
                            "tier": "ABC"[i % 3],
                            "score": 50 + i % 40,
                            "status": "waiting",
                            "record": record(i),
                            "created_at": NOW + timedelta(seconds=i),
                            "updated_at": NOW,
                            "team": "inside",
                            "due_at": NOW + timedelta(minutes=5),
                        }
                        for i in ids
                    ],
                )
    finally:
        await engine.dispose()


async def export(url: str, content: Any) -> tuple[float, int, int]:
    """Seconds and bytes of one whole export (encoded as the route sends it)."""
    engine = create_engine(url)
    try:
        started = time.perf_counter()
        size = 0
        async for chunk in crm.export_csv(session_factory(engine), content):
            size += len(chunk.encode("utf-8"))  # what a download would send
        return time.perf_counter() - started, size, 0
    finally:
        await engine.dispose()


async def traced_peak(url: str, content: Any) -> float:
    engine = create_engine(url)
    try:
        tracemalloc.start()
        async for _chunk in crm.export_csv(session_factory(engine), content):
            pass
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return peak / 1e6
    finally:
        await engine.dispose()


async def emit_cost(url: str, content: Any, events: int) -> tuple[float, float]:
    """Median milliseconds of a transaction emitting ``handoff.created`` for one handoff,
    with no webhook (returns at once) and with one."""
    engine = create_engine(url)
    sessions = session_factory(engine)
    results = []
    try:
        for hooks in ((), (Webhook("default", "https://crm.example.com/in", "x" * 32),)):
            content.webhooks = hooks
            times = []
            for n in range(1, events + 1):
                started = time.perf_counter()
                async with sessions() as session, session.begin():
                    row = await session.get(HandoffRow, n)
                    if row is None:
                        raise SystemExit(2)
                    await crm.handoff_created(session, content, row, NOW)
                times.append(time.perf_counter() - started)
            results.append(statistics.median(times) * 1000)
    finally:
        content.webhooks = ()
        await engine.dispose()
    return results[0], results[1]


async def fresh_database(base: str, folder: Path, label: str) -> str:
    if base.startswith("sqlite"):
        return f"sqlite+aiosqlite:///{folder / f'{label}.db'}"
    import asyncpg

    name = f"autoreply_bench_crm_{label}_{uuid.uuid4().hex[:6]}"
    parsed = make_url(base)
    conn = await asyncpg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, password=parsed.password
    )
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return parsed.set(database=name).render_as_string(hide_password=False)


async def drop(url: str) -> None:
    if url.startswith("sqlite"):
        return
    import asyncpg

    parsed = make_url(url)
    conn = await asyncpg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, password=parsed.password
    )
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
    finally:
        await conn.close()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="sqlite")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    content = build_content(make_settings(), FixedClock(NOW))
    backend = "SQLite" if args.database_url.startswith("sqlite") else "PostgreSQL"
    print(f"handoff CSV export and CRM emit, {backend}, Python {sys.version.split()[0]}")
    print(
        f"{'handoffs':>9}{'seed s':>9}{'export s':>10}{'rows/s':>10}{'MB out':>9}"
        f"{'peak MB':>9}{'emit off ms':>13}{'emit on ms':>12}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            url = await fresh_database(args.database_url, Path(tmp), str(size))
            try:
                await upgrade(url)
                started = time.perf_counter()
                await seed(url, size)
                seeded = time.perf_counter() - started
                seconds, written, _ = await export(url, content)
                peak = await traced_peak(url, content)
                off, on = await emit_cost(url, content, min(args.events, size))
                print(
                    f"{size:>9}{seeded:>9.1f}{seconds:>10.2f}{size / seconds:>10.0f}"
                    f"{written / 1e6:>9.1f}{peak:>9.1f}{off:>13.2f}{on:>12.2f}"
                )
            finally:
                await drop(url)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
