"""The server under test: ``autoreply serve`` started here on a fresh database, or ``--url``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def is_loopback_url(url: str) -> bool:
    return urlsplit(url).hostname in LOOPBACK


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_env(
    port: int, database_url: str | None, workers: int | None, extra: Mapping[str, str]
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOREPLY_")}
    env.update(
        AUTOREPLY_FLOW=str(REPO / "flows" / "demo.ja.yaml"),
        AUTOREPLY_EXTRA_FLOWS=str(REPO / "flows" / "demo.en.yaml"),
        AUTOREPLY_CASESTUDIES=str(REPO / "flows" / "casestudies.yaml"),
        AUTOREPLY_TOPICS=str(REPO / "flows" / "topics.yaml"),
        AUTOREPLY_TEMPLATES_DIR=str(REPO / "templates"),
        AUTOREPLY_LOG_LEVEL="WARNING",
        AUTOREPLY_PUBLIC_URL=f"http://127.0.0.1:{port}",
        # Every simulated lead comes from 127.0.0.1: the per-address limit would refuse them.
        AUTOREPLY_CHAT_STARTS_PER_MINUTE="1000000",
        AUTOREPLY_CHAT_STARTS_PER_HOUR="1000000",
    )
    if database_url:
        env["AUTOREPLY_DATABASE_URL"] = database_url
    if workers:
        env["AUTOREPLY_WORKERS"] = str(workers)
    env.update(extra)
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
    extra_env: Mapping[str, str] | None = None,
) -> AsyncIterator[Server]:
    """``autoreply serve`` on a free loopback port, in ``workdir``, with ``extra_env`` on
    top of the benchmark's environment; stopped on exit."""
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
            env=_server_env(port, database_url, workers, extra_env or {}),
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


def is_postgres(url: str | None) -> bool:
    return bool(url) and str(url).startswith("postgresql")


def is_loopback_database(url: str) -> bool:
    """A local database: SQLite, or a server on a loopback address or a Unix socket."""
    from sqlalchemy import make_url

    host = make_url(url).host
    return not host or host in LOOPBACK


async def _pg_admin(url: str) -> Any:
    import asyncpg  # type: ignore[import-untyped]
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


# -- the target of a run ------------------------------------------------------------------------


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
        if is_postgres(database_url) and not args.reuse_database:
            assert database_url is not None
            database_url, version = await stack.enter_async_context(fresh_postgres(database_url))
            backend = f"PostgreSQL {version} (asyncpg, fresh database)"
        elif is_postgres(database_url):
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


async def server_gone(server: Server, client: httpx.AsyncClient) -> str:
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
