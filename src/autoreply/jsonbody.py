"""Parsing a JSON request body that anyone may have written: bounded nesting, a reason for
every refusal (the wire modules turn it into their own error)."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_DEPTH", "loads"]

MAX_DEPTH = 32  # a form or a LINE event nests a few levels; nothing honest nests 32


def loads(body: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of ``body``; ``ValueError`` saying why it is not usable JSON: not
    UTF-8, not JSON, or nested deeper than ``max_depth`` (never a ``RecursionError``).

    >>> loads(b'{"a": [1]}')
    {'a': [1]}
    >>> loads(b"[" * 40 + b"]" * 40)
    Traceback (most recent call last):
    ValueError: the JSON is nested deeper than 32 levels
    """
    too_deep = ValueError(f"the JSON is nested deeper than {max_depth} levels")
    try:
        value = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"the body is not JSON: not UTF-8 ({exc})") from exc
    except RecursionError:
        raise too_deep from None
    except ValueError as exc:
        raise ValueError(f"the body is not JSON: {exc}") from exc
    if _depth(value) > max_depth:
        raise too_deep
    return value


def _depth(value: Any) -> int:
    """How deeply containers nest in ``value`` (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in item)
    return deepest
