"""Playwright driving Debian's Chromium against pytest-django's live server.

Playwright's own browser download does not work here, so the system Chromium is
launched by path. Its sync API runs an event loop in the test thread, hence
DJANGO_ALLOW_ASYNC_UNSAFE for the ORM calls the tests make between steps.
"""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pyotp
import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.helpers import latest_sms_code as sms_code_for  # noqa: F401 - the flows import it from here

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.exit(f"Chromium not found at {CHROMIUM}: apt-get update && apt-get install -y chromium", returncode=3)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale="ja-JP")
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


class Shots:
    """Saves a full-page screenshot per step, named after the test."""

    def __init__(self, test_name: str) -> None:
        self.prefix = re.sub(r"[^a-z0-9_]+", "_", test_name.lower())
        self.count = 0
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def __call__(self, page: Page, step: str) -> Path:
        self.count += 1
        path = SCREENSHOTS / f"{self.prefix}_{self.count:02d}_{step}.png"
        page.screenshot(path=str(path), full_page=True)
        # At phone width nothing may stick out sideways (a hidden button or column).
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{step}: the page is {overflow}px wider than the phone screen (see {path.name})"
        return path


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Shots:
    return Shots(request.node.name)


# --- Helpers shared by the flows -----------------------------------------------------

_URL_RE = re.compile(r"https?://[^\s<>\"']+")


def link_in_mail(body: str, fragment: str) -> str:
    """The path (and query) of the first link in a mail body containing ``fragment``.

    Mail links are built from SITE_URL; the browser opens the same path on the live server.
    """
    for url in _URL_RE.findall(body):
        if fragment in url:
            parsed = urlparse(url)
            return parsed.path + (f"?{parsed.query}" if parsed.query else "")
    raise AssertionError(f"no link containing {fragment!r} in mail:\n{body}")


def totp_code_unused(secret_b32: str, device: TOTPDevice | None = None) -> str:
    """A TOTP code the server has not seen yet.

    django-otp accepts a code once per 30-s step and, with tolerance 1 (A07), also the
    next step's code. If the current step is already used, the next step's code is
    taken; if that is used too, wait for the clock.
    """
    totp = pyotp.TOTP(secret_b32)
    while True:
        now = time.time()
        step = int(now // 30)
        last_t = -1
        if device is not None:
            device.refresh_from_db()
            last_t = device.last_t
        wanted = max(step, last_t + 1)
        if wanted <= step + 1:
            return totp.at(wanted * 30)
        time.sleep(30 - now % 30 + 0.2)


def secret_of(device: TOTPDevice) -> str:
    return base64.b32encode(device.bin_key).decode()
