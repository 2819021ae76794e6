"""Browser fixtures: Debian's headless Chromium driven by Playwright, against a live server.

Reusable by any page's tests: `browser` (Chromium for one test), `page` (a fresh
context, downloads accepted), `sign_in` (Django's staff login form) and
`signed_in_as` (a session for any user, staff or not), and `screenshot`, which saves
under var/screenshots/ for a person to look at.
"""

import os

import pytest
from django.conf import settings as django_settings
from django.test import Client

from tests.conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
# This machine's network is closed: nothing Chromium would fetch by itself.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "var" / "screenshots"


@pytest.fixture
def browser(monkeypatch):
    """Chromium, launched for one test (about a second): Playwright's sync API keeps an
    event loop in the test's thread while it runs, so Django's synchronous ORM is allowed
    beside it for that test only (a deploy check run later in a subprocess would refuse
    the variable that allows it)."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def sign_in(live_server):
    """Sign in through Django's staff login form, as a person would."""

    def sign(page, username, password, next_path="/ops/"):
        page.goto(f"{live_server.url}/admin/login/?next={next_path}")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("input[type=submit]")

    return sign


@pytest.fixture
def signed_in_as(live_server):
    """A browser session for `user` without the login form (which refuses non-staff)."""

    def sign(page, user):
        client = Client()
        client.force_login(user)
        host = live_server.url.split("//", 1)[1].split(":")[0]
        page.context.add_cookies(
            [
                {
                    "name": django_settings.SESSION_COOKIE_NAME,
                    "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
                    "domain": host,
                    "path": "/",
                }
            ]
        )

    return sign


def screenshot(page, name):
    """Save the whole page as var/screenshots/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
