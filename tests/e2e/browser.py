"""Launch Debian's Chromium through Playwright's sync API, for the clerk's end-to-end flows.

Playwright's own browser download (``playwright install``) is never used: the node's
machines and CI install the distribution's package (``apt-get install -y chromium``)
and Playwright drives it through ``executable_path``. Never call ``playwright install``.

Tests take the ``browser`` fixture (tests/e2e/conftest.py: one Chromium per test process) and open
a fresh context with ``page_for``; ``chromium()`` starts another browser when a test needs its own::

    from tests.e2e.browser import chromium

    with chromium() as b:
        ...

Without /usr/bin/chromium the test is skipped, except when the environment variable
``CI`` is set: there a missing browser is a broken machine, so the test fails.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = "/usr/bin/chromium"
# Headless, no network of its own (updates, sync, QUIC, component downloads), no GPU, and no
# sandbox because tests often run as root in containers where the sandbox cannot start.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
MISSING = "Chromium not installed: apt-get install -y chromium"

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"  # git-ignored: screenshots for a person to look at


def _unavailable(message: str):
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require_chromium() -> str:
    """The browser's path; skip the test without it (fail instead when $CI is set)."""
    if not Path(CHROMIUM).is_file():
        _unavailable(MISSING)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("Playwright not installed: pip install -e '.[test]'")
    return CHROMIUM


# Playwright's sync API runs one instance per thread at a time: every ``chromium()`` of this process (the
# session's shared browser in tests/e2e/conftest.py, a test that starts its own) shares it; it stops when
# the last one closes.
_playwright: dict = {"instance": None, "users": 0}


@contextmanager
def chromium(*, headless: bool = True, slow_mo: float = 0) -> Iterator[Browser]:
    """Start Debian's Chromium (and Playwright, unless this process already runs it); close both on exit."""
    path = require_chromium()
    if _playwright["instance"] is None:
        from playwright.sync_api import sync_playwright
        _playwright["instance"] = sync_playwright().start()
    _playwright["users"] += 1
    try:
        browser = _playwright["instance"].chromium.launch(executable_path=path, headless=headless,
                                                          args=list(CHROMIUM_ARGS), slow_mo=slow_mo)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        _playwright["users"] -= 1
        if _playwright["users"] == 0:
            _playwright["instance"].stop()
            _playwright["instance"] = None


@contextmanager
def page_for(browser: Browser, base_url: str, *, timeout_ms: int = 10_000) -> Iterator[Page]:
    """A fresh context (no cookies) and page on base_url, Vietnamese locale, A4-ish desktop viewport."""
    context = browser.new_context(base_url=base_url, locale="vi-VN", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(timeout_ms)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def artifact(name: str) -> Path:
    """A path under test-artifacts/ at the repo root (created on demand)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
