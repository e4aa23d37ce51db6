"""Notification latency: from a handoff to Slack accepting its message, and what notifying
costs the chat turn (issue 12: p99 under 2 s at 50 concurrent conversations, turns no slower).

    PYTHONPATH=src python bench/notify.py                # SQLite: 50 leads, 3 rounds a server
    python bench/notify.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test
    python bench/notify.py --think-ms 0                  # leads that never pause (capacity)
    python bench/notify.py --profile                     # + cProfile of both servers' turns

Two ``autoreply serve`` processes start side by side, each in its own temporary directory on
a fresh database, identical but for notifications:

- "off" tells nobody: no Slack webhook and ``AUTOREPLY_NOTIFY_OWNER_EMAIL=false``. Routing
  still runs on every handoff (owner, deadline, escalation timer, history);
- "on" posts every handoff to Slack, at a stand-in on loopback in this process that stamps
  each webhook request when it has read it, and emails the owner (the shipped default).

Both run the shipped routing (``flows/routing.yaml``) with the business calendar forced
open (every day 00:00-23:59, no closures, no holidays), so every handoff is a hot lead told
at once, whenever the benchmark runs. Rounds alternate between the servers (off, on, on,
off, ...), so that drift of this shared machine hits both alike. In a round, ``--leads``
leads each hold one whole conversation at the same time (bench/driver.py, ``--think-ms``
between messages), each challenge carrying a number that its Slack message repeats; round
n has the same leads, saying the same, on both servers. A round on "on" ends when every
handoff's message has arrived, or after ``--notify-timeout`` (counted missing).

The notification latency runs from sending the request of the turn that writes the handoff
(the conversation's last) to the stand-in having read the webhook's POST (it answers 200
at once), both on this process's wall clock; it includes that turn. Percentiles are
nearest-rank (see bench/README.md). Exit status: 0 whatever the latencies (a benchmark
never gates), 1 if requests failed or messages went missing, 2 if it could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import pstats
import random
import re
import secrets
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from driver import Lead, RequestFailed, converse, make_client, run_phase, wait_quiet
from load import _run
from report import environment, load_average, print_table
from server import (
    BENCH,
    REPO,
    Server,
    SetupError,
    fresh_postgres,
    is_loopback_database,
    is_postgres,
    own_server,
    profiling,
)
from stats import (
    Probes,
    Recorder,
    Series,
    other_cores,
    percentile,
    postgres_seconds,
    stolen_cores,
)

VARIANTS = ("off", "on")
WARMUP_LEADS = 900_000  # the first warm-up lead's number (measured leads count from 0)
MARK = re.compile(r"ベンチ(\d{6})")  # the number each challenge carries into its message
OPEN_ALWAYS = {  # every handoff is in business hours, whenever this runs
    "AUTOREPLY_BUSINESS_HOURS": "mon-sun 00:00-23:59",
    "AUTOREPLY_CLOSURES": "",
    "AUTOREPLY_HOLIDAYS_COUNTRY": "",
    "AUTOREPLY_ROUTING": str(REPO / "flows" / "routing.yaml"),
}


# -- the far end ---------------------------------------------------------------------------


@dataclass
class SlackStandIn:
    """A Slack incoming webhook on loopback: stamps each POST when it has read it (wall
    clock), notes the lead it is about, answers ``ok`` (tests/notifystub.py is the full
    stand-in of the test suite; this one only keeps what the benchmark needs)."""

    url: str = ""
    received: dict[int, float] = field(default_factory=dict)  # lead number -> time.time()
    posts: int = 0
    twice: int = 0  # messages about a lead already told
    unmatched: int = 0  # messages naming no lead of this run
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # set by every message

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        at = time.time()
        self.posts += 1
        found = MARK.search(json.dumps(json.loads(body), ensure_ascii=False))
        if found is None:
            self.unmatched += 1
        elif int(found.group(1)) in self.received:
            self.twice += 1
        else:
            self.received[int(found.group(1))] = at
        self.arrived.set()
        return web.Response(text="ok")


@contextlib.asynccontextmanager
async def slack_stand_in() -> AsyncIterator[SlackStandIn]:
    stand_in = SlackStandIn()
    app = web.Application()
    app.router.add_post("/slack/{tail:.*}", stand_in.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    stand_in.url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/T0BENCH/B0BENCH/bench"
    try:
        yield stand_in
    finally:
        await runner.cleanup()


# -- the two servers -------------------------------------------------------------------------


def _profile_path(args: argparse.Namespace, variant: str) -> Path:
    out: Path = args.profile_out
    return out.with_name(f"{out.stem}.notify-{variant}.out")


@contextlib.asynccontextmanager
async def servers(
    args: argparse.Namespace, workdir: Path, slack_url: str
) -> AsyncIterator[tuple[str, dict[str, Server]]]:
    """The "off" and "on" servers, each on a fresh database: (backend, servers)."""
    settings = {
        "off": {"AUTOREPLY_NOTIFY_OWNER_EMAIL": "false"},
        "on": {
            "AUTOREPLY_SLACK_WEBHOOK_URL": slack_url,
            "AUTOREPLY_NOTIFY_OWNER_EMAIL": "false" if args.slack_only else "true",
        },
    }
    backend = f"SQLite {sqlite3.sqlite_version} (aiosqlite, WAL, a fresh file each)"
    found: dict[str, Server] = {}
    async with contextlib.AsyncExitStack() as stack:
        for variant in VARIANTS:
            url: str | None = args.database_url
            if url and is_postgres(url):
                url, version = await stack.enter_async_context(fresh_postgres(url))
                backend = f"PostgreSQL {version} (asyncpg, a fresh database each)"
            home = workdir / variant
            home.mkdir()
            found[variant] = await stack.enter_async_context(
                own_server(
                    home,
                    url,
                    None,
                    _profile_path(args, variant) if args.profile else None,
                    args.ready_seconds,
                    {**OPEN_ALWAYS, **settings[variant]},
                )
            )
        yield backend, found


# -- rounds ----------------------------------------------------------------------------------


@dataclass
class Variant:
    """Everything measured on one server, over all its rounds."""

    turns: Recorder = field(default_factory=Recorder)
    ended: dict[int, tuple[str, float]] = field(default_factory=dict)  # lead -> (step, sent)
    rounds: list[tuple[float, float]] = field(default_factory=list)  # (p50, p99) of each


def _add(a: float, b: float) -> float:
    return b if math.isnan(a) else a if math.isnan(b) else a + b


def merge(into: Recorder, part: Recorder) -> None:
    """Add one round's figures to a server's."""
    for mine, theirs in [(into.total, part.total)] + [
        (into.steps[step], series) for step, series in part.steps.items()
    ]:
        mine.latencies += theirs.latencies
        mine.errors += theirs.errors
    into.outcomes.update(part.outcomes)
    into.error_samples += part.error_samples[: max(0, 10 - len(into.error_samples))]
    into.cut_short |= part.cut_short
    for name in (
        "seconds",
        "server_cpu",
        "server_loop_cpu",
        "database_cpu",
        "client_cpu",
        "machine_cpu",
        "stolen_cpu",
    ):
        setattr(into, name, _add(getattr(into, name), getattr(part, name)))


async def one_round(
    args: argparse.Namespace,
    client: Any,
    server: Server,
    variant: str,
    stand_in: SlackStandIn,
    run_id: str,
    first: int,
    count: int,
    think_ms: float,
    measured: bool = True,
) -> tuple[Recorder, dict[int, tuple[str, float]], int]:
    """``count`` leads at once, one conversation each; on "on", until their messages are in.
    Returns the round's figures, the handoffs (lead -> step, sent) and how many went missing.
    The round's time and CPU run until then, so "on" pays for its deliveries."""
    recorder = Recorder()
    ended: dict[int, tuple[str, float]] = {}
    finished = 0
    everyone_done = asyncio.Event()
    missing = 0

    def note(lead: Lead, step: str, sent: float) -> None:
        ended[lead.index] = (step, sent)

    async def hold(index: int) -> None:
        nonlocal finished
        lead = Lead.make(index, run_id, args.book_ratio, args.seed)
        lead.answers[0] = ("challenge", f"{lead.answers[0][1]}（ベンチ{index:06d}）")
        rng = random.Random(args.seed * 7919 + index)
        try:
            with contextlib.suppress(RequestFailed):
                await converse(client, lead, run_id, recorder, think_ms, rng, ended=note)
        finally:
            finished += 1
            if finished == count:
                everyone_done.set()

    async def deliveries() -> None:
        nonlocal missing
        await everyone_done.wait()
        if variant == "on":
            missing = await _delivered(stand_in, ended, args.notify_timeout)

    probes = Probes(
        server=server.cpu_seconds,
        database=postgres_seconds if is_postgres(args.database_url) else None,
    )
    kind = "cprofile" if args.profile and measured else None
    async with profiling(kind, server, _profile_path(args, variant), 0):
        work = [hold(first + n) for n in range(count)]
        await run_phase(recorder, [*work, deliveries()], args.max_seconds, probes)
    return recorder, ended, missing


async def _delivered(stand_in: SlackStandIn, ended: dict[int, Any], seconds: float) -> int:
    """Wait until every handoff's message has arrived (at most ``seconds``): how many did not."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                stand_in.arrived.clear()
                if all(i in stand_in.received for i in ended):
                    break
                await stand_in.arrived.wait()
    return sum(1 for i in ended if i not in stand_in.received)


# -- the report --------------------------------------------------------------------------------


def _handoff_turns(v: Variant) -> Series:
    """The turns that wrote a handoff (the steps that ended conversations)."""
    steps = {step for step, _ in v.ended.values()}
    series = Series()
    for step in steps:
        series.latencies += v.turns.steps[step].latencies
        series.errors += v.turns.steps[step].errors
    return series


def _ratio(a: float, b: float) -> str:
    return f"x{a / b:.2f}" if b else "-"


def report(
    args: argparse.Namespace,
    env_line: str,
    measured: dict[str, Variant],
    stand_in: SlackStandIn,
    latencies: list[float],
    missing: int,
) -> None:
    off, on = measured["off"], measured["on"]
    print()
    print(env_line)
    print(
        f"load: {args.leads} concurrent leads a round, {args.rounds} rounds on each server "
        f"({args.leads * args.rounds} conversations each, {args.book_ratio:.0%} try to book), "
        f"think time {args.think_ms:.0f} ms; calendar forced open "
        f"({OPEN_ALWAYS['AUTOREPLY_BUSINESS_HOURS']}, no closures, no holidays)"
    )
    emails = "and does not email the owner" if args.slack_only else "and emails the owner"
    print(
        'servers: "off" tells nobody (no Slack webhook, AUTOREPLY_NOTIFY_OWNER_EMAIL=false); '
        f'"on" posts every handoff to Slack (stand-in on loopback) {emails}'
    )
    print(
        "latency in ms, measured by the client per request, nearest-rank percentiles; CPU in "
        'ms per turn (cores busy); "on" CPU includes delivering its notifications\n'
    )
    print_table(
        [
            ("turns, notify off", off.turns, off.turns.seconds, "turns/s"),
            ("turns, notify on", on.turns, on.turns.seconds, "turns/s"),
            ("handoff turn, off", _handoff_turns(off), off.turns.seconds, "req/s"),
            ("handoff turn, on", _handoff_turns(on), on.turns.seconds, "req/s"),
        ]
    )
    a, b = sorted(on.turns.total.latencies), sorted(off.turns.total.latencies)
    ha, hb = sorted(_handoff_turns(on).latencies), sorted(_handoff_turns(off).latencies)
    cpu = {
        k: 1000 * v.turns.server_cpu / max(1, v.turns.total.requests) for k, v in measured.items()
    }
    print(
        f"\nturns on/off: p50 {_ratio(percentile(a, 50), percentile(b, 50))}, "
        f"p99 {_ratio(percentile(a, 99), percentile(b, 99))}; handoff turns: p50 "
        f"{_ratio(percentile(ha, 50), percentile(hb, 50))}, "
        f"p99 {_ratio(percentile(ha, 99), percentile(hb, 99))}; server CPU per turn "
        f"{cpu['on']:.1f} ms on, {cpu['off']:.1f} ms off ({cpu['on'] - cpu['off']:+.1f} ms)"
    )
    if is_postgres(args.database_url):
        pg = {
            k: 1000 * v.turns.database_cpu / max(1, v.turns.total.requests)
            for k, v in measured.items()
        }
        print(f"PostgreSQL CPU per turn: {pg['on']:.1f} ms on, {pg['off']:.1f} ms off")
    for name, v in measured.items():
        shown = ", ".join(f"{p50:.1f}/{p99:.1f}" for p50, p99 in v.rounds)
        print(f"rounds of {name} (turn p50/p99 ms, in order): {shown}")
    outcomes = ", ".join(f"{k} {n}" for k, n in sorted(on.turns.outcomes.items()))
    print(f"conversations on 'on': {outcomes}")
    print(
        f"noise: other processes kept {other_cores(off.turns):.2f} cores busy during the "
        f"rounds of off, {other_cores(on.turns):.2f} during those of on; the hypervisor stole "
        f"{stolen_cores(off.turns):.2f} and {stolen_cores(on.turns):.2f} (a clean run has < 0.1)"
    )

    ordered = sorted(latencies)
    print("\nnotification: handoff -> Slack stand-in accepted it (ms, from sending the turn)")
    print(
        f"{'':<19}{'handoffs':>9}{'posted':>8}{'missing':>8}{'twice':>7}"
        f"{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}"
    )
    stats = [percentile(ordered, p) for p in (50, 95, 99)] + [ordered[-1] if ordered else math.nan]
    print(
        f"{'Slack, notify on':<19}{len(on.ended):>9}{len(ordered):>8}{missing:>8}"
        f"{stand_in.twice:>7}" + "".join(f"{x:>8.1f}" for x in stats)
    )
    p99 = stats[2]
    verdict = "met" if p99 < args.target_p99_ms and not missing else "MISSED"
    print(f"target p99 notification < {args.target_p99_ms:.0f} ms: {verdict} ({p99:.1f} ms)")
    if stand_in.unmatched:
        print(f"messages naming no lead of this run: {stand_in.unmatched}")
    errors = off.turns.error_samples + on.turns.error_samples
    if errors:
        print("\nfirst errors:\n  " + "\n  ".join(errors[:10]))


def print_profile_diff(args: argparse.Namespace, measured: dict[str, Variant]) -> None:
    """Where "on" spends more than "off": autoreply functions by cumulative ms per turn."""
    cums: dict[str, dict[str, float]] = {}
    totals: dict[str, float] = {}
    for variant in VARIANTS:
        path = _profile_path(args, variant)
        if not path.exists():
            print(f"\nno profile at {path}")
            return
        raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]]
        raw = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
        turns = max(1, measured[variant].turns.total.requests)
        totals[variant] = sum(tt for _, _, tt, _, _ in raw.values()) * 1000 / turns
        cums[variant] = {
            f"{Path(f).name}:{line}({name})": ct * 1000 / turns
            for (f, line, name), (_, _, _, ct, _) in raw.items()
            if "/autoreply/" in f
        }
    print(
        f"\ncProfile of the event-loop thread (thread CPU time), per turn: "
        f"on {totals['on']:.2f} ms, off {totals['off']:.2f} ms "
        f"({_profile_path(args, 'on').name}, {_profile_path(args, 'off').name})"
    )
    print("autoreply functions whose cumulative time per turn grew most with notifications on")
    print(f"{'on ms':>8}{'off ms':>8}{'+ms':>8}  function")
    names = set(cums["on"]) | set(cums["off"])
    grown = sorted(names, key=lambda n: cums["off"].get(n, 0) - cums["on"].get(n, 0))
    for name in grown[: args.top]:
        on, off = cums["on"].get(name, 0.0), cums["off"].get(name, 0.0)
        print(f"{on:>8.2f}{off:>8.2f}{on - off:>+8.2f}  {name}")


# -- the run -------------------------------------------------------------------------------------


async def bench(args: argparse.Namespace, workdir: Path) -> int:
    run_id = secrets.token_hex(3)
    load_before = load_average()
    async with (
        slack_stand_in() as stand_in,
        servers(args, workdir, stand_in.url) as (backend, found),
        contextlib.AsyncExitStack() as clients,
    ):
        client = {
            v: await clients.enter_async_context(
                make_client(found[v].url, args.leads, args.request_timeout, "loopback")
            )
            for v in VARIANTS
        }
        measured = {v: Variant() for v in VARIANTS}
        index = WARMUP_LEADS  # numbers of their own, so the stand-in tells them apart
        for variant in VARIANTS:  # warm-up, not measured
            for _ in range(args.warmup):
                await one_round(
                    args,
                    client[variant],
                    found[variant],
                    variant,
                    stand_in,
                    run_id,
                    index,
                    1,
                    0.0,
                    measured=False,
                )
                index += 1
        missing = 0
        for number in range(args.rounds):
            for variant in VARIANTS if number % 2 == 0 else VARIANTS[::-1]:
                if args.wait_quiet:
                    await wait_quiet(args.wait_quiet)
                print(f"round {number + 1}/{args.rounds}: notify {variant} ...", flush=True)
                recorder, ended, lost = await one_round(
                    args,
                    client[variant],
                    found[variant],
                    variant,
                    stand_in,
                    run_id,
                    number * args.leads,  # the same leads, saying the same, on both servers
                    args.leads,
                    args.think_ms,
                )
                missing += lost
                merge(measured[variant].turns, recorder)
                measured[variant].ended.update(ended)
                ordered = sorted(recorder.total.latencies)
                measured[variant].rounds.append((percentile(ordered, 50), percentile(ordered, 99)))
        workers = "1 each (two servers)"
    latencies = [
        (stand_in.received[i] - sent) * 1000
        for i, (_, sent) in measured["on"].ended.items()
        if i in stand_in.received
    ]
    report(
        args,
        environment(backend, workers, "loopback", load_before),
        measured,
        stand_in,
        latencies,
        missing,
    )
    if args.profile:
        print_profile_diff(args, measured)
    failed = sum(v.turns.total.errors for v in measured.values())
    return 1 if failed or missing else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python bench/notify.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--leads", type=int, default=50, help="concurrent leads in a round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds on each server")
    parser.add_argument(
        "--think-ms", type=float, default=5000.0, help="mean pause of a lead between messages"
    )
    parser.add_argument(
        "--book-ratio", type=float, default=0.2, help="share of leads who try to book a slot"
    )
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured conversations first")
    parser.add_argument("--seed", type=int, default=1, help="what leads say and pick")
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server (postgresql+asyncpg://…, loopback): a fresh database per "
        "server, dropped afterwards; default SQLite files",
    )
    parser.add_argument(
        "--slack-only",
        action="store_true",
        help='"on" posts to Slack but emails nobody (AUTOREPLY_NOTIFY_OWNER_EMAIL=false)',
    )
    parser.add_argument(
        "--notify-timeout", type=float, default=30.0, help="seconds to wait for a round's messages"
    )
    parser.add_argument("--target-p99-ms", type=float, default=2000.0, help="the p99 goal")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="seconds to wait at most for other processes to leave the CPUs idle first",
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile both servers during their rounds"
    )
    parser.add_argument(
        "--profile-out",
        type=Path,
        default=BENCH / "profile.out",
        help="where the profiles go (<stem>.notify-on.out and .notify-off.out beside it)",
    )
    parser.add_argument("--top", type=int, default=20, help="functions listed from the profile")
    parser.add_argument("--request-timeout", type=float, default=30.0, help="seconds")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="time limit per round")
    parser.add_argument("--ready-seconds", type=float, default=60.0, help="server start limit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.leads < 1 or args.rounds < 1:
        parser.error("--leads and --rounds must be at least 1")
    if args.leads * args.rounds > WARMUP_LEADS:
        parser.error(f"at most {WARMUP_LEADS} conversations a server")
    if not 0 <= args.book_ratio <= 1:
        parser.error("--book-ratio is between 0 and 1")
    if args.database_url and not is_loopback_database(args.database_url):
        parser.error("refusing --database-url: the database must be on a loopback address")
    args.profile_out = args.profile_out.resolve()
    with tempfile.TemporaryDirectory(prefix="autoreply-bench-notify-") as name:
        try:
            return _run(bench(args, Path(name)))
        except SetupError as exc:
            print(f"notify.py: {exc}", file=sys.stderr)
            if exc.server is not None:
                print(f"--- server log ({exc.server.log}) ---", file=sys.stderr)
                print(exc.server.log_tail(), file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
