"""The broader timing table (timing_table.yaml beside this file): >100 answers as leads write them.

The conventions (the 'today' dates, the fiscal year start, what start/end/bucket/uncertain/
waiting_for mean, the two-date rule) are written at the top of the YAML file.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from autoreply.domain.timing import parse_timing

TODAY = {"nov": date(2026, 11, 21), "may": date(2026, 5, 15), "feb": date(2027, 2, 15)}
_TABLE = yaml.safe_load((Path(__file__).with_name("timing_table.yaml")).read_text(encoding="utf-8"))


def _params() -> list[Any]:
    out = []
    for row in _TABLE["cases"]:
        today, text, start, end, bucket, *rest = row
        alternatives = rest[0] if rest else None
        waiting_for = rest[1] if len(rest) > 1 else None
        out.append(
            pytest.param(
                TODAY[today],
                str(text),
                start,
                end,
                bucket,
                alternatives,
                waiting_for,
                id=f"{today}-{text}",
            )
        )
    return out


def test_table_is_broad() -> None:
    assert len(_TABLE["cases"]) >= 100


@pytest.mark.parametrize(
    ("today", "text", "start", "end", "bucket", "alternatives", "waiting"), _params()
)
def test_table(
    today: date,
    text: str,
    start: date | None,
    end: date | None,
    bucket: str,
    alternatives: list[list[date | None]] | None,
    waiting: str | None,
) -> None:
    t = parse_timing(text, today, 4)
    assert (t.start, t.end, t.bucket.value) == (start, end, bucket)
    got_alternatives = [[a[0], a[1]] for a in getattr(t, "alternatives", ())]
    assert got_alternatives == (alternatives or [])
    assert getattr(t, "waiting_for", None) == waiting
