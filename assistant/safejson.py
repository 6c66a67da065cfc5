"""JSON from untrusted text, with its nesting bounded before parsing.

``json.loads`` recurses once per nesting level: a 2 KB file nested 985 levels deep raises
RecursionError (not ValueError) at a stack depth that depends on the caller, so a check at
one depth passes and the same parse fails deeper in a build. ``loads`` measures the nesting
with a linear scan first and refuses anything deeper than ``max_depth`` with a ValueError
that says so. Left out: limits on string or number sizes (the callers cap the byte size).
"""

from __future__ import annotations

import json
import re

__all__ = ["JSONDepthError", "loads", "nesting_depth"]

# A JSON string (escapes included), as an unrolled loop: linear, no ambiguous repetition.
_STRING_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET_RE = re.compile(r"[^\[\]{}]+")


class JSONDepthError(ValueError):
    """The text nests arrays/objects deeper than allowed."""


def nesting_depth(text: str, stop_at: int | None = None) -> int:
    """The deepest nesting of [ and { outside strings (stops counting past ``stop_at``)."""
    depth = deepest = 0
    brackets = _NOT_BRACKET_RE.sub("", _STRING_RE.sub("", text))
    for ch in brackets:
        if ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_at is not None and deepest > stop_at:
                    return deepest
        else:
            depth -= 1
    return deepest


def loads(text: str, *, max_depth: int):
    """``json.loads(text)`` after checking that it nests at most ``max_depth`` levels.

    Raises JSONDepthError (a ValueError) when deeper, json.JSONDecodeError when invalid.
    """
    if nesting_depth(text, stop_at=max_depth) > max_depth:
        raise JSONDepthError(f"JSON nested more than {max_depth} levels deep")
    return json.loads(text)
