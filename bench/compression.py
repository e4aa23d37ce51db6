"""What gzip does to the text the service sends: bytes on the wire, and the time it costs.

    PYTHONPATH=src python bench/compression.py
    python bench/compression.py --requests 200

The app (``create_app``, lifespan run, a SQLite file in a temporary folder) is asked
in-process (httpx's ASGI transport, no sockets) for each path twice per round: with
``Accept-Encoding: gzip`` and with ``identity``. Prints one table: bytes as sent each way,
the ratio, and the median time of one request each way (so the difference is what
compressing costs the server per request, at the level the app uses).

Exit status 0 (a benchmark never gates), 2 if it could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from tests.conftest import make_settings  # noqa: E402

from autoreply.web.app import create_app  # noqa: E402

PATHS = ("/widget.js", "/", "/cases", "/openapi.json", "/docs/assets/swagger-ui-bundle.js")


async def _get(client: httpx.AsyncClient, path: str, encoding: str) -> tuple[int, float]:
    started = time.perf_counter()
    async with client.stream("GET", path, headers={"Accept-Encoding": encoding}) as response:
        size = sum([len(chunk) async for chunk in response.aiter_raw()])
        if response.status_code != 200:
            raise SystemExit(f"{path}: HTTP {response.status_code}")
    return size, time.perf_counter() - started


async def measure(requests: int) -> list[tuple[str, int, int, float, float]]:
    with tempfile.TemporaryDirectory() as folder:
        settings = make_settings(database_url=f"sqlite+aiosqlite:///{folder}/bench.db")
        app = create_app(settings)
        rows = []
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as c:
                for path in PATHS:
                    await _get(c, path, "gzip")  # warm-up: templates compiled, files cached
                    plain: list[float] = []
                    packed: list[float] = []
                    for _ in range(requests):
                        zipped_size, t = await _get(c, path, "gzip")
                        packed.append(t)
                        plain_size, t = await _get(c, path, "identity")
                        plain.append(t)
                    rows.append(
                        (
                            path,
                            plain_size,
                            zipped_size,
                            statistics.median(plain),
                            statistics.median(packed),
                        )
                    )
        return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=50, help="requests per path and way")
    args = parser.parse_args()
    try:
        rows = asyncio.run(measure(args.requests))
    except Exception as exc:
        print(f"could not run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(f"gzip of text answers, {args.requests} requests per path and way (median)")
    print()
    print("| path | bytes, identity | bytes, gzip | gzip/identity | ms, identity | ms, gzip |")
    print("|---|---:|---:|---:|---:|---:|")
    for path, plain, zipped, t_plain, t_zipped in rows:
        print(
            f"| `{path}` | {plain:,} | {zipped:,} | {zipped / plain:.0%} "
            f"| {t_plain * 1000:.2f} | {t_zipped * 1000:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
