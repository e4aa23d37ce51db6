"""Measurements: nearest-rank percentiles, what one phase recorded, and the CPU-time counters."""

from __future__ import annotations

import contextlib
import math
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PERCENTILES = (50, 95, 99)


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


def stolen_cores(recorder: Recorder) -> float:
    """Cores the hypervisor gave to other machines during a phase."""
    return recorder.stolen_cpu / recorder.seconds if recorder.seconds else 0.0


def other_cores(recorder: Recorder) -> float:
    """Cores busy with neither the server nor this client during a phase (noise)."""
    own = recorder.client_cpu + sum(
        0.0 if math.isnan(x) else x for x in (recorder.server_cpu, recorder.database_cpu)
    )
    return max(0.0, (recorder.machine_cpu - own) / recorder.seconds) if recorder.seconds else 0.0


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
