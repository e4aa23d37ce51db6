"""Load benchmark of the web chat API: concurrent leads holding whole conversations.

    python bench/load.py                       # 50 concurrent leads, 200 conversations, SQLite
    python bench/load.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test
    python bench/load.py --profile             # + where a bot reply spends its time

By default the benchmark starts its own server (``python -m autoreply serve``) in a fresh
temporary directory, so the SQLite database is new; ``--url`` uses a running one. Only
loopback addresses are accepted, the number of requests is fixed and every phase has a
time limit. Latencies are measured on the client, per request, from sending the request
to having read the whole response. Percentiles are nearest-rank: p-th percentile = the
ceil(p/100 * n)-th smallest sample, always an observed latency (see bench/README.md).

Exit status: 0 whatever the latencies (a benchmark never gates), 1 if requests failed,
2 if the benchmark could not run (server did not start, bad options).

Code layout: this file is the command line; stats.py, driver.py, server.py and report.py
hold the measurements, the load, the server under test and the printed report.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path

from driver import make_client, run_baseline, run_conversations, wait_quiet
from report import environment, has_module, load_average, print_profile, report, write_json
from server import (
    BENCH,
    SetupError,
    is_loopback_database,
    is_loopback_url,
    profiling,
    server_gone,
    target,
)
from stats import Probes, postgres_seconds


async def bench(args: argparse.Namespace, workdir: Path) -> int:
    run_id = secrets.token_hex(3)
    load_before = load_average()
    async with (
        target(args, workdir) as where,
        make_client(where.url, args.leads, args.request_timeout, args.client_pool) as client,
    ):
        probes = Probes(
            server=where.server.cpu_seconds if where.server else None,
            database=postgres_seconds if where.backend.startswith("PostgreSQL") else None,
        )
        if args.warmup:
            await run_conversations(
                client,
                concurrency=1,
                total=args.warmup,
                run_id=run_id,
                book_ratio=0.0,
                seed=args.seed,
                think_ms=0,
                limit_seconds=args.max_seconds,
                first_index=10**6,
            )
            await run_baseline(client, concurrency=1, total=20, limit_seconds=30)
        if args.wait_quiet:
            await wait_quiet(args.wait_quiet)
        print(
            f"bot phase: {args.leads} concurrent leads, {args.conversations} conversations "
            f"against {where.url} ...",
            flush=True,
        )
        async with profiling(args.profile, where.server, args.profile_out, args.pyspy_rate):
            bots = await run_conversations(
                client,
                concurrency=args.leads,
                total=args.conversations,
                run_id=run_id,
                book_ratio=args.book_ratio,
                seed=args.seed,
                think_ms=args.think_ms,
                limit_seconds=args.max_seconds,
                probes=probes,
            )
        count = args.baseline_requests or max(bots.total.requests, args.leads)
        if args.wait_quiet:
            await wait_quiet(args.wait_quiet)
        print(f"baseline phase: {args.leads} concurrent clients, {count} GET /healthz ...")
        base = await run_baseline(
            client,
            concurrency=args.leads,
            total=count,
            limit_seconds=args.max_seconds,
            probes=probes,
        )
        env_line = environment(where.backend, where.workers, args.client_pool, load_before)
        died = ""
        if where.server is not None and (bots.total.errors or base.total.errors):
            died = await server_gone(where.server, client)
    results = report(args, env_line, bots, base, profiled=bool(args.profile and where.server))
    if died:
        print(f"\nERROR: {died}")
    print_profile(args, where.server is not None, len(bots.total.latencies))
    if args.json:
        write_json(args.json, results)
    return 1 if died or bots.total.errors + base.total.errors else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python bench/load.py",
        description=(
            "Load benchmark of the web chat API: concurrent simulated leads each hold a whole "
            "demo conversation (start, timing, challenge, then decline or book), against a "
            "GET /healthz baseline at the same concurrency. Loopback only."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--leads", type=int, default=50, help="concurrent leads (connections)")
    parser.add_argument("--conversations", type=int, default=200, help="conversations in all")
    parser.add_argument(
        "--book-ratio", type=float, default=0.2, help="share of leads who try to book a slot"
    )
    parser.add_argument(
        "--think-ms", type=float, default=0.0, help="mean pause of a lead between messages"
    )
    parser.add_argument(
        "--baseline-requests",
        type=int,
        default=0,
        help="GET /healthz requests (0: as many as the bot phase sent)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="seconds to wait at most for other processes to leave the CPUs idle first",
    )
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured conversations first")
    parser.add_argument("--seed", type=int, default=1, help="what leads say and pick")
    parser.add_argument(
        "--url", help="use this running server (loopback only) instead of starting one"
    )
    parser.add_argument(
        "--database-url",
        help="AUTOREPLY_DATABASE_URL of the server started (default: SQLite in a temp dir); "
        "for PostgreSQL a fresh database is created on that server and dropped afterwards",
    )
    parser.add_argument(
        "--reuse-database",
        action="store_true",
        help="use the PostgreSQL database of --database-url as is (no fresh database)",
    )
    parser.add_argument(
        "--workers", type=int, help="AUTOREPLY_WORKERS for the server started (if it honours it)"
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        const="cprofile",
        choices=["cprofile", "py-spy"],
        help="profile the server during the bot phase (cProfile by default)",
    )
    parser.add_argument(
        "--profile-out",
        type=Path,
        default=BENCH / "profile.out",
        help="where the profile is written",
    )
    parser.add_argument(
        "--client-pool",
        choices=["loopback", "httpx"],
        default="loopback",
        help="connection pool of the client: bench/_pool.py (O(1) per request) or httpx's own",
    )
    parser.add_argument("--pyspy-rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=25, help="functions listed from the profile")
    parser.add_argument("--target-p99-ms", type=float, default=50.0, help="the p99 goal")
    parser.add_argument("--request-timeout", type=float, default=30.0, help="seconds")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="time limit per phase")
    parser.add_argument("--ready-seconds", type=float, default=60.0, help="server start limit")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument(
        "--keep-workdir", action="store_true", help="keep the server's temporary directory"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.leads < 1 or args.conversations < 1:
        parser.error("--leads and --conversations must be at least 1")
    if not 0 <= args.book_ratio <= 1:
        parser.error("--book-ratio is between 0 and 1")
    if args.url and not is_loopback_url(args.url):
        parser.error(f"refusing --url {args.url!r}: only 127.0.0.1, localhost or ::1")
    if args.database_url and not is_loopback_database(args.database_url):
        parser.error("refusing --database-url: the database must be on a loopback address")
    if args.profile == "cprofile" and (args.workers or 1) > 1:
        parser.error("cProfile sees one process: use --profile py-spy with --workers")
    if args.profile == "py-spy" and not _has_program("py-spy"):
        parser.error("py-spy is not installed (pip install py-spy)")
    if args.profile == "py-spy" and args.profile_out == BENCH / "profile.out":
        args.profile_out = BENCH / "profile.pyspy.txt"
    args.profile_out = args.profile_out.resolve()
    with _workdir(args.keep_workdir) as workdir:
        try:
            return _run(bench(args, workdir))
        except SetupError as exc:
            print(f"load.py: {exc}", file=sys.stderr)
            if exc.server is not None:
                print(f"--- server log ({exc.server.log}) ---", file=sys.stderr)
                print(exc.server.log_tail(), file=sys.stderr)
            return 2


def _has_program(name: str) -> bool:
    return shutil.which(name) is not None


@contextlib.contextmanager
def _workdir(keep: bool) -> Iterator[Path]:
    if keep:
        path = Path(tempfile.mkdtemp(prefix="autoreply-bench-"))
        print(f"server working directory: {path}")
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="autoreply-bench-") as name:
        yield Path(name)


def _run(coroutine: Awaitable[int]) -> int:
    """Run on uvloop when installed (a cheaper client steals less CPU from the server)."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if has_module("uvloop"):
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coroutine)  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(main())
