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
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from _pool import LoopbackPool
from _profiles import print_cprofile, print_pyspy

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
PERCENTILES = (50, 95, 99)
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


# -- measurements ---------------------------------------------------------------------------


def percentile(ordered: Sequence[float], p: int) -> float:
    """Nearest-rank percentile of ascending samples: the ceil(p/100*n)-th smallest.

    Integer arithmetic, so 95% of 200 samples is the 190th (not the 191st by float error).
    """
    if not ordered:
        return math.nan
    rank = max(1, -(-p * len(ordered) // 100))
    return ordered[rank - 1]


@dataclass
class Series:
    """Latencies (ms) and failures of one kind of request."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def requests(self) -> int:
        return len(self.latencies) + self.errors

    def summary(self, seconds: float) -> dict[str, float]:
        ordered = sorted(self.latencies)
        stats = {f"p{p}": percentile(ordered, p) for p in PERCENTILES}
        stats["max"] = ordered[-1] if ordered else math.nan
        stats["mean"] = sum(ordered) / len(ordered) if ordered else math.nan
        stats["per_second"] = self.requests / seconds if seconds > 0 else math.nan
        return stats


@dataclass
class Recorder:
    """Everything measured in one phase."""

    total: Series = field(default_factory=Series)
    steps: dict[str, Series] = field(default_factory=lambda: defaultdict(Series))
    outcomes: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    seconds: float = 0.0
    server_cpu: float = math.nan  # CPU seconds the server process(es) used in the phase
    server_loop_cpu: float = math.nan  # ... of which the server's main (event-loop) thread
    database_cpu: float = math.nan  # CPU seconds of PostgreSQL's processes in the phase
    client_cpu: float = 0.0  # CPU seconds this benchmark process used in the phase
    machine_cpu: float = math.nan  # CPU seconds the whole machine was busy in the phase
    stolen_cpu: float = math.nan  # CPU seconds the hypervisor gave to other machines
    cut_short: bool = False

    def ok(self, step: str, ms: float) -> None:
        self.total.latencies.append(ms)
        self.steps[step].latencies.append(ms)

    def failed(self, step: str, what: str) -> None:
        self.total.errors += 1
        self.steps[step].errors += 1
        if len(self.error_samples) < 10:
            self.error_samples.append(f"{step}: {what}")


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


# -- one simulated lead -----------------------------------------------------------------------


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
) -> None:
    """Hold one whole conversation, answering whatever the bot asks, as the widget would.

    With ``think_ms``, the lead pauses a random 0..2*think_ms before every request, the
    first one included (so leads arrive spread out rather than all at the same instant).
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
        response = await timed(
            recorder, step, lambda m=message: client.post(url, json=m, headers=headers), 200
        )
        body = response.json()
        replies, status = body["replies"], str(body["status"])
        if step == "challenge" and "slots" not in _kinds(replies):
            recorder.outcomes["no slot offered"] += 1
        if step.startswith("slot") and "slots" in _kinds(replies):
            recorder.outcomes["slot taken by another lead"] += 1
        if step == "decline":
            recorder.outcomes["declined"] += 1
        if step == "email" and status != "active":
            recorder.outcomes["booked"] += 1
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

    await _phase(recorder, [worker(n) for n in range(concurrency)], limit_seconds, probes)
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

    await _phase(recorder, [worker() for _ in range(concurrency)], limit_seconds, probes)
    return recorder


@dataclass(frozen=True)
class Probes:
    """CPU-time counters read before and after each phase (None: not measurable)."""

    server: Callable[[], tuple[float, float]] | None = None  # (all threads, main thread)
    database: Callable[[], float] | None = None  # PostgreSQL's processes


def postgres_seconds() -> float:
    """CPU seconds used so far by the live processes named ``postgres`` (the database)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            text = stat.read_text()
            if text[text.index("(") + 1 : text.rindex(")")] == "postgres":
                fields = text.rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def machine_seconds() -> tuple[float, float]:
    """(busy, stolen) CPU seconds of the whole machine so far, from /proc/stat (NaN elsewhere).

    Stolen time is what the hypervisor gave to other virtual machines: a noisy host.
    """
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            ticks = [int(x) for x in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return math.nan, math.nan
    idle = ticks[3] + ticks[4]  # idle + iowait
    steal = ticks[7] if len(ticks) > 7 else 0
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks[:7]) - idle) / hz, steal / hz  # guest time is counted in user


async def _phase(
    recorder: Recorder, workers: list[Any], limit_seconds: float, probes: Probes | None
) -> None:
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


# -- the server under test ------------------------------------------------------------------


def _is_loopback_url(url: str) -> bool:
    return urlsplit(url).hostname in LOOPBACK


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_env(port: int, database_url: str | None, workers: int | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOREPLY_")}
    env.update(
        AUTOREPLY_FLOW=str(REPO / "flows" / "demo.ja.yaml"),
        AUTOREPLY_EXTRA_FLOWS=str(REPO / "flows" / "demo.en.yaml"),
        AUTOREPLY_CASESTUDIES=str(REPO / "flows" / "casestudies.yaml"),
        AUTOREPLY_TOPICS=str(REPO / "flows" / "topics.yaml"),
        AUTOREPLY_TEMPLATES_DIR=str(REPO / "templates"),
        AUTOREPLY_LOG_LEVEL="WARNING",
        AUTOREPLY_PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    if database_url:
        env["AUTOREPLY_DATABASE_URL"] = database_url
    if workers:
        env["AUTOREPLY_WORKERS"] = str(workers)
    return env


@dataclass
class Server:
    """A server process this benchmark started."""

    process: asyncio.subprocess.Process
    url: str
    log: Path

    def _processes(self) -> dict[int, list[str]]:
        """/proc stat fields (after the name) of the server and its children (workers)."""
        found = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                pid = int(stat.parent.name)
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if pid == self.process.pid or int(fields[1]) == self.process.pid:
                    found[pid] = fields
        return found

    def workers(self) -> int:
        """Processes serving: the server itself, or its uvicorn worker children (spawned by
        multiprocessing; its resource tracker is not one)."""
        count = 0
        for pid in self._processes():
            with contextlib.suppress(OSError):
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
                count += b"spawn_main" in command
        return max(1, count)

    def cpu_seconds(self) -> tuple[float, float]:
        """CPU seconds (user + system) so far: all threads of the server and its workers,
        and their main threads alone (the event loops)."""
        ticks = os.sysconf("SC_CLK_TCK")
        processes = self._processes()
        total = sum(int(f[11]) + int(f[12]) for f in processes.values()) / ticks
        main = 0
        for pid in processes:
            with contextlib.suppress(OSError, IndexError, ValueError):
                task = Path(f"/proc/{pid}/task/{pid}/stat").read_text()
                fields = task.rsplit(")", 1)[1].split()
                main += int(fields[11]) + int(fields[12])
        return total, main / ticks

    def signal(self, signum: int) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signum)

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(text[-lines:])


def _open_log(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)


@contextlib.asynccontextmanager
async def own_server(
    workdir: Path,
    database_url: str | None,
    workers: int | None,
    profile_out: Path | None,
    ready_seconds: float,
) -> AsyncIterator[Server]:
    """``autoreply serve`` on a free loopback port, in ``workdir``; stopped on exit."""
    port = _free_port()
    serve = ["serve", "--host", "127.0.0.1", "--port", str(port)]
    if profile_out is not None:
        command = [sys.executable, str(BENCH / "_profiled_serve.py"), str(profile_out), *serve]
    else:
        command = [sys.executable, "-m", "autoreply", *serve]
    log = workdir / "server.log"
    log_fd = _open_log(log)
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=workdir,
            env=_server_env(port, database_url, workers),
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=subprocess.STDOUT,
        )
    finally:
        os.close(log_fd)
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        await _wait_ready(server, ready_seconds)
        yield server
    finally:
        server.signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _wait_ready(server: Server, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=server.url, timeout=2) as client:
        while time.monotonic() < deadline:
            if server.process.returncode is not None:
                raise SetupError(f"the server exited ({server.process.returncode})", server)
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise SetupError(f"the server was not ready within {seconds:.0f} s", server)


class SetupError(Exception):
    """The benchmark cannot run (server or database); exit 2."""

    def __init__(self, message: str, server: Server | None = None) -> None:
        super().__init__(message)
        self.server = server


# -- PostgreSQL: a fresh database per run ----------------------------------------------------


def _is_postgres(url: str | None) -> bool:
    return bool(url) and str(url).startswith("postgresql")


def _is_loopback_database(url: str) -> bool:
    """A local database: SQLite, or a server on a loopback address or a Unix socket."""
    from sqlalchemy import make_url

    host = make_url(url).host
    return not host or host in LOOPBACK


async def _pg_admin(url: str) -> Any:
    import asyncpg
    from sqlalchemy import make_url

    u = make_url(url)
    try:
        return await asyncpg.connect(
            host=u.host, port=u.port, user=u.username, password=u.password, database=u.database
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise SetupError(f"cannot reach PostgreSQL at {u.host}:{u.port}: {exc}") from exc


@contextlib.asynccontextmanager
async def fresh_postgres(url: str) -> AsyncIterator[tuple[str, str]]:
    """A new empty database on the server of ``url``, dropped afterwards: (url, version)."""
    from sqlalchemy import make_url

    name = f"autoreply_bench_{secrets.token_hex(4)}"
    admin = await _pg_admin(url)
    try:
        version = str(await admin.fetchval("SHOW server_version"))
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False), version
    finally:
        admin = await _pg_admin(url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


# -- profiles -----------------------------------------------------------------------------------


def _wait_for_file(path: Path, seconds: float) -> None:
    """Until the profiled server has written ``path`` (a stopped profile is dumped)."""
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)


@contextlib.asynccontextmanager
async def profiling(
    kind: str | None, server: Server | None, out: Path, rate: int
) -> AsyncIterator[None]:
    """Profile the server around the measured phase (cProfile by signals, or py-spy)."""
    if kind is None or server is None:
        yield
        return
    if kind == "cprofile":
        await asyncio.to_thread(out.unlink, missing_ok=True)
        server.signal(signal.SIGUSR1)
        try:
            yield
        finally:
            server.signal(signal.SIGUSR2)
            await asyncio.to_thread(_wait_for_file, out, 30.0)
        return
    spy = await asyncio.create_subprocess_exec(
        "py-spy",
        "record",
        "--pid",
        str(server.process.pid),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--gil",
        "--nonblocking",
        "--subprocesses",
        "--output",
        str(out),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    await asyncio.sleep(1)  # py-spy attaches
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        await asyncio.wait_for(spy.wait(), 60)


# -- report --------------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def _cpu(seconds: float, requests: int, phase_seconds: float) -> str:
    if math.isnan(seconds) or not requests:
        return "-"
    return f"{1000 * seconds / requests:.1f} ({seconds / phase_seconds:.2f})"


def print_table(rows: list[tuple[str, Recorder | Series, float, str]]) -> None:
    """One line per kind of request; CPU columns only for whole phases (Recorder rows)."""
    print(
        f"{'':<19}{'requests':>9}{'errors':>7}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}"
        f"{'throughput':>17}{'server CPU':>16}{'client CPU':>14}"
    )
    for name, item, seconds, unit in rows:
        series = item.total if isinstance(item, Recorder) else item
        s = series.summary(seconds)
        line = (
            f"{name:<19}{series.requests:>9}{series.errors:>7}{_ms(s['p50']):>8}"
            f"{_ms(s['p95']):>8}{_ms(s['p99']):>8}{_ms(s['max']):>8}"
            f"{s['per_second']:>9.1f} {unit:<7}"
        )
        if isinstance(item, Recorder):
            line += f"{_cpu(item.server_cpu, series.requests, seconds):>16}"
            line += f"{_cpu(item.client_cpu, series.requests, seconds):>14}"
        print(line.rstrip())


def _stolen(recorder: Recorder) -> float:
    return recorder.stolen_cpu / recorder.seconds if recorder.seconds else 0.0


def _others(recorder: Recorder) -> float:
    """Cores busy with neither the server nor this client during a phase (noise)."""
    own = recorder.client_cpu + sum(
        0.0 if math.isnan(x) else x for x in (recorder.server_cpu, recorder.database_cpu)
    )
    return max(0.0, (recorder.machine_cpu - own) / recorder.seconds) if recorder.seconds else 0.0


def _load_average() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def environment(backend: str, workers: str, pool: str, load_before: str) -> str:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 0
    loop = "uvloop" if _has("uvloop") else "asyncio"
    return (
        f"environment: {cores} CPUs ({platform.machine()}, {platform.system()} "
        f"{platform.release()}), Python {platform.python_version()} "
        f"({platform.python_implementation()}), database {backend}, server workers {workers}; "
        f"client on the same machine ({loop}, {pool} pool); "
        f"load average before {load_before}, after {_load_average()}"
    )


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


STEP_ORDER = (
    "start",
    "timing",
    "challenge",
    "decline",
    "slot",
    "slot (retry)",
    "name",
    "company",
    "email",
)


def report(
    args: argparse.Namespace, env_line: str, bots: Recorder, base: Recorder, profiled: bool
) -> dict[str, Any]:
    """Print the tables; return the same figures for --json."""
    print()
    print(env_line)
    print(
        f"load: {args.leads} concurrent leads, {args.conversations} conversations "
        f"({args.book_ratio:.0%} try to book), think time {args.think_ms:g} ms; "
        f"baseline: {args.leads} concurrent clients, {base.total.requests} GET /healthz"
    )
    if profiled:
        print("NOTE: the server ran under a profiler: latencies are inflated, compare with care")
    print(
        "latency in ms, measured by the client per request, nearest-rank percentiles; "
        "CPU in ms per request (cores busy)\n"
    )
    print_table(
        [
            ("bot replies", bots, bots.seconds, "turns/s"),
            ("baseline /healthz", base, base.seconds, "req/s"),
        ]
    )
    b, h = bots.total.summary(bots.seconds), base.total.summary(base.seconds)
    if h["p50"] > 0 and h["p99"] > 0:
        paced = " (paced bot replies vs an unpaced baseline)" if args.think_ms else ""
        print(
            f"\nratio bot/baseline{paced}: p50 x{b['p50'] / h['p50']:.1f}, "
            f"p99 x{b['p99'] / h['p99']:.1f}"
        )
    if base.client_cpu / max(base.seconds, 1e-9) > 0.9:
        print(
            "the baseline is client-bound (client CPU near 1 core): its latency is mostly this "
            "client's own queueing; compare server CPU per request instead"
        )
    target, p99 = args.target_p99_ms, b["p99"]
    if math.isnan(p99):
        verdict = "no bot reply succeeded"
    elif p99 <= target:
        verdict = f"met ({p99:.1f} ms)"
    else:
        verdict = f"MISSED by {p99 - target:.1f} ms (p99 {p99:.1f} ms = x{p99 / target:.1f})"
    print(f"target p99 bot reply < {target:g} ms: {verdict}")

    print("\nbot replies by step of the conversation")
    steps = [s for s in STEP_ORDER if s in bots.steps]
    steps += sorted(set(bots.steps) - set(STEP_ORDER))
    print_table([(step, bots.steps[step], bots.seconds, "req/s") for step in steps])
    print(
        "\nconversations: "
        + ", ".join(f"{k} {v}" for k, v in sorted(bots.outcomes.items()))
        + f"; bot phase {bots.seconds:.1f} s, baseline phase {base.seconds:.1f} s"
    )
    if not math.isnan(bots.server_loop_cpu) and bots.total.requests:
        per = 1000 / bots.total.requests
        print(
            f"server CPU per bot reply: {bots.server_cpu * per:.1f} ms = event-loop threads "
            f"{bots.server_loop_cpu * per:.1f} ms + other threads (aiosqlite, executor) "
            f"{(bots.server_cpu - bots.server_loop_cpu) * per:.1f} ms"
            + (
                ""
                if math.isnan(bots.database_cpu)
                else f"; PostgreSQL's processes {bots.database_cpu * per:.1f} ms more"
            )
        )
    external = " (includes the --url server)" if math.isnan(bots.server_cpu) else ""
    print(
        f"noise: other processes{external} kept {_others(bots):.2f} cores busy during the bot "
        f"phase, {_others(base):.2f} during the baseline; the hypervisor stole "
        f"{_stolen(bots):.2f} and {_stolen(base):.2f} cores (a clean run has < 0.1)"
    )
    for recorder, name in ((bots, "bot"), (base, "baseline")):
        if recorder.cut_short:
            print(f"WARNING: the {name} phase hit --max-seconds and was cut short")
        for sample in recorder.error_samples:
            print(f"error ({name}): {sample}")

    def figures(r: Recorder) -> dict[str, Any]:
        return {
            "requests": r.total.requests,
            "errors": r.total.errors,
            **r.total.summary(r.seconds),
            "seconds": r.seconds,
            "server_cpu_seconds": r.server_cpu,
            "server_loop_cpu_seconds": r.server_loop_cpu,
            "database_cpu_seconds": r.database_cpu,
            "client_cpu_seconds": r.client_cpu,
            "other_processes_cores": _others(r),
            "stolen_cores": _stolen(r),
        }

    return {
        "environment": env_line,
        "options": {k: str(v) for k, v in vars(args).items() if k != "database_url"},
        "bot": figures(bots),
        "baseline": figures(base),
        "steps": {
            k: {"requests": v.requests, "errors": v.errors, **v.summary(bots.seconds)}
            for k, v in bots.steps.items()
        },
        "outcomes": dict(bots.outcomes),
    }


# -- main --------------------------------------------------------------------------------------


@dataclass
class Target:
    """Where the requests go, and what is known about it."""

    url: str
    backend: str
    server: Server | None = None
    workers: str = "unknown (external server)"


@contextlib.asynccontextmanager
async def target(args: argparse.Namespace, workdir: Path) -> AsyncIterator[Target]:
    """The server under test: ``--url``, or one started here (on a fresh database)."""
    if args.url:
        backend = "unknown (external server)"
        if args.database_url:
            backend = f"{args.database_url.split(':', 1)[0]} (as told by --database-url)"
        yield Target(args.url.rstrip("/"), backend)
        return
    database_url: str | None = args.database_url
    async with contextlib.AsyncExitStack() as stack:
        if _is_postgres(database_url) and not args.reuse_database:
            assert database_url is not None
            database_url, version = await stack.enter_async_context(fresh_postgres(database_url))
            backend = f"PostgreSQL {version} (asyncpg, fresh database)"
        elif _is_postgres(database_url):
            backend = "PostgreSQL (asyncpg, existing database as given)"
        elif database_url:
            backend = database_url.split(":", 1)[0]
        else:
            backend = f"SQLite {sqlite3.sqlite_version} (aiosqlite, WAL, fresh file)"
        profile_out = args.profile_out if args.profile == "cprofile" else None
        server = await stack.enter_async_context(
            own_server(workdir, database_url, args.workers, profile_out, args.ready_seconds)
        )
        yield Target(server.url, backend, server, str(server.workers()))


def _client(args: argparse.Namespace, url: str) -> httpx.AsyncClient:
    connections = args.leads + 4
    timeout = httpx.Timeout(args.request_timeout)
    if args.client_pool == "httpx":
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        return httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout)
    return httpx.AsyncClient(
        base_url=url, transport=LoopbackPool(max_connections=connections), timeout=timeout
    )


async def _server_gone(server: Server, client: httpx.AsyncClient) -> str:
    """Why requests failed, if it is that the server is gone ("" if it still answers)."""
    with contextlib.suppress(httpx.HTTPError):
        if (await client.get("/readyz")).status_code == 200:
            return ""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(server.process.wait(), 10)
    state = (
        f"exited (status {server.process.returncode})"
        if server.process.returncode is not None
        else "stopped answering"
    )
    return f"the server {state} during the run; its log ends:\n{server.log_tail(15)}"


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


async def bench(args: argparse.Namespace, workdir: Path) -> int:
    run_id = secrets.token_hex(3)
    load_before = _load_average()
    async with target(args, workdir) as where, _client(args, where.url) as client:
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
            died = await _server_gone(where.server, client)
    results = report(args, env_line, bots, base, profiled=bool(args.profile and where.server))
    if died:
        print(f"\nERROR: {died}")
    turns = len(bots.total.latencies)
    if args.profile and not where.server:
        print("\n--profile needs the benchmark's own server (not --url): no profile taken")
    elif args.profile == "cprofile" and args.profile_out.exists():
        print_cprofile(args.profile_out, turns, args.top)
    elif args.profile == "py-spy" and args.profile_out.exists():
        print_pyspy(args.profile_out, turns, args.pyspy_rate, args.top)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
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
    if args.url and not _is_loopback_url(args.url):
        parser.error(f"refusing --url {args.url!r}: only 127.0.0.1, localhost or ::1")
    if args.database_url and not _is_loopback_database(args.database_url):
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
    import shutil

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
    if _has("uvloop"):
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coroutine)  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(main())
