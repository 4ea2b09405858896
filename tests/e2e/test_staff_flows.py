"""Staff sign in to the back-office admin with a password and a code (A05), and
enrol their own authenticator on first login."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from tests.conftest import enrol_totp
from wallet.models import User

from .conftest import Shots, secret_of, totp_code_unused

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

STAFF_EMAIL = "support@anzenpay.example"
STAFF_PASSWORD = "staff passphrase for the e2e run"


def make_staff(*, enrolment_open: bool = False) -> User:
    # Transactional tests flush the database, so the role group from the migration is gone.
    group, _ = Group.objects.get_or_create(name="support")
    group.permissions.add(Permission.objects.get(content_type__app_label="wallet", codename="view_user"))
    user = User.objects.create_user(
        STAFF_EMAIL,
        STAFF_PASSWORD,
        full_name="Support Staff",
        is_staff=True,
        email_verified_at=timezone.now(),
        staff_enrollment_open_until=timezone.now() + timedelta(hours=1) if enrolment_open else None,
    )
    user.groups.add(group)
    return user


def admin_login(page: Page, *, email: str, password: str, code: str) -> None:
    page.locator("#id_username").fill(email)
    page.locator("#id_password").fill(password)
    page.locator("#id_otp_token").fill(code)
    page.locator("#login-form input[type=submit]").click()


def test_staff_logs_in_to_the_admin_with_otp(page: Page, live_server: LiveServer, shot: Shots) -> None:
    staff = make_staff()
    device = enrol_totp(staff)

    page.goto(f"{live_server.url}/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/$"))
    expect(page.locator("#id_otp_token")).to_be_visible()
    shot(page, "admin-login-form")

    admin_login(page, email=STAFF_EMAIL, password=STAFF_PASSWORD, code="")
    expect(page).to_have_url(re.compile(r"/admin/login/"))
    expect(page.locator("#content-main, .errornote, .errorlist").first).to_be_visible()
    expect(page.locator("body")).to_contain_text("Enter the code from your authenticator app")
    shot(page, "admin-login-missing-code-refused")

    wrong = "123456" if totp_code_unused(secret_of(device)) != "123456" else "654321"
    admin_login(page, email=STAFF_EMAIL, password=STAFF_PASSWORD, code=wrong)
    expect(page).to_have_url(re.compile(r"/admin/login/"))
    expect(page.locator("body")).to_contain_text("The code is not valid")
    shot(page, "admin-login-wrong-code-refused")
    page.goto(f"{live_server.url}/admin/wallet/user/")
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/wallet/user/$"))

    admin_login(page, email=STAFF_EMAIL, password=STAFF_PASSWORD, code=totp_code_unused(secret_of(device), device))
    expect(page).to_have_url(f"{live_server.url}/admin/wallet/user/")
    expect(page.locator("#result_list")).to_contain_text(STAFF_EMAIL)
    shot(page, "admin-user-list-after-login")
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("#site-name")).to_contain_text("AnzenPay back-office")
    expect(page.locator("#content-main")).to_contain_text("Users")
    shot(page, "admin-index")


def test_staff_first_login_enrolment(page: Page, live_server: LiveServer, shot: Shots) -> None:
    staff = make_staff(enrolment_open=True)

    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_role("link", name="Set up your second factor").click()
    expect(page).to_have_url(re.compile(r"/staff/enrol/$"))
    shot(page, "staff-enrol-sign-in")

    page.locator("#id_email").fill(STAFF_EMAIL)
    page.locator("#id_password").fill("not the password")
    page.locator("main form button[type=submit]").click()
    expect(page.locator(".errorlist")).to_contain_text("not correct")
    shot(page, "staff-enrol-wrong-password")

    page.locator("#id_password").fill(STAFF_PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/staff/enrol/confirm/$"))
    expect(page.locator(".qr svg")).to_be_visible()
    shot(page, "staff-enrol-qr")
    secret = "".join(page.locator("p.secret").inner_text().split())
    device = TOTPDevice.objects.get(user=staff, confirmed=False)
    assert secret == secret_of(device).rstrip("=")
    page.locator("#id_code").fill(totp_code_unused(secret))
    page.locator("main form button[type=submit]").click()

    expect(page).to_have_url(re.compile(r"/admin/login/$"))
    shot(page, "staff-enrolled-back-at-login")
    device.refresh_from_db()
    assert device.confirmed
    staff.refresh_from_db()
    assert staff.staff_enrollment_open_until is None, "the enrolment window closes once used"

    admin_login(page, email=STAFF_EMAIL, password=STAFF_PASSWORD, code=totp_code_unused(secret, device))
    expect(page).to_have_url(f"{live_server.url}/admin/")
    expect(page.locator("#site-name")).to_contain_text("AnzenPay back-office")
    shot(page, "staff-first-admin-index")

    # The window is closed: enrolling a second device the same way is refused.
    page.goto(f"{live_server.url}/staff/enrol/")
    page.locator("#id_email").fill(STAFF_EMAIL)
    page.locator("#id_password").fill(STAFF_PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page.locator(".errorlist")).to_contain_text("ask a superuser")
    shot(page, "staff-enrol-refused-when-closed")
