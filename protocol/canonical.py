"""Canonical JSON: the single byte contract both node and central sign and hash.

Rules: UTF-8, object keys sorted, no insignificant whitespace, no floats (their
text form is not stable across implementations), no NaN. Values are str, int,
bool, None, list and dict with str keys. Anything else is a programming error
and raises ``TypeError`` instead of being coerced silently.
"""
from __future__ import annotations

import json
import re

__all__ = ["canonical_json", "canonical_json_of_parsed", "loads"]


def _check(value, path="$"):
    if value is None or isinstance(value, (str, bool)):
        return
    if isinstance(value, int):
        return
    if isinstance(value, float):
        raise TypeError(f"floats are not allowed in canonical JSON (at {path})")
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"object keys must be strings (at {path})")
            _check(item, f"{path}.{key}")
        return
    raise TypeError(f"{type(value).__name__} is not allowed in canonical JSON (at {path})")


def canonical_json(value) -> bytes:
    """Return the canonical UTF-8 bytes of ``value``."""
    _check(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def canonical_json_of_parsed(value) -> bytes:
    """``canonical_json`` of a value that ``loads`` produced (no float, str keys): skips the type walk."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _no_float(text):
    raise ValueError(f"floats are not allowed in canonical JSON: {text}")


def loads(data: bytes | str):
    """Parse JSON, refusing what a parsed document could not re-serialise identically as UTF-8: floats,
    NaN and infinities, and a lone surrogate (U+D800-U+DFFF not in a pair, written as a \\u escape or
    as its three bytes, which json decodes), which is no character at all."""
    value = json.loads(data, parse_float=_no_float, parse_constant=_no_float)
    if _may_hold_surrogate(data):
        try:
            canonical_json_of_parsed(value)
        except UnicodeEncodeError:
            raise ValueError("a lone surrogate (U+D800-U+DFFF not in a pair) is not a character") from None
    return value


_SURROGATE_BYTES = re.compile(rb"\xed[\xa0-\xbf]")  # the UTF-8 form of U+D800-U+DFFF


def _may_hold_surrogate(data: bytes | str) -> bool:
    """A quick screen (two or three substring scans): could the text spell a surrogate? Only then is the
    parsed value encoded to see whether one is left alone."""
    if isinstance(data, str):  # (read back from our own database: only an escape could spell one)
        return "\\ud" in data or "\\uD" in data
    data = bytes(data)
    return b"\\ud" in data or b"\\uD" in data or (b"\xed" in data and _SURROGATE_BYTES.search(data) is not None)
