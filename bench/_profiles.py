"""Reading the server profiles taken by load.py: cProfile (pstats) and py-spy (raw)."""

from __future__ import annotations

import pstats
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["print_cprofile", "print_pyspy"]


def _package(path: str) -> str:
    """Which package a code location belongs to: autoreply, sqlalchemy, asyncio, (C)..."""
    if path.startswith("~") or path.startswith("<"):
        return "(C functions / builtins)"
    parts = Path(path).parts
    for marker in ("site-packages", "src"):
        if marker in parts:
            return parts[parts.index(marker) + 1].removesuffix(".py")
    for index, part in enumerate(parts):
        if part.startswith("python3") and index + 1 < len(parts):
            return parts[index + 1].removesuffix(".py")
    return parts[0].removesuffix(".py") if parts else "(other)"


def _short(path: str) -> str:
    parts = Path(path).parts
    if "autoreply" in parts:
        return "/".join(parts[parts.index("autoreply") :])
    return path


def print_cprofile(path: Path, turns: int, top: int) -> None:
    """Top autoreply functions by cumulative time, and where the time goes by package."""
    stats = pstats.Stats(str(path))
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]]
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for _, _, tt, _, _ in raw.values())
    per_turn = 1000 / max(turns, 1)
    print(f"\ncProfile of the event-loop thread during the bot phase: {path}")
    print(
        f"CPU time {total:.2f} s over {turns} bot replies = {total * per_turn:.1f} ms "
        "per reply (event-loop thread only: aiosqlite's threads are not in this profile)"
    )
    print(f"\ntop {top} autoreply functions by cumulative time (coroutines: per resume)")
    print(f"{'calls':>8} {'cum s':>7} {'ms/reply':>9} {'self s':>7}  function")
    own = sorted(
        ((k, v) for k, v in raw.items() if _package(k[0]) == "autoreply"), key=lambda kv: -kv[1][3]
    )
    for (file, line, name), (_cc, calls, tt, ct, _) in own[:top]:
        print(
            f"{calls:>8} {ct:>7.2f} {ct * per_turn:>9.2f} {tt:>7.2f}  {_short(file)}:{line}({name})"
        )
    by_package: Counter[str] = Counter()
    for (file, _, _), (_, _, tt, _, _) in raw.items():
        by_package[_package(file)] += tt
    print("\nself time by package (where the event-loop thread's CPU goes)")
    for package, seconds in by_package.most_common(12):
        print(
            f"  {package:<28} {seconds:>6.2f} s {seconds * per_turn:>7.2f} ms/reply "
            f"{100 * seconds / total:>5.1f}%"
        )
    print("\nhottest functions by self time (all packages)")
    hottest = sorted(raw.items(), key=lambda kv: -kv[1][2])
    for (file, line, name), (_, calls, tt, _, _) in hottest[:15]:
        print(f"  {tt:>6.2f} s {calls:>8}  {_short(file)}:{line}({name})")


_ENTRY = ("(autoreply/__main__.py:", "(autoreply/cli.py:", "serve (autoreply/web/app.py:")


def _root(frames: list[str]) -> str:
    """What a stack runs under: the main thread, a worker thread, or a greenlet (the ORM)."""
    first = frames[0]
    if "runpy" in first:
        return "main thread: event loop, HTTP, FastAPI, autoreply (ORM work excluded)"
    if first.startswith("Thread._bootstrap"):
        inner = next((f for f in frames[2:] if "threading.py" not in f), first)
        return f"worker thread: {_function(inner)}"
    return f"greenlet (SQLAlchemy async bridge): {_function(first)}"


def _function(frame: str) -> str:
    """``send (autoreply/web/routes/chat.py:99)`` -> ``send (autoreply/web/routes/chat.py)``."""
    head, _, line = frame.rpartition(":")
    return f"{head})" if line.rstrip(")").isdigit() else frame


def print_pyspy(path: Path, turns: int, rate: int, top: int) -> None:
    """Top autoreply functions and lines by inclusive samples, and self samples by package.

    The samples were taken with ``--gil``: each is what the thread holding the GIL was
    running, i.e. the server's Python CPU time (SQLite's C code runs without the GIL).
    """
    functions: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    leaf_package: Counter[str] = Counter()
    roots: Counter[str] = Counter()
    total = 0
    for row in path.read_text(encoding="utf-8").splitlines():
        stack, _, count_text = row.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith(("thread ", "process "))]
        if not frames:
            continue
        total += count
        roots[_root(frames)] += count
        own = [f for f in frames if "(autoreply/" in f and not any(e in f for e in _ENTRY)]
        for frame in set(own):
            lines[frame] += count
        for function in {_function(f) for f in own}:
            functions[function] += count
        leaves[_function(frames[-1])] += count
        where = frames[-1].rpartition("(")[2].rstrip(")").rsplit(":", 1)[0]
        leaf_package[_package(where)] += count
    per_turn = 1000 / max(turns, 1) / rate

    def share(count: int) -> str:
        return f"{count:>6} {count * per_turn:>6.2f} ms/reply {100 * count / max(total, 1):>5.1f}%"

    print(f"\npy-spy samples of the server's GIL holder during the bot phase: {path}")
    print(
        f"{total} samples at {rate}/s = {total / rate:.2f} s of Python CPU over {turns} bot "
        f"replies = {total * per_turn:.1f} ms per reply"
    )
    print("\nsamples by what the stack runs under")
    for root, count in roots.most_common(10):
        print(f"  {share(count)}  {root}")
    print(
        f"\ntop {top} autoreply functions by inclusive samples (main thread; SQLAlchemy runs "
        "ORM calls in greenlets, whose samples are not under their autoreply caller)"
    )
    for function, count in functions.most_common(top):
        print(f"  {share(count)}  {function}")
    print("\ntop 15 autoreply lines by inclusive samples")
    for frame, count in lines.most_common(15):
        print(f"  {share(count)}  {frame}")
    print("\nself samples by package (the innermost Python frame)")
    for package, count in leaf_package.most_common(12):
        print(f"  {package:<26} {share(count)}")
    print("\nhottest functions by self samples (all packages)")
    for function, count in leaves.most_common(15):
        print(f"  {share(count)}  {function}")
