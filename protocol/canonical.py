"""Canonical JSON: the single byte contract both node and central sign and hash.

Rules: UTF-8, object keys sorted, no insignificant whitespace, no floats (their
text form is not stable across implementations), no NaN. Values are str, int,
bool, None, list and dict with str keys. Anything else is a programming error
and raises ``TypeError`` instead of being coerced silently.
"""
from __future__ import annotations

import json

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


def loads(data: bytes | str):
    """Parse JSON, refusing floats so a parsed document re-serialises identically."""

    def no_float(text):
        raise ValueError(f"floats are not allowed in canonical JSON: {text}")

    return json.loads(data, parse_float=no_float, parse_constant=no_float)
