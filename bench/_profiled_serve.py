"""``autoreply serve`` with cProfile switched on and off by signals (used by load.py).

    python bench/_profiled_serve.py OUT.prof serve --port 8123

SIGUSR1 starts profiling the event-loop thread; SIGUSR2 stops it and writes OUT.prof
(pstats format). The load benchmark sends them around its measured phase, so the profile
holds the bot replies only: no imports, migrations, warm-up or /healthz baseline.

The timer is the thread's CPU time, not the wall clock: with asyncio, wall time would
charge the idle wait in the event loop, waits for the GIL (aiosqlite's threads) and time
the machine gave to other processes to whichever function happened to be running.
"""

from __future__ import annotations

import cProfile
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from autoreply.cli import main


def _run(out: Path, argv: list[str]) -> int:
    profiler = cProfile.Profile(time.thread_time)

    def start(_signum: int, _frame: FrameType | None) -> None:
        profiler.enable()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        profiler.disable()
        partial = out.with_name(out.name + ".partial")
        profiler.dump_stats(partial)
        os.replace(partial, out)  # the benchmark waits for ``out``: it appears complete

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    return main(argv)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: _profiled_serve.py OUT.prof serve [serve options]")
    sys.exit(_run(Path(sys.argv[1]), sys.argv[2:]))
