"""The day accounts are being drained, in a real browser (issue 4).

A fraud analyst signs in with a code, stops card top-ups from the incident
console and a customer's card top-up is refused; the analyst replays the 7pay
rule over the last day, opens cases for the hits and asks for compensation; a
supervisor approves it and the victims are paid. Then one supervisor asks for a
mass password reset, a second approves, the progress bar finishes, and a
customer's next login is guided through the reset to the second factor.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from backoffice.models import Case, Compensation, MassReset
from tests.conftest import enrol_totp, make_customer
from tests.money import fund_wallet, make_card, make_terminal, payment_code_for
from wallet.models import ApiToken, Payment, Terminal, TopUp, User, UserSession
from wallet.selectors import wallet_balance
from wallet.services.payments import payment_redeem
from wallet.services.topups import topup_cash

from .conftest import Shots, link_in_mail, secret_of, totp_code_unused

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

STAFF_PASSWORD = "staff passphrase for the incident day"
CUSTOMER_PASSWORD = "correct horse battery staple"
# (email, ATM top-up, purchases) — each under the live rule's ¥10,000 thresholds, as the attackers kept them.
VICTIMS = [
    ("kenji@example.jp", 9_000, [4_980, 3_000]),
    ("yuki@example.jp", 9_500, [5_000, 3_000]),
    ("akira@example.jp", 8_000, [7_560]),
]


def make_staff(email: str, role: str) -> tuple[User, str]:
    user = User.objects.create_user(email, STAFF_PASSWORD, full_name=email.split("@")[0], is_staff=True, email_verified_at=timezone.now())
    user.groups.add(Group.objects.get(name=role))
    return user, secret_of(enrol_totp(user))


def staff_page(browser: Browser) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.set_default_timeout(20_000)
    return context.new_page()


def staff_login(page: Page, live_server: LiveServer, user: User, secret: str) -> None:
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.locator("#id_username").fill(user.email)
    page.locator("#id_password").fill(STAFF_PASSWORD)
    page.locator("#id_otp_token").fill(totp_code_unused(secret, TOTPDevice.objects.get(user=user)))
    page.locator("#login-form input[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}/admin/")


def customer_login(page: Page, live_server: LiveServer, email: str, password: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.locator("#id_username").fill(email)
    page.locator("#id_password").fill(password)
    page.locator("main form button[type=submit]").first.click()


def seed_taken_over_accounts() -> None:
    """Yesterday's attack: cash in at the ATM, resellable goods at the register within the hour."""
    atm, _ = make_terminal(Terminal.Kind.ATM, merchant_code="anzenmart")
    register, _ = make_terminal(merchant_code="anzenmart")
    hour_ago = timezone.now() - timedelta(hours=2)
    for email, topup_yen, purchases in VICTIMS:
        victim = make_customer(email)
        topup_cash(terminal=atm, code=payment_code_for(user=victim).code, amount_yen=topup_yen, idempotency_key=f"e2e-{email}-topup")
        for index, amount in enumerate(purchases):
            payment_redeem(
                terminal=register, code=payment_code_for(user=victim).code, amount_yen=amount, idempotency_key=f"e2e-{email}-{index}"
            )
        # The hunt's period ends at a whole minute in the past; the attack happened before it.
        TopUp.objects.filter(user=victim).update(created_at=hour_ago, completed_at=hour_ago)
        Payment.objects.filter(user=victim).update(created_at=hour_ago + timedelta(minutes=20))


def test_analyst_stops_card_topups_hunts_the_7pay_pattern_and_a_second_person_approves_compensation(
    browser: Browser, page: Page, live_server: LiveServer, shot: Shots
) -> None:
    analyst, analyst_secret = make_staff("fraud@anzenpay.example", "fraud_analyst")
    supervisor, supervisor_secret = make_staff("supervisor@anzenpay.example", "supervisor")
    hanako = make_customer("hanako@example.jp", CUSTOMER_PASSWORD)
    hanako_secret = secret_of(enrol_totp(hanako))
    make_card(hanako)
    seed_taken_over_accounts()

    # --- The analyst turns card top-ups off from the incident console: one person, at once.
    desk = staff_page(browser)
    staff_login(desk, live_server, analyst, analyst_secret)
    desk.get_by_role("link", name="Incident console").first.click()
    card = desk.locator("li.switch-card", has=desk.locator("code", has_text=re.compile(r"^charge\.credit_card$")))
    card.locator("textarea[name=reason]").fill("Card top-ups draining accounts since 05:00")
    card.get_by_role("button", name=re.compile("Turn off")).click()
    card = desk.locator("li.switch-card", has=desk.locator("code", has_text=re.compile(r"^charge\.credit_card$")))
    expect(card.locator(".switch-badge")).to_have_text("Off")
    expect(card).to_contain_text("Card top-ups draining accounts since 05:00")
    shot(desk, "console-card-topups-off")

    # --- Hanako's card top-up is refused; her balance is untouched.
    customer_login(page, live_server, hanako.email, CUSTOMER_PASSWORD)
    page.locator("#id_code").fill(totp_code_unused(hanako_secret, TOTPDevice.objects.get(user=hanako)))
    page.locator("main form button[type=submit]").first.click()
    expect(page).to_have_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/topup/")
    page.locator("#id_amount").fill("3000")
    page.locator("main form button[type=submit]").first.click()
    expect(page.locator("main")).to_contain_text("temporarily suspended")
    shot(page, "customer-card-topup-refused")
    assert not TopUp.objects.filter(user=hanako).exists()

    # --- The analyst replays the 7pay rule over the last day with the attackers' amounts.
    desk.goto(f"{live_server.url}/admin/incident/hunts/")
    # The 7pay rule is the first choice: the hunt an incident starts with.
    expect(desk.locator("#id_preset option:checked")).to_contain_text("spend")
    desk.locator("#id_thresholds").fill('{"topup_total_min_yen": 5000, "payment_min_yen": 3000, "hours": 2}')
    now = timezone.localtime()
    desk.locator("#id_period_start").fill((now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"))
    desk.locator("#id_period_end").fill(now.strftime("%Y-%m-%dT%H:%M"))
    desk.get_by_role("button", name="Start the hunt").or_(desk.locator("input[value='Start the hunt']")).click()
    expect(desk.locator("#content-main")).to_contain_text("3", timeout=60_000)
    expect(desk.locator("#hunt-progress-bar")).to_have_attribute("value", re.compile(r"\d+"))
    for _wait in range(60):
        desk.reload()
        if "Finished" in desk.locator("#content-main").inner_text():
            break
        time.sleep(1)
    expect(desk.locator("#content-main")).to_contain_text("Finished")
    for email, _topup, _purchases in VICTIMS:
        expect(desk.locator("#hunt-cases-form")).to_contain_text(email)
    expect(desk.locator("#hunt-cases-form")).not_to_contain_text(hanako.email)
    shot(desk, "hunt-7pay-hits")
    desk.locator("#hunt-cases-form button[value=all]").click()
    assert Case.objects.filter(customer__email__in=[v[0] for v in VICTIMS], status=Case.Status.OPEN).count() == 3
    shot(desk, "hunt-cases-opened")

    # --- Compensation for the hunt's cases goes to a second person.
    hunt_id = int(re.search(r"/hunts/(\d+)/", desk.url).group(1))  # type: ignore[union-attr]
    desk.goto(f"{live_server.url}/admin/incident/compensation/new/?hunt={hunt_id}")
    shot(desk, "compensation-request")
    desk.locator("textarea[name=reason]").fill(f"Account takeover found by hunt #{hunt_id}")
    desk.locator("#content-main form [type=submit]").last.click()
    expect(desk).to_have_url(re.compile(r"/admin/backoffice/approval/\d+/change/$"))
    shot(desk, "compensation-waiting-for-approval")
    approval_url = desk.url
    assert not Compensation.objects.filter(state=Compensation.State.PAID).exists()

    checker = staff_page(browser)
    staff_login(checker, live_server, supervisor, supervisor_secret)
    checker.goto(approval_url)
    checker.locator("textarea[name=note]").fill("Checked against the hunt")
    checker.get_by_role("button", name="Approve").click()
    expect(checker.locator(".messagelist")).to_contain_text("Approved")
    shot(checker, "compensation-approved")

    for email, topup_yen, _purchases in VICTIMS:
        victim = User.objects.get(email=email)
        assert wallet_balance(victim) == topup_yen, f"{email} is paid back what the attackers spent"
        assert any(m.to == [email] for m in mail.outbox)
    assert Compensation.objects.filter(state=Compensation.State.PAID).count() == sum(len(p) for _e, _t, p in VICTIMS)


def test_supervisor_mass_reset_finishes_and_the_customer_is_guided_through_the_reset(
    browser: Browser, page: Page, live_server: LiveServer, shot: Shots
) -> None:
    maker, maker_secret = make_staff("supervisor@anzenpay.example", "supervisor")
    checker_user, checker_secret = make_staff("duty@anzenpay.example", "supervisor")
    hanako = make_customer("hanako@example.jp", CUSTOMER_PASSWORD)
    hanako_device = enrol_totp(hanako)
    fund_wallet(hanako, 5_000)
    others = [make_customer(f"member{i}@example.jp") for i in range(20)]
    ApiToken.objects.bulk_create([ApiToken(user=user, key_digest=f"{user.pk:064d}", key_prefix="e2e") for user in others[:5]])
    balance_before = wallet_balance(hanako)
    # Hanako uses AnzenPay from this browser: it becomes one of her known devices.
    customer_login(page, live_server, hanako.email, CUSTOMER_PASSWORD)
    page.locator("#id_code").fill(totp_code_unused(secret_of(hanako_device), hanako_device))
    page.locator("main form button[type=submit]").first.click()
    expect(page).to_have_url(f"{live_server.url}/")

    desk = staff_page(browser)
    staff_login(desk, live_server, maker, maker_secret)
    desk.goto(f"{live_server.url}/admin/incident/mass-reset/")
    desk.get_by_label("The whole customer base").check()
    desk.locator("#id_reason").fill("Credential stuffing wave: every customer resets")
    desk.get_by_role("button", name="Count the accounts").click()
    expect(desk.locator("#content-main")).to_contain_text("21")
    shot(desk, "mass-reset-estimate")
    desk.get_by_role("button", name="Ask a second supervisor to approve").click()
    job = MassReset.objects.get()
    assert job.state == MassReset.State.AWAITING_APPROVAL and job.approval is not None

    checker = staff_page(browser)
    staff_login(checker, live_server, checker_user, checker_secret)
    checker.goto(f"{live_server.url}/admin/backoffice/approval/{job.approval.pk}/change/")
    checker.locator("textarea[name=note]").fill("Agreed on the incident call")
    checker.get_by_role("button", name="Approve").click()
    expect(checker.locator(".messagelist")).to_contain_text("Approved")

    desk.goto(f"{live_server.url}/admin/incident/mass-reset/{job.pk}/")
    for _wait in range(60):
        if MassReset.objects.get(pk=job.pk).state == MassReset.State.DONE:
            break
        time.sleep(1)
    expect(desk.locator("#mr-bar")).to_have_attribute("value", "21", timeout=30_000)
    expect(desk.locator("#content-main")).to_contain_text("Finished")
    shot(desk, "mass-reset-finished")
    assert not UserSession.objects.filter(user__is_staff=False).exists()
    assert not ApiToken.objects.exists()

    # --- Her session is gone; her next login (on her own device) says what happened and leads to the reset.
    page.goto(f"{live_server.url}/")
    expect(page.locator("header").get_by_role("link", name="Log in")).to_be_visible()
    customer_login(page, live_server, hanako.email, CUSTOMER_PASSWORD)
    expect(page.locator("h1")).to_have_text("Your password was reset for your security")
    expect(page.locator("main")).to_contain_text("Your balance and your history are untouched.")
    shot(page, "login-guided-to-reset")
    page.get_by_role("button", name="Send the reset link to my registered email address").click()
    expect(page).to_have_url(re.compile(r"/password-reset/sent/$"))
    [reset_mail] = [m for m in mail.outbox if m.to == [hanako.email] and "/password-reset/" in str(m.body)]
    page.goto(live_server.url + link_in_mail(str(reset_mail.body), "/password-reset/"))
    new_password = "a new passphrase after the incident"
    page.locator("#id_new_password1").fill(new_password)
    page.locator("#id_new_password2").fill(new_password)
    page.locator("main form button[type=submit]").first.click()
    expect(page).to_have_url(re.compile(r"/login/$"))
    customer_login(page, live_server, hanako.email, new_password)
    expect(page).to_have_url(re.compile(r"/login/code/$"))
    page.locator("#id_code").fill(totp_code_unused(secret_of(hanako_device), hanako_device))
    page.locator("main form button[type=submit]").first.click()
    expect(page).to_have_url(f"{live_server.url}/")
    shot(page, "home-after-guided-reset")
    assert wallet_balance(hanako) == balance_before
