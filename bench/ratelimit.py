"""What one rate-limit check costs: the database round trip every chat start now makes.

    python bench/ratelimit.py                      # SQLite file and the local PostgreSQL
    python bench/ratelimit.py --checks 5000 --concurrency 1,20
    python bench/ratelimit.py --postgres-url ''    # SQLite only

Each check is ``RateLimits.chat_start(address)`` as the route calls it (the shipped two
rules, a minute and an hour: one transaction, two reads, two upserts). Two cases:
"new address" (every check a new key: the upserts insert, as when each visitor is new)
and "same address" (one key, limits raised so nothing is refused: the upserts update one
hot row, the worst case for lock waits). With concurrency above 1, that many checks run
at once on one engine (a process), and the latency includes waiting for the connection or
the row lock. PostgreSQL runs in a fresh database that is dropped afterwards; SQLite in a
temporary file (WAL). Percentiles are nearest-rank (``stats.percentile``). A benchmark
never gates: the exit status is 0 however slow, 2 if it could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from server import SetupError, fresh_postgres, is_loopback_database
from stats import percentile

from autoreply.clock import SystemClock
from autoreply.config import Settings
from autoreply.service.limits import DatabaseCounters, LimitPolicy, RateLimits
from autoreply.store.db import create_engine, session_factory, upgrade

PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


@asynccontextmanager
async def databases(pg_url: str) -> AsyncIterator[list[tuple[str, str]]]:
    """(name, url) of each backend to measure, migrated."""
    with tempfile.TemporaryDirectory(prefix="autoreply-bench-") as tmp:
        found = [("SQLite (file, WAL)", f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")]
        if not pg_url:
            for _, url in found:
                await upgrade(url)
            yield found
            return
        async with fresh_postgres(pg_url) as (url, version):
            found.append((f"PostgreSQL {version.split()[0]}", url))
            for _, each in found:
                await upgrade(each)
            yield found


async def measure(url: str, *, checks: int, concurrency: int, same_key: bool) -> list[float]:
    """Milliseconds per check, ``concurrency`` checks in flight at a time."""
    limit = checks * 10 if same_key else 10
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        chat_starts_per_minute=limit,
        chat_starts_per_hour=limit,
    )
    engine = create_engine(url)
    limits = RateLimits(
        DatabaseCounters(session_factory(engine)),
        SystemClock(),
        LimitPolicy.from_settings(settings),
    )
    latencies: list[float] = []
    tag = f"{time.monotonic_ns()}"
    next_check = iter(range(checks))

    async def worker() -> None:
        for i in next_check:
            key = f"198.51.100.{tag}" if same_key else f"198.51.{tag}.{i}"
            started = time.perf_counter()
            await limits.chat_start(key)
            latencies.append((time.perf_counter() - started) * 1000)

    try:
        for i in range(50):  # warm-up: connections, statement caches
            await limits.chat_start(f"warm-{tag}-{i}")
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await engine.dispose()
    return latencies


def _row(name: str, case: str, concurrency: int, ms: list[float], seconds: float) -> str:
    ordered = sorted(ms)
    p50, p99 = percentile(ordered, 50), percentile(ordered, 99)
    rate = len(ordered) / seconds if seconds > 0 else float("nan")
    return (
        f"{name:<22} {case:<13} {concurrency:>5} {len(ordered):>7} "
        f"{p50:>8.3f} {p99:>8.3f} {ordered[-1]:>8.2f} {rate:>10.0f}"
    )


async def main(args: argparse.Namespace) -> int:
    if args.postgres_url and not is_loopback_database(args.postgres_url):
        print("only a loopback PostgreSQL is used", file=sys.stderr)
        return 2
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    try:
        async with databases(args.postgres_url) as backends:
            print(
                f"{'backend':<22} {'case':<13} {'conc.':>5} {'checks':>7} "
                f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'checks/s':>10}"
            )
            for name, url in backends:
                for same_key in (False, True):
                    for level in levels:
                        started = time.perf_counter()
                        ms = await measure(
                            url, checks=args.checks, concurrency=level, same_key=same_key
                        )
                        case = "same address" if same_key else "new address"
                        print(_row(name, case, level, ms, time.perf_counter() - started))
    except SetupError as exc:
        print(f"cannot run: {exc}", file=sys.stderr)
        return 2
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=2000, help="checks per case (2000)")
    parser.add_argument(
        "--concurrency", default="1,20", help="checks in flight at once, comma-separated (1,20)"
    )
    parser.add_argument(
        "--postgres-url", default=PG_URL, help=f"PostgreSQL server ({PG_URL}); '' for none"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
