"""Fixtures the end-to-end tests share: one headless Chromium per test module (tests/e2e/browser.py)."""
from __future__ import annotations

import pytest

from tests.e2e.browser import chromium


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright; skipped with a clear message when absent (failed when CI is set)."""
    with chromium() as b:
        yield b
