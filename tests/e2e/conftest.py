"""Fixtures the end-to-end tests share: one headless Chromium per test process (tests/e2e/browser.py)."""
from __future__ import annotations

import pytest

from tests.e2e.browser import chromium


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium through Playwright; skipped with a clear message when absent (failed when CI is set).

    One browser for every browser test a test process runs (starting Chromium costs a second or two);
    each test gets its own context (no cookies, no storage, its own pages) from ``page_for``."""
    with chromium() as b:
        yield b
