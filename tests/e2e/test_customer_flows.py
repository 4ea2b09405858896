"""A customer's way through sign-up, the second factor, logout, login and password reset,
in a real browser at phone width."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from tests.conftest import enrol_totp, make_customer
from wallet.models import User

from .conftest import Shots, link_in_mail, secret_of, sms_code_for, totp_code_unused

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


def submit(page: Page) -> None:
    """Press the main form's button (the header has its own forms: log out, language)."""
    page.locator("main form button[type=submit]").first.click()


def login_with_password(page: Page, live_server: LiveServer, email: str, password: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.locator("#id_username").fill(email)
    page.locator("#id_password").fill(password)
    submit(page)


def test_customer_signs_up_enrols_logs_out_and_in(page: Page, live_server: LiveServer, shot: Shots) -> None:
    email, phone = "sakura@example.jp", "090-1111-2222"

    page.goto(f"{live_server.url}/")
    shot(page, "landing")
    page.locator("header").get_by_role("link", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/signup/$"))
    shot(page, "signup-form-empty")

    # A mistake first: the form says what is wrong and nothing is created.
    page.locator("#id_email").fill(email)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("#id_password_confirm").fill("something else entirely")
    page.locator("#id_full_name").fill("田中 さくら")
    page.locator("#id_name_kana").fill("タナカ サクラ")
    page.locator("#id_phone").fill(phone)
    submit(page)
    expect(page.locator(".errorlist")).to_contain_text("not the same")
    assert not User.objects.filter(email=email).exists()
    shot(page, "signup-form-error")

    page.locator("#id_password").fill(PASSWORD)
    page.locator("#id_password_confirm").fill(PASSWORD)
    submit(page)
    expect(page).to_have_url(re.compile(r"/signup/sent/$"))
    expect(page.locator("h1")).to_have_text("Check your email")
    shot(page, "check-your-email")

    mails = [m for m in mail.outbox if m.to == [email]]
    assert len(mails) == 1
    page.goto(live_server.url + link_in_mail(str(mails[0].body), "/signup/verify/"))
    expect(page.locator("h1")).to_have_text("Confirm your email address")
    shot(page, "verify-email-button")
    user = User.objects.get(email=email)
    assert user.email_verified_at is None, "opening the link alone must not verify (mail scanners)"
    submit(page)

    expect(page).to_have_url(re.compile(r"/signup/phone/$"))
    shot(page, "phone-code-form")
    page.locator("#id_code").fill(sms_code_for(user.phone))
    page.locator("main form").filter(has=page.locator("input[value=verify]")).locator("button").click()

    expect(page).to_have_url(re.compile(r"/security/authenticator/"))
    expect(page.locator(".qr svg")).to_be_visible()
    shot(page, "totp-enrolment-qr")
    secret = "".join(page.locator("p.secret").inner_text().split())
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    assert secret == secret_of(device).rstrip("=")
    page.locator("#id_code").fill(totp_code_unused(secret))
    submit(page)

    expect(page).to_have_url(re.compile(r"/security/backup-codes/"))
    shot(page, "backup-codes-offer")
    submit(page)
    codes = page.locator("ul.codes li")
    expect(codes.first).to_be_visible()
    assert codes.count() >= 8
    shot(page, "backup-codes-shown")
    page.get_by_role("link", name="I have saved my codes").click()
    shot(page, "security-page-after-enrolment")

    page.locator("header").get_by_role("link", name="Home").click()
    expect(page.locator("main")).to_contain_text("Authenticator app: set up")
    shot(page, "home-after-signup")

    page.locator("header").get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login/$"))
    expect(page.locator(".messages")).to_contain_text("logged out")
    shot(page, "logged-out")

    login_with_password(page, live_server, email, PASSWORD)
    expect(page).to_have_url(re.compile(r"/login/code/$"))
    shot(page, "second-factor-asked")
    # Nobody is logged in between the password and the code.
    page.goto(f"{live_server.url}/security/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/security/$"))
    page.goto(f"{live_server.url}/login/code/")

    page.locator("#id_code").fill("000000")
    submit(page)
    expect(page.locator(".errorlist")).to_contain_text("not valid")
    shot(page, "second-factor-wrong-code")

    page.locator("#id_code").fill(totp_code_unused(secret, device))
    submit(page)
    expect(page).to_have_url(f"{live_server.url}/")
    main = page.locator("main")
    expect(main).to_contain_text("Hello")
    expect(main.locator("li", has_text="Email address").locator(".badge.ok")).to_have_text("verified")
    expect(main.locator("li", has_text="Mobile phone").locator(".badge.ok")).to_have_text("verified")
    expect(main.locator("li", has_text="Authenticator app").locator(".badge.ok")).to_have_text("set up")
    shot(page, "home-logged-in-verified")


def test_customer_resets_password_and_is_still_asked_for_the_second_factor(page: Page, live_server: LiveServer, shot: Shots) -> None:
    customer = make_customer()
    device = enrol_totp(customer)
    secret = secret_of(device)
    new_password = "a brand new long passphrase 2026"

    page.goto(f"{live_server.url}/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page).to_have_url(re.compile(r"/password-reset/$"))
    shot(page, "reset-request-form")
    # Typed in another case: the account is found, the mail goes to the address on record (R01).
    page.locator("#id_email").fill("Hanako@EXAMPLE.jp")
    submit(page)
    expect(page).to_have_url(re.compile(r"/password-reset/sent/$"))
    shot(page, "reset-mail-sent")

    resets = [m for m in mail.outbox if "/password-reset/" in m.body]
    assert len(resets) == 1
    assert resets[0].to == [customer.email]
    assert {address for m in mail.outbox for address in m.to} == {customer.email}
    customer.refresh_from_db()
    assert customer.check_password(PASSWORD), "asking for a reset changes nothing (R06)"

    page.goto(live_server.url + link_in_mail(str(resets[0].body), "/password-reset/"))
    # The token leaves the address bar once the link is opened.
    expect(page).to_have_url(re.compile(r"/password-reset/[^/]+/set-password/$"))
    shot(page, "reset-new-password-form")
    page.locator("#id_new_password1").fill("password")
    page.locator("#id_new_password2").fill("password")
    submit(page)
    expect(page.locator(".errorlist")).to_contain_text("too common")
    shot(page, "reset-common-password-refused")

    page.locator("#id_new_password1").fill(new_password)
    page.locator("#id_new_password2").fill(new_password)
    submit(page)
    expect(page).to_have_url(re.compile(r"/login/$"))
    expect(page.locator(".messages")).to_contain_text("password has been changed")
    shot(page, "reset-done-back-at-login")
    # R04: the reset did not log anybody in.
    expect(page.locator("header").get_by_role("link", name="Log in")).to_be_visible()
    page.goto(f"{live_server.url}/security/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/security/$"))

    # The old password no longer works.
    login_with_password(page, live_server, customer.email, PASSWORD)
    expect(page).to_have_url(re.compile(r"/login/$"))
    expect(page.locator("main")).to_contain_text("email address or password is incorrect")
    shot(page, "login-old-password-refused")

    login_with_password(page, live_server, customer.email, new_password)
    expect(page).to_have_url(re.compile(r"/login/code/$"))
    shot(page, "second-factor-asked-after-reset")
    page.locator("#id_code").fill(totp_code_unused(secret, device))
    submit(page)
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator("main")).to_contain_text("Hello")
    shot(page, "home-after-reset-login")


def test_a13_existing_customer_proves_the_phone_before_the_first_authenticator(page: Page, live_server: LiveServer, shot: Shots) -> None:
    """A customer from before authenticators (or a stranger with their password) signs in: the
    portal asks for the phone on record first, and the owner is told of the new factor with a
    "this was not me" link that locks the wallet."""
    user = make_customer(email="kenji@example.jp", phone="+819055556666")
    login_with_password(page, live_server, user.email, PASSWORD)
    expect(page).to_have_url(re.compile(r"/security/confirm-contact/"))
    expect(page.locator("h1")).to_have_text("Confirm it is you")
    expect(page.locator("main")).to_contain_text("090-5555-6666")
    shot(page, "contact-proof-choice")
    page.get_by_role("button", name="Send me a code by SMS").click()
    expect(page.locator("#id_code")).to_be_visible()
    shot(page, "contact-proof-code")
    page.locator("#id_code").fill(sms_code_for(user.phone))
    page.get_by_role("button", name="Confirm").click()

    expect(page).to_have_url(re.compile(r"/security/authenticator/"))
    secret = "".join(page.locator("p.secret").inner_text().split())
    page.locator("#id_code").fill(totp_code_unused(secret))
    submit(page)
    expect(page).to_have_url(re.compile(r"/security/backup-codes/"))
    user.refresh_from_db()
    assert user.factor_cooling_off_until is not None

    mails = [m for m in mail.outbox if m.to == [user.email] and "/security/not-me/" in str(m.body)]
    assert len(mails) == 1
    page.context.clear_cookies()
    page.goto(live_server.url + link_in_mail(str(mails[0].body), "/security/not-me/"))
    expect(page.locator("h1")).to_have_text("This was not me")
    shot(page, "not-me-confirm")
    page.get_by_role("button", name="Lock my wallet").click()
    expect(page.locator("h1")).to_have_text("Your wallet is locked")
    shot(page, "not-me-done")
    user.refresh_from_db()
    assert not user.has_usable_password() and not TOTPDevice.objects.filter(user=user).exists()
