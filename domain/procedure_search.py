"""Finding a procedure by a few typed words: any order, prefixes, without diacritics.

"dat dai bien dong", "kh sinh" and "khai sinh" all find their procedures. The intake page's
script (node/static/app.js, ``matchScore``) implements the same rule for typing speed; the kiosk
catalogue and tests use this one.
"""
from __future__ import annotations

import re

from .text import fold

_WORD = re.compile(r"[0-9a-z.]+")


def words(text: str | None) -> list[str]:
    return _WORD.findall(fold(text))


def search_text(*parts) -> str:
    """The folded text a procedure is matched against (code, name, field)."""
    return " ".join(fold(str(p)) for p in parts if p)


def score(query: str | None, text: str) -> int | None:
    """None when a query word prefixes no word of ``text``; else higher is better.

    Each query word must be the prefix of some word of the text (any order). Whole-word hits
    and shorter texts rank first, so "khai sinh" puts "Đăng ký khai sinh" above "Đăng ký lại khai sinh".
    """
    wanted = words(query)
    have = words(text)
    if not wanted:
        return 0
    total = 0
    for w in wanted:
        if w in have:
            total += 100
        elif any(h.startswith(w) for h in have):
            total += 60
        else:
            return None
    return total * 100 - len(have)


def rank(query: str | None, items: list, text_of) -> list:
    """The items matching ``query``, best first (stable for equal scores)."""
    scored = [(s, i, item) for i, item in enumerate(items) if (s := score(query, text_of(item))) is not None]
    return [item for _s, _i, item in sorted(scored, key=lambda t: (-t[0], t[1]))]
