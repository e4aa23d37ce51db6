"""The report: environment line, latency and CPU tables, notes, profiles and the JSON output."""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
from pathlib import Path
from typing import Any

from _profiles import print_cprofile, print_pyspy
from stats import Recorder, Series, other_cores, stolen_cores


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


def load_average() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def environment(backend: str, workers: str, pool: str, load_before: str) -> str:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 0
    loop = "uvloop" if has_module("uvloop") else "asyncio"
    return (
        f"environment: {cores} CPUs ({platform.machine()}, {platform.system()} "
        f"{platform.release()}), Python {platform.python_version()} "
        f"({platform.python_implementation()}), database {backend}, server workers {workers}; "
        f"client on the same machine ({loop}, {pool} pool); "
        f"load average before {load_before}, after {load_average()}"
    )


def has_module(module: str) -> bool:
    """Whether ``module`` is installed (without importing it)."""
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
        f"noise: other processes{external} kept {other_cores(bots):.2f} cores busy during the bot "
        f"phase, {other_cores(base):.2f} during the baseline; the hypervisor stole "
        f"{stolen_cores(bots):.2f} and {stolen_cores(base):.2f} cores (a clean run has < 0.1)"
    )
    for recorder, name in ((bots, "bot"), (base, "baseline")):
        if recorder.cut_short:
            print(f"WARNING: the {name} phase hit --max-seconds and was cut short")
        for sample in recorder.error_samples:
            print(f"error ({name}): {sample}")

    return _results(args, env_line, bots, base)


def _figures(r: Recorder) -> dict[str, Any]:
    return {
        "requests": r.total.requests,
        "errors": r.total.errors,
        **r.total.summary(r.seconds),
        "seconds": r.seconds,
        "server_cpu_seconds": r.server_cpu,
        "server_loop_cpu_seconds": r.server_loop_cpu,
        "database_cpu_seconds": r.database_cpu,
        "client_cpu_seconds": r.client_cpu,
        "other_processes_cores": other_cores(r),
        "stolen_cores": stolen_cores(r),
    }


def _results(
    args: argparse.Namespace, env_line: str, bots: Recorder, base: Recorder
) -> dict[str, Any]:
    """The figures of the report, for --json (the database URL left out: it may hold a
    password)."""
    return {
        "environment": env_line,
        "options": {k: str(v) for k, v in vars(args).items() if k != "database_url"},
        "bot": _figures(bots),
        "baseline": _figures(base),
        "steps": {
            k: {"requests": v.requests, "errors": v.errors, **v.summary(bots.seconds)}
            for k, v in bots.steps.items()
        },
        "outcomes": dict(bots.outcomes),
    }


def print_profile(args: argparse.Namespace, own_server: bool, turns: int) -> None:
    """The profile of the bot phase (--profile), read back from --profile-out."""
    if args.profile and not own_server:
        print("\n--profile needs the benchmark's own server (not --url): no profile taken")
    elif args.profile == "cprofile" and args.profile_out.exists():
        print_cprofile(args.profile_out, turns, args.top)
    elif args.profile == "py-spy" and args.profile_out.exists():
        print_pyspy(args.profile_out, turns, args.pyspy_rate, args.top)


def write_json(path: Path, results: dict[str, Any]) -> None:
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
