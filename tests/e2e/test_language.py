"""The language switch: Japanese is the product default, the suite runs in English,
and the switch in the header changes the page language and remembers it (cookie)."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from pytest_django.live_server_helper import LiveServer

from .conftest import Shots

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def switch_language(page: Page, label: str) -> None:
    page.locator("#language-select").select_option(label=label)
    page.locator("form.lang-switch button[type=submit]").click()


def test_pages_work_in_japanese(page: Page, context: BrowserContext, live_server: LiveServer, shot: Shots) -> None:
    page.goto(f"{live_server.url}/login/")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    switch_language(page, "日本語")
    expect(page).to_have_url(f"{live_server.url}/login/")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.locator("#language-select")).to_have_value("ja")
    assert {c["name"]: c["value"] for c in context.cookies()}.get("django_language") == "ja"
    expect(page.locator("#id_username")).to_be_visible()
    shot(page, "login-in-japanese")

    # The choice sticks across pages.
    page.locator("header nav a[href='/signup/']").click()
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.locator("#id_name_kana")).to_be_visible()
    shot(page, "signup-in-japanese")

    # A Japanese validation error page still renders (full-width input, empty fields).
    page.locator("#id_email").fill("ｈａｎａｋｏ＠ｅｘａｍｐｌｅ．ｊｐ")
    page.locator("main form button[type=submit]").click()
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.locator(".errorlist").first).to_be_visible()
    shot(page, "signup-errors-in-japanese")

    page.goto(f"{live_server.url}/password-reset/")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    shot(page, "reset-request-in-japanese")

    switch_language(page, "English")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Reset your password")


def test_language_cookie_alone_switches_to_japanese(page: Page, context: BrowserContext, live_server: LiveServer, shot: Shots) -> None:
    """Without the cookie a page follows LANGUAGE_CODE (en in the suite, ja in the product);
    the django_language cookie the switch sets is enough, the browser's own language is not used."""
    context.add_cookies([{"name": "django_language", "value": "ja", "url": live_server.url}])
    page.goto(f"{live_server.url}/signup/")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.locator("#language-select")).to_have_value("ja")
    shot(page, "signup-with-language-cookie")
