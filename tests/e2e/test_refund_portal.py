"""The refund portal in a real browser at phone width: a customer with an authenticator logs in
and claims by bank transfer, choosing the bank and branch by name from the autocomplete, with
a fresh code before the account is saved; a second customer who can no longer log in claims
through the link mailed to the address on record and the SMS code sent to the phone on record."""

from __future__ import annotations

import re
from datetime import timedelta
from importlib import import_module

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import BrowserContext, Page, expect
from pytest_django.live_server_helper import LiveServer

from refunds.models import BankDetails, RefundClaim
from tests.conftest import enrol_totp
from tests.refunds.factories import funded_customer, make_programme
from wallet.models import User
from wallet.selectors import wallet_balance
from wallet.services.second_factor import SESSION_STEP_UP_AT

from .conftest import Shots, link_in_mail, secret_of, sms_code_for, totp_code_unused

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


def submit(page: Page) -> None:
    """Press the main form's button (the header has its own forms: log out, language)."""
    page.locator("main form button[type=submit]").first.click()


def let_step_up_age(context: BrowserContext) -> None:
    """Time passes after the login: its code is no longer fresh for payee details (S04, B09)."""
    [cookie] = [c for c in context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME]
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=cookie["value"])
    store[SESSION_STEP_UP_AT] = (timezone.now() - settings.STEP_UP_MAX_AGE - timedelta(minutes=1)).isoformat()
    store.save()


def authenticator_of(customer: User) -> TOTPDevice:
    """The customer's one authenticator: the one they had when their wallet was funded (A13), else a new one."""
    return TOTPDevice.objects.filter(user=customer, confirmed=True).order_by("pk").first() or enrol_totp(customer)


def log_in(page: Page, live_server: LiveServer, user: User, secret: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.locator("#id_username").fill(user.email)
    page.locator("#id_password").fill(PASSWORD)
    submit(page)
    page.locator("#id_code").fill(totp_code_unused(secret, TOTPDevice.objects.get(user=user)))
    submit(page)
    expect(page).to_have_url(f"{live_server.url}/")


def test_customer_logs_in_and_claims_by_bank_transfer(page: Page, context: BrowserContext, live_server: LiveServer, shot: Shots) -> None:
    make_programme()
    customer = funded_customer(amount_yen=12_345)
    secret = secret_of(authenticator_of(customer))

    page.goto(f"{live_server.url}/refund/")
    expect(page.locator("h1")).to_have_text("Refund of your AnzenPay balance")
    expect(page.locator("main")).to_contain_text("AnzenPay is closing.")
    shot(page, "landing-anonymous")

    log_in(page, live_server, customer, secret)
    page.locator("header").get_by_role("link", name="Refund").click()
    expect(page.locator(".amount-big")).to_have_text("¥12,345")
    shot(page, "landing-logged-in-balance")
    page.get_by_role("link", name="Claim this amount").click()

    expect(page.locator(".progress-text")).to_contain_text("Step 1 of 4")
    shot(page, "step1-balance")
    submit(page)
    expect(page.locator(".progress-text")).to_contain_text("Step 2 of 4")
    page.get_by_label("Bank transfer to an account in your name").check()
    shot(page, "step2-method")
    let_step_up_age(context)
    submit(page)

    # S04: the step-up page comes first, then the bank form.
    expect(page.locator("h1")).to_have_text("Confirm it is you")
    shot(page, "step-up-before-bank-details")
    page.locator("#id_code").fill(totp_code_unused(secret, TOTPDevice.objects.get(user=customer)))
    submit(page)
    expect(page.locator(".progress-text")).to_contain_text("Step 3 of 4")
    shot(page, "step3-bank-form-empty")

    # A mistake first: errors next to their inputs, nothing kept.
    page.locator("#id_account_number").fill("12345678")
    page.locator("#id_holder_name").fill("山田花子")
    submit(page)
    expect(page.locator("#id_account_number_error")).to_contain_text("1 to 7 digits")
    expect(page.locator("#id_holder_name_error")).to_contain_text("kanji")
    expect(page.locator("#id_bank_error")).to_be_visible()
    shot(page, "step3-bank-form-errors")

    # The bank and branch by name, from the autocomplete.
    bank = page.locator("#id_bank")
    bank.fill("")
    bank.press_sequentially("みずほ", delay=40)
    options = page.locator("#bank-listbox li[role=option]")
    expect(options.first).to_contain_text("みずほ (0001)")
    expect(bank).to_have_attribute("aria-expanded", "true")
    shot(page, "step3-bank-autocomplete")
    options.first.click()
    expect(bank).to_have_value("みずほ (0001)")
    branch = page.locator("#id_branch")
    branch.press_sequentially("東京営業", delay=40)
    branch_options = page.locator("#branch-listbox li[role=option]")
    expect(branch_options.first).to_contain_text("東京営業部 (001)")
    shot(page, "step3-branch-autocomplete")
    branch.press("ArrowDown")
    branch.press("Enter")
    expect(branch).to_have_value("東京営業部 (001)")
    page.locator("#id_account_number").fill("1234567")
    page.locator("#id_holder_name").fill("ヤマダ ハナコ")
    shot(page, "step3-bank-form-filled")
    submit(page)

    expect(page.locator(".progress-text")).to_contain_text("Step 4 of 4")
    main = page.locator("main")
    expect(main).to_contain_text("ﾔﾏﾀﾞ ﾊﾅｺ")
    expect(main).to_contain_text("東京営業部 (001)")
    shot(page, "step4-check")
    assert not RefundClaim.objects.exists()
    page.get_by_role("button", name="Submit my claim").click()

    expect(page.locator("h1")).to_have_text("We have received your claim")
    claim = RefundClaim.objects.get(customer=customer)
    expect(page.locator(".claim-number")).to_have_text(claim.number)
    shot(page, "claim-done")
    assert claim.state == RefundClaim.State.APPROVED and wallet_balance(customer) == 0
    row = BankDetails.objects.get(claim=claim)
    assert (row.bank_code, row.branch_code, row.account_number, row.holder_name) == ("0001", "001", "1234567", "ﾔﾏﾀﾞ ﾊﾅｺ")
    assert any(claim.number in m.subject and m.to == [customer.email] for m in mail.outbox)

    page.get_by_role("link", name="Follow your claim").click()
    expect(page.locator("main")).to_contain_text("Claim received")
    expect(page.locator("main")).to_contain_text("****567")
    shot(page, "status-detail")


def test_customer_who_cannot_log_in_claims_with_the_link_and_the_sms_code(page: Page, live_server: LiveServer, shot: Shots) -> None:
    make_programme()
    holder = funded_customer("kenta@example.jp", amount_yen=3_800, phone="+819055556666", full_name="佐藤 健太", name_kana="サトウ ケンタ")

    page.goto(f"{live_server.url}/refund/")
    page.get_by_role("link", name="Claim without logging in").click()
    expect(page.locator("h1")).to_have_text("Claim without logging in")
    shot(page, "contact-form")
    # Typed in another case and format: it still finds the account; everything goes to what is on record.
    page.locator("#id_email").fill("Kenta@Example.JP")
    page.locator("#id_phone").fill("090 5555 6666")
    page.locator("#id_full_name").fill("佐藤 健太")
    page.locator("#id_birth_date").fill("1985-06-15")
    submit(page)
    expect(page.locator("h1")).to_have_text("Check your email")
    shot(page, "contact-check-your-email")

    [message] = [m for m in mail.outbox if "/refund/contact/link/" in str(m.body)]
    assert message.to == [holder.email]
    page.goto(live_server.url + link_in_mail(str(message.body), "/refund/contact/link/"))
    expect(page).to_have_url(re.compile(r"/refund/contact/code/$"))
    shot(page, "contact-code-form")
    page.locator("#id_code").fill("000000" if sms_code_for(holder.phone) != "000000" else "111111")
    submit(page)
    expect(page.locator("#id_code_error")).to_contain_text("not right")
    shot(page, "contact-code-wrong")
    page.locator("#id_code").fill(sms_code_for(holder.phone))
    submit(page)

    expect(page.locator(".progress-text")).to_contain_text("Step 1 of 4")
    expect(page.locator(".amount-big")).to_have_text("¥3,800")
    shot(page, "contact-step1-balance")
    submit(page)
    page.get_by_label("Cash at a Japan Post counter, with a certificate we mail to you").check()
    submit(page)
    expect(page.locator(".progress-text")).to_contain_text("Step 3 of 4")
    page.locator("#id_name").fill("佐藤 健太")
    page.locator("#id_postal_code").fill("１６０−００２２")
    page.locator("#id_address").fill("東京都新宿区新宿3-1-1 201号室")
    shot(page, "contact-step3-postal")
    submit(page)
    expect(page.locator("main")).to_contain_text("〒160-0022")
    shot(page, "contact-step4-check")
    page.get_by_role("button", name="Submit my claim").click()

    expect(page.locator("h1")).to_have_text("We have received your claim")
    claim = RefundClaim.objects.get(customer=holder)
    expect(page.locator(".claim-number")).to_have_text(claim.number)
    expect(page.locator("main")).to_contain_text("Waiting for staff review")
    shot(page, "contact-claim-done")
    assert claim.route == RefundClaim.Route.CONTACT and claim.state == RefundClaim.State.REVIEW
    assert claim.stated_name == "佐藤 健太"


def test_holder_follows_a_returned_claim_by_the_status_link_and_corrects_it(page: Page, live_server: LiveServer, shot: Shots) -> None:
    from tests.refunds.factories import bank_claim
    from tests.refunds.test_portal_status import return_claim

    make_programme()
    holder = funded_customer("mika@example.jp", amount_yen=2_500, phone="+819077778888", full_name="鈴木 美香", name_kana="スズキ ミカ")
    claim = return_claim(bank_claim(holder, 2_500, holder_name="ｽｽﾞｷ ﾐｶ", account_number="0000001"))

    page.goto(f"{live_server.url}/refund/status/")
    expect(page.locator("h1")).to_have_text("Status of your claim")
    shot(page, "status-lookup")
    page.locator("#id_claim_number").fill(claim.number.lower())
    page.locator("#id_email").fill("MIKA@example.jp")
    submit(page)
    expect(page.locator("h1")).to_have_text("Check your email")
    shot(page, "status-link-sent")
    [message] = [m for m in mail.outbox if "/refund/status/link/" in str(m.body)]
    assert message.to == [holder.email]
    page.goto(live_server.url + link_in_mail(str(message.body), "/refund/status/link/"))
    expect(page).to_have_url(re.compile(r"/refund/status/view/$"))
    main = page.locator("main")
    expect(main).to_contain_text("Returned by the bank")
    expect(main).to_contain_text("口座なし")
    expect(main).to_contain_text("****001")
    shot(page, "status-returned-read-only")

    page.get_by_role("button", name="Send me the link and the code").click()
    expect(page.locator("h1")).to_have_text("Check your email")
    shot(page, "correction-proof-sent")
    proof_mail = [m for m in mail.outbox if "/refund/contact/link/" in str(m.body)][-1]
    assert proof_mail.to == [holder.email]
    page.goto(live_server.url + link_in_mail(str(proof_mail.body), "/refund/contact/link/"))
    page.locator("#id_code").fill(sms_code_for(holder.phone))
    submit(page)
    expect(page.locator("h1")).to_have_text("Correct the details")
    shot(page, "correction-form")

    # Without the script's help: the typed name lists the matches to pick from.
    page.locator("#id_bank").fill("三菱")
    page.locator("#id_branch").fill("本店")
    page.locator("#id_account_number").fill("7654321")
    page.locator("#id_holder_name").fill("すずき みか")
    page.locator("main form").evaluate("form => form.submit()")
    expect(page.locator("[data-pick-list=bank]")).to_be_visible()
    shot(page, "correction-pick-a-bank")
    page.locator("[data-pick-list=bank] label", has_text="(0005)").click()
    page.locator("#id_account_number").fill("7654321")
    submit(page)
    expect(page.locator(".messages")).to_contain_text("new details are saved")
    shot(page, "correction-saved")
    claim.refresh_from_db()
    assert claim.state == RefundClaim.State.APPROVED
    current = BankDetails.objects.get(claim=claim, superseded_at__isnull=True)
    assert (current.bank_code, current.account_number, current.holder_name) == ("0005", "7654321", "ｽｽﾞｷ ﾐｶ")


def test_refund_pages_before_opening_after_the_deadline_and_in_japanese(page: Page, live_server: LiveServer, shot: Shots) -> None:
    from refunds.models import ShutdownProgramme

    programme = make_programme(open_now=False)
    page.goto(f"{live_server.url}/refund/")
    expect(page.locator("main")).to_contain_text("Claims are not open yet")
    shot(page, "landing-before-opening")
    ShutdownProgramme.objects.filter(pk=programme.pk).update(state=ShutdownProgramme.State.CANCELLED)
    make_programme(closed=True)
    page.goto(f"{live_server.url}/refund/")
    expect(page.locator("main")).to_contain_text("The claim deadline has passed")
    shot(page, "landing-after-deadline")
    page.goto(f"{live_server.url}/refund/contact/")
    expect(page.locator("main")).to_contain_text("late claim")
    shot(page, "contact-after-deadline")
    page.goto(f"{live_server.url}/refund/contact/code/")
    expect(page.locator("h1")).to_have_text("Please start again")
    shot(page, "contact-nothing-to-confirm")
    page.locator("header select[name=language]").select_option("ja")
    page.locator("header form.lang-switch button").click()
    page.goto(f"{live_server.url}/refund/")
    expect(page.locator("main")).to_contain_text("AnzenPayはサービスを終了します。")
    shot(page, "landing-japanese")
