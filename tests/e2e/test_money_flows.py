"""A customer's money in a real browser: add a card through the gateway's hosted page
with step-up and 3-D Secure, top up, show the payment code, a store register takes
the payment through the terminal API, and the receipt mail, history, receipt and CSV
show it. Then "I don't recognise this" locks the wallet. Phone width, then desktop."""

from __future__ import annotations

import csv
import io
import json
import re
import time
import urllib.request
import uuid
from datetime import timedelta
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Browser, BrowserContext, Page, expect
from pytest_django.live_server_helper import LiveServer

from tests.conftest import enrol_totp, make_customer
from wallet.models import AccountFreeze, Card, Payment, PaymentCode, TransactionReport, User
from wallet.selectors import wallet_balance
from wallet.services.payments import payment_code_digest
from wallet.services.second_factor import SESSION_STEP_UP_AT
from wallet.services.terminals import merchant_create, terminal_create

from .conftest import Shots, secret_of, totp_code_unused

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
THREE_DS_CARD = "4000000000003220"


def submit(page: Page) -> None:
    page.locator("main form button[type=submit]").first.click()


def let_step_up_age(context: BrowserContext) -> None:
    """Time passes: the step-up done at login is no longer fresh (S04)."""
    [cookie] = [c for c in context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME]
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=cookie["value"])
    store[SESSION_STEP_UP_AT] = (timezone.now() - settings.STEP_UP_MAX_AGE - timedelta(minutes=1)).isoformat()
    store.save()


def terminal_pays(live_server: LiveServer, key: str, code: str, amount_yen: int) -> dict[str, object]:
    """The store register's side: POST /api/v1/terminal/payments/ with its key and an Idempotency-Key."""
    request = urllib.request.Request(
        f"{live_server.url}/api/v1/terminal/payments/",
        data=json.dumps({"code": code, "amount_yen": amount_yen, "description": "Coffee and a sandwich"}).encode(),
        headers={"Authorization": f"Terminal {key}", "Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=15) as response:
        assert response.status == 201
        body: dict[str, object] = json.loads(response.read())
    return body


def mail_to(address: str, fragment: str) -> mail.EmailMessage:
    for _attempt in range(50):
        found = [m for m in mail.outbox if m.to == [address] and fragment in str(m.body)]
        if found:
            return found[-1]
        time.sleep(0.1)
    raise AssertionError(f"no mail to {address} containing {fragment!r}: {[m.subject for m in mail.outbox]}")


def log_in(page: Page, live_server: LiveServer, user: User, secret: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.locator("#id_username").fill(user.email)
    page.locator("#id_password").fill(PASSWORD)
    submit(page)
    page.locator("#id_code").fill(totp_code_unused(secret, TOTPDevice.objects.get(user=user)))
    submit(page)
    expect(page).to_have_url(f"{live_server.url}/")


def step_up(page: Page, user: User, secret: str, shot: Shots, step: str) -> None:
    expect(page.locator("h1")).to_have_text("Confirm it is you")
    shot(page, step)
    page.locator("#id_code").fill(totp_code_unused(secret, TOTPDevice.objects.get(user=user)))
    submit(page)


def test_customer_adds_a_card_tops_up_pays_at_a_store_and_finds_it_in_the_history(
    page: Page, context: BrowserContext, browser: Browser, live_server: LiveServer, shot: Shots, tmp_path: Path
) -> None:
    customer = make_customer()
    secret = secret_of(enrol_totp(customer))
    merchant = merchant_create(name="Blue Bottle Kiyosumi", code="blue-bottle")
    _register, register_key = terminal_create(merchant=merchant, name="Register 2", kind="store_register")

    log_in(page, live_server, customer, secret)
    main = page.locator("main")
    expect(main.locator(".balance")).to_have_text("¥0")
    expect(main).to_contain_text("No transactions yet.")
    shot(page, "home-empty-wallet")

    # --- A card, with a fresh code (step-up) and the card company's 3-D Secure check.
    page.get_by_role("link", name="Top up").click()
    expect(page.locator("h2")).to_contain_text(["Add a card first"])
    shot(page, "topup-no-card-yet")
    let_step_up_age(context)
    page.locator("main").get_by_role("link", name="Add a card").click()
    step_up(page, customer, secret, shot, "step-up-before-adding-a-card")
    expect(page.locator("h1")).to_have_text("Add a card")
    submit(page)
    expect(page).to_have_url(re.compile(r"/dev/gateway/"))
    page.locator("#id_number").fill(THREE_DS_CARD)
    page.locator("#id_expiry").fill("12/30")
    page.locator("#id_security_code").fill("123")
    page.locator("#id_holder").fill("HANAKO YAMADA")
    shot(page, "gateway-card-form")
    submit(page)
    expect(page.locator("#three-ds-heading")).to_be_visible()
    shot(page, "gateway-3ds-challenge")
    page.locator("#id_code").fill(page.locator("#bank-app-heading + p .secret").inner_text())
    submit(page)
    expect(page.locator(".messages")).to_contain_text("ending in 3220 was added")
    shot(page, "card-added")
    card = Card.objects.get(user=customer, status=Card.Status.ACTIVE)

    # --- A top-up large enough to ask for a fresh code; the form comes back filled in.
    let_step_up_age(context)
    page.goto(f"{live_server.url}/topup/")
    expect(page.locator("#id_card")).to_have_value(str(card.pk))
    page.locator("#id_amount").fill("10,000")
    shot(page, "topup-form")
    submit(page)
    step_up(page, customer, secret, shot, "step-up-before-a-large-top-up")
    expect(page.locator("#id_amount")).to_have_value("10000")
    expect(page.locator("main .message")).to_contain_text("Check the card and the amount")
    shot(page, "topup-form-after-step-up")
    submit(page)
    expect(page.locator("main h1")).to_have_text("¥10,000 added to your wallet")
    shot(page, "topup-succeeded")
    assert wallet_balance(customer) == 10_000

    # --- The payment code: barcode, QR, digits, countdown.
    page.goto(f"{live_server.url}/")
    expect(main.locator(".balance")).to_have_text("¥10,000")
    page.locator("main").get_by_role("link", name="Pay", exact=True).click()
    expect(page.locator("img[data-barcode]")).to_be_visible()
    expect(page.locator("img[data-qr]")).to_be_visible()
    expect(page.locator("[data-countdown]")).to_have_text(re.compile(r"^\([0-4]:\d\d\)$"))
    shot(page, "payment-code")
    digits = page.locator("[data-digits]").inner_text()
    assert re.fullmatch(r"\d{4}( \d{4}){3} \d{2}", digits), digits

    # "New code" swaps the code in place; the shown code is the one that works.
    page.locator("[data-new-code]").click()
    expect(page.locator("[data-digits]")).not_to_have_text(digits)
    expect(page.locator("[data-status]")).to_have_text("A new code is shown.")
    expect(page).to_have_url(re.compile(r"/pay/$"))
    code = "".join(page.locator("[data-digits]").inner_text().split())

    # --- The register scans it and takes ¥1,200 through the terminal API.
    paid = terminal_pays(live_server, register_key, code, 1_200)
    payment = Payment.objects.get(public_id=str(paid["id"]))
    assert payment.user == customer and wallet_balance(customer) == 8_800
    receipt_mail = mail_to(customer.email, "1,200")
    assert "Blue Bottle Kiyosumi" in str(receipt_mail.body)

    # --- Home, history, receipt and CSV all show it.
    page.goto(f"{live_server.url}/")
    expect(main.locator(".balance")).to_have_text("¥8,800")
    expect(main.locator(".activity li").first).to_contain_text("Blue Bottle Kiyosumi")
    expect(main.locator(".activity li").first).to_contain_text("-¥1,200")
    shot(page, "home-after-payment")
    page.get_by_role("link", name="All activity").click()
    expect(page.locator(".activity li")).to_have_count(2)
    shot(page, "activity")
    page.locator("summary").click()
    page.locator("#id_kind").select_option("payment")
    page.locator("main form button[type=submit]").first.click()
    expect(page.locator(".activity li")).to_have_count(1)
    shot(page, "activity-filtered")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download as CSV").click()
    rows = list(csv.reader(io.StringIO(Path(download_info.value.path()).read_text("utf-8-sig"))))
    assert rows[1][1:4] == ["Store payment", "Blue Bottle Kiyosumi", "-1200"] and len(rows) == 2

    page.locator(".activity a").first.click()
    expect(page.locator(".receipt-amount")).to_have_text("-¥1,200")
    expect(page.locator(".receipt")).to_contain_text("Register 2")
    expect(page.locator(".receipt")).to_contain_text(str(payment.transfer.public_id))
    shot(page, "receipt")

    # --- Desktop width: the same pages.
    desktop = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP", storage_state=context.storage_state())
    try:
        wide = desktop.new_page()
        for path, step in [
            ("/", "desktop-home"),
            ("/activity/", "desktop-activity"),
            ("/topup/", "desktop-topup"),
            ("/pay/", "desktop-pay"),
        ]:
            wide.goto(f"{live_server.url}{path}")
            shot(wide, step)
        wide.goto(f"{live_server.url}/activity/{payment.transfer.public_id}/")
        shot(wide, "desktop-receipt")
    finally:
        desktop.close()

    # --- "I don't recognise this": a report for the back-office, and the wallet locked at once.
    page.get_by_role("link", name="I don't recognise this").click()
    expect(page.locator("#id_lock_wallet")).to_be_checked()
    page.locator("#id_note").fill("I was at home all day.")
    shot(page, "report-form")
    submit(page)
    expect(page.locator(".messages")).to_contain_text("your wallet is locked")
    shot(page, "report-sent")
    assert TransactionReport.objects.filter(user=customer, transfer=payment.transfer, wallet_locked=True).exists()
    assert AccountFreeze.objects.active().filter(user=customer).exists()
    page.goto(f"{live_server.url}/pay/")
    expect(page.locator("main")).to_contain_text("No payment code now")
    shot(page, "pay-while-locked")
    page.goto(f"{live_server.url}/")
    expect(page.locator(".locked-state")).to_contain_text("Your wallet is locked")
    shot(page, "home-locked")
    page.locator(".locked-state").get_by_role("link", name="Details").click()
    expect(page.locator("main")).to_contain_text("Unlock my wallet")
    shot(page, "lock-page-while-locked")


def test_the_payment_code_refreshes_itself_before_it_expires(page: Page, live_server: LiveServer, shot: Shots, settings: Any) -> None:
    # A short life so the refresh (20 s before expiry) comes within seconds.
    settings.PAYMENT_CODE_TTL = timedelta(seconds=24)
    customer = make_customer()
    secret = secret_of(enrol_totp(customer))
    log_in(page, live_server, customer, secret)
    page.goto(f"{live_server.url}/pay/")
    first = page.locator("[data-digits]").inner_text()
    first_barcode = page.locator("img[data-barcode]").get_attribute("src")
    expect(page.locator("[data-digits]")).not_to_have_text(first, timeout=15_000)
    expect(page.locator("[data-status]")).to_have_text("A new code is shown.")
    assert page.locator("img[data-barcode]").get_attribute("src") != first_barcode
    shot(page, "payment-code-refreshed")
    live = PaymentCode.objects.filter(user=customer, used_at__isnull=True, superseded_at__isnull=True)
    assert live.count() == 1, "the shown code is the only one that works"
    assert live.get().code_digest == payment_code_digest("".join(page.locator("[data-digits]").inner_text().split()))
