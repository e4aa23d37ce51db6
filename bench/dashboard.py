"""Benchmark of the manager's dashboard (``GET /rep/dashboard``) on a year of history:
100,000 handoffs and 1,000,000 messages by default, on SQLite and on PostgreSQL.

For each backend: a fresh database (a SQLite file in a temporary folder; on PostgreSQL the
database ``bench_dashboard``, dropped and created again, never ``test``), migrated, filled in
bulk by ``tests/dashboard_data.py`` (a year of leads on every channel, handoffs contacted or
not, SLA deadlines, bookings held or missed, 0.5次商談, case studies; every conversation's
messages), then ``ANALYZE``. The dashboard's cached facts are built once for the whole year
(timed: what the first view after an upgrade costs), then the page is requested through the
real app (``create_app`` with its lifespan, over ``httpx.ASGITransport``; the clock fixed
on the last day of the data), logged in as a manager, and timed per request:

- ``page 8 weeks``: the default view (the last 8 weeks: about 15,000 handoffs);
- ``page 8 weeks rep``: the same as a rep (only their own handoffs);
- ``page 1 year``: the whole year (100,000 handoffs);
- ``csv weekly 8 weeks``: one CSV download;
- ``page after 100 contacts``: the default view right after 100 handoffs of the range
  were contacted (their facts are recomputed by that view).

Prints one table (p50 / p99 / max in ms per backend and view). The target: the default
page under 300 ms. A benchmark never gates: the exit status is 0 however slow it is.

    PYTHONPATH=src python bench/dashboard.py
    PYTHONPATH=src python bench/dashboard.py --handoffs 20000 --messages 200000 --backends sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import make_url, text, update

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import make_settings, tokyo  # noqa: E402
from tests.dashboard_data import fill  # noqa: E402

from autoreply.bootstrap import build_content, open_session  # noqa: E402
from autoreply.clock import FixedClock  # noqa: E402
from autoreply.service import reports, reps  # noqa: E402
from autoreply.store import repos  # noqa: E402
from autoreply.store.db import create_engine, session_factory, upgrade  # noqa: E402
from autoreply.store.models import HandoffRow  # noqa: E402
from autoreply.web.app import create_app  # noqa: E402

NOW = tokyo(2026, 11, 27, 16, 30)
MANAGER = ("manager@example.com", "bench manager password 1")
REP = ("rep@example.com", "bench rep password 12345")
PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/bench_dashboard"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


async def _pg_fresh(url: str) -> None:
    parsed = make_url(url)
    if parsed.database in (None, "", "test", "postgres"):
        raise SystemExit(f"refusing to drop {parsed.database!r}: give a database of its own")
    if parsed.host not in LOOPBACK:
        raise SystemExit("only a PostgreSQL on loopback")
    conn = await asyncpg.connect(
        host=parsed.host, port=parsed.port or 5432, user=parsed.username or "postgres",
        password=parsed.password, database="postgres", timeout=10,
    )  # fmt: skip
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{parsed.database}"')
    finally:
        await conn.close()


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if not found:
        raise SystemExit("no CSRF token on the login page")
    return found.group(1)


async def _login(client: httpx.AsyncClient, email: str, password: str) -> None:
    page = await client.get("/rep/login")
    done = await client.post(
        "/rep/login", data={"email": email, "password": password, "csrf_token": _csrf(page.text)}
    )
    if done.status_code != 303:
        raise SystemExit(f"login failed: {done.status_code}")


CPU: list[float] = []  # this process's CPU ms of each timed request (app + SQLite threads)


async def _timed(client: httpx.AsyncClient, path: str, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started, cpu = time.perf_counter(), time.process_time()
        response = await client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        CPU.append((time.process_time() - cpu) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code}")
    return times


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _run(backend: str, url: str, args: argparse.Namespace) -> list[tuple[str, ...]]:
    settings = make_settings(database_url=url)
    await upgrade(url)
    async with open_session(settings) as session:
        await reps.create_rep(
            session, "部長", MANAGER[0], now=NOW, password=MANAGER[1], role="manager"
        )
        await reps.create_rep(session, "担当", REP[0], now=NOW, password=REP[1])
    engine = create_engine(url)
    calendar = build_content(settings, FixedClock(NOW)).calendar
    started = time.perf_counter()
    filled = await fill(
        engine, calendar, NOW, handoffs=args.handoffs, messages=args.messages, first_rep_id=3
    )
    fill_s = time.perf_counter() - started
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE"))
    started = time.perf_counter()
    async with session_factory(engine)() as session, session.begin():
        year = (NOW - timedelta(days=400), NOW + timedelta(days=1))
        stale, gone = await repos.stale_facts(session, *year)
        built = await reports.refresh_facts(session, calendar, stale, gone)
    facts_s = time.perf_counter() - started
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE"))
    print(
        f"{backend}: {filled.handoffs:,} handoffs, {filled.messages:,} messages, "
        f"{filled.conversations:,} conversations, {filled.bookings:,} bookings written in "
        f"{fill_s:.0f} s; facts of {built:,} handoffs built in {facts_s:.1f} s",
        flush=True,
    )
    app = create_app(settings, clock=FixedClock(NOW), migrate=False)
    rows: list[tuple[str, ...]] = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://bench") as manager,
            httpx.AsyncClient(transport=transport, base_url="http://bench") as rep,
        ):
            await _login(manager, *MANAGER)
            await _login(rep, *REP)
            views = [
                ("page 8 weeks", manager, "/rep/dashboard", args.requests),
                ("page 8 weeks rep", rep, "/rep/dashboard", args.requests),
                ("page 1 year", manager, "/rep/dashboard?from=2025-11-28", args.requests // 4 + 1),
                ("csv weekly 8 weeks", manager, "/rep/dashboard.csv?table=weekly", args.requests),
            ]  # fmt: skip
            for name, client, path, count in views:
                await _timed(client, path, 3)  # warm-up: templates, statement caches
                CPU.clear()
                times = await _timed(client, path, count)
                rows.append(_row(backend, name, times))
            after = []
            CPU.clear()
            for round_ in range(5):
                await _contact_some(engine, 100, round_)
                after += await _timed(manager, "/rep/dashboard", 1)
            rows.append(_row(backend, "page after 100 contacts", after))
    await engine.dispose()
    return rows


async def _contact_some(engine: Any, count: int, round_: int) -> None:
    """``count`` handoffs of the default range contacted now (their facts go stale)."""
    async with engine.begin() as conn:
        ids = (
            await conn.execute(
                text(
                    "SELECT id FROM handoffs WHERE created_at >= :start "
                    "ORDER BY id LIMIT :n OFFSET :skip"
                ),
                {"start": NOW - timedelta(weeks=7), "n": count, "skip": round_ * count},
            )
        ).scalars()
        await conn.execute(
            update(HandoffRow)
            .where(HandoffRow.id.in_(list(ids)))
            .values(contacted_at=NOW, updated_at=NOW, contacted_by=3)
        )


def _row(backend: str, name: str, times: list[float]) -> tuple[str, ...]:
    return (
        backend,
        name,
        str(len(times)),
        f"{statistics.median(times):.0f}",
        f"{_p(times, 0.99):.0f}",
        f"{max(times):.0f}",
        f"{statistics.median(CPU):.0f}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--handoffs", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=40, help="timed requests per view")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--postgres-url", default=PG_DEFAULT, help="dropped and re-created")
    args = parser.parse_args()
    rows: list[tuple[str, ...]] = []
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as folder:
        for backend in args.backends.split(","):
            if backend == "sqlite":
                url = f"sqlite+aiosqlite:///{folder}/dashboard.db"
            elif backend == "postgres":
                url = args.postgres_url
                asyncio.run(_pg_fresh(url))
            else:
                raise SystemExit(f"unknown backend {backend!r}")
            rows += asyncio.run(_run(backend, url, args))
    header = ("backend", "view", "requests", "p50 ms", "p99 ms", "max ms", "CPU p50 ms")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    cores = len(os.sched_getaffinity(0))
    print(
        f"\n{cores} CPUs, Python {platform.python_version()}; load average before "
        f"{load[0]:.1f}, after {os.getloadavg()[0]:.1f} (CPU: this process's CPU time per "
        "request, app and SQLite threads; PostgreSQL's own CPU is not in it)"
    )
    for row in [header, *rows]:
        print(
            "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


if __name__ == "__main__":
    main()
