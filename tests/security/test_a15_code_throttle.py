"""A15: wrong second-factor codes from an attacker who knows the password never lock the
owner out of every factor. Failures count per source (address, device), a known device is
exempt, and past the account-wide cap for unknown devices proving the phone on record
still lets the owner type their code."""

from __future__ import annotations

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from tests.conftest import totp_for
from tests.helpers import latest_sms_code
from wallet.models import User
from wallet.request_meta import RequestMeta
from wallet.services.second_factor import backup_codes_generate

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
OWNER_IP = "192.0.2.10"
OWNER_APP = "owner-phone-install-" + "k" * 32


def browser() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def code_at(device: TOTPDevice, moment: float) -> str:
    return str(totp_for(device).at(moment))


def wrong_code(device: TOTPDevice, moment: float) -> str:
    """A six-digit code the authenticator does not accept at ``moment`` (nor one step either side)."""
    valid = {code_at(device, moment + offset) for offset in (-30, 0, 30)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)


def password_step(client: Client, user: User, ip: str) -> None:
    response = client.post(reverse("wallet:login"), {"username": user.email, "password": PASSWORD}, REMOTE_ADDR=ip)
    assert response.status_code == 302 and response["Location"] == reverse("wallet:login_otp"), response.content


def code_step(client: Client, code: str, ip: str):  # type: ignore[no-untyped-def]
    return client.post(reverse("wallet:login_otp"), {"code": code}, REMOTE_ADDR=ip)


def logged_in(client: Client, user: User) -> bool:
    return client.session.get("_auth_user_id") == str(user.pk)


def owner_known_browser(user: User, device: TOTPDevice, moment: float) -> Client:
    """The owner's own browser: it has completed a login with the second factor, so it carries the device cookie."""
    owner = browser()
    with time_machine.travel(moment, tick=False):
        password_step(owner, user, OWNER_IP)
        response = code_step(owner, code_at(device, moment), OWNER_IP)
        assert response.status_code == 302 and logged_in(owner, user)
        assert settings.DEVICE_COOKIE_NAME in owner.cookies
        owner.post(reverse("wallet:logout"), REMOTE_ADDR=OWNER_IP)
    assert not logged_in(owner, user)
    return owner


def attacker_guesses(user: User, device: TOTPDevice, *, count: int, first_at: float, spacing: float, ip_prefix: str) -> None:
    """The attacker knows the password; each wrong code comes from another address, from a
    browser that has never completed a login (no device cookie). Every guess is checked and refused."""
    attacker = browser()
    for i in range(count):
        moment = first_at + i * spacing
        ip = f"{ip_prefix}.{i + 1}"
        with time_machine.travel(moment, tick=False):
            password_step(attacker, user, ip)
            response = code_step(attacker, wrong_code(device, moment), ip)
        assert response.status_code == 200 and b"That code is not valid" in response.content, (i, response.status_code)
        assert not logged_in(attacker, user)
    assert settings.DEVICE_COOKIE_NAME not in attacker.cookies


def test_a15_wrong_codes_from_rotating_addresses_leave_the_owner_totp_and_backup_codes_working(
    customer: User, customer_totp: TOTPDevice, start: float
) -> None:
    backup_codes = backup_codes_generate(user=customer, meta=RequestMeta(ip=OWNER_IP, user_agent="test"))
    owner = owner_known_browser(customer, customer_totp, start)

    # Eight wrong codes, a minute and a half apart, each from another address.
    attacker_guesses(customer, customer_totp, count=8, first_at=start + 60, spacing=90, ip_prefix="198.51.100")
    last_guess = start + 60 + 7 * 90

    # Right after the last guess the owner, on their own browser, gets in with the authenticator...
    with time_machine.travel(last_guess + 30, tick=False):
        password_step(owner, customer, OWNER_IP)
        response = code_step(owner, code_at(customer_totp, last_guess + 30), OWNER_IP)
        assert response.status_code == 302 and response["Location"] == reverse("wallet:home")
        assert logged_in(owner, customer)
        owner.post(reverse("wallet:logout"), REMOTE_ADDR=OWNER_IP)

    # ...and, in another login, with an unused backup code.
    with time_machine.travel(last_guess + 45, tick=False):
        password_step(owner, customer, OWNER_IP)
        response = code_step(owner, backup_codes[0], OWNER_IP)
        assert response.status_code == 302 and response["Location"] == reverse("wallet:home")
        assert logged_in(owner, customer)
        security = owner.get(reverse("wallet:security"), REMOTE_ADDR=OWNER_IP)
    assert security.status_code == 200
    assert security.context["summary"].backup_remaining == len(backup_codes) - 1


def test_a15_past_the_account_cap_a_new_browser_proves_the_phone_and_the_known_browser_is_never_throttled(
    customer: User, customer_totp: TOTPDevice, start: float
) -> None:
    owner = owner_known_browser(customer, customer_totp, start)
    cap = settings.CODE_FAILURES_UNKNOWN_DEVICES
    attacker_guesses(customer, customer_totp, count=cap, first_at=start + 60, spacing=5, ip_prefix="203.0.113")

    # A browser the account has never seen, from an address that has never failed: even the
    # right code is refused now, and the page offers the way through (prove the phone on record).
    new_browser_ip = "192.0.2.77"
    new_browser = browser()
    refused_at = start + 60 + cap * 5 + 30
    with time_machine.travel(refused_at, tick=False):
        password_step(new_browser, customer, new_browser_ip)
        response = code_step(new_browser, code_at(customer_totp, refused_at), new_browser_ip)
    assert response.status_code == 429
    body = response.content.decode()
    assert "Too many wrong codes" in body and "Confirm it is me" in body
    assert f'href="{reverse("wallet:contact_proof")}"' in body
    assert not logged_in(new_browser, customer)

    # The owner's known browser is not throttled at all: password and code, as usual.
    with time_machine.travel(refused_at + 30, tick=False):
        password_step(owner, customer, OWNER_IP)
        response = code_step(owner, code_at(customer_totp, refused_at + 30), OWNER_IP)
    assert response.status_code == 302 and logged_in(owner, customer)

    # The recovery path in the new browser: an SMS code to the phone on record, then the authenticator code.
    with time_machine.travel(refused_at + 60, tick=False):
        sent = new_browser.post(reverse("wallet:contact_proof"), {"action": "sms_send"}, REMOTE_ADDR=new_browser_ip)
        assert sent.status_code == 302
        proven = new_browser.post(
            reverse("wallet:contact_proof"),
            {"action": "sms_verify", "code": latest_sms_code(customer.phone)},
            REMOTE_ADDR=new_browser_ip,
        )
        assert proven.status_code == 302 and proven["Location"] == reverse("wallet:login_otp")
        assert not logged_in(new_browser, customer)  # the SMS alone logs nobody in
        response = code_step(new_browser, code_at(customer_totp, refused_at + 60), new_browser_ip)
    assert response.status_code == 302 and response["Location"] == reverse("wallet:home")
    assert logged_in(new_browser, customer)


def api_guess(user: User, device: TOTPDevice, moment: float, ip: str) -> tuple[int, str]:
    """The attacker's app (naming no device of the account's) signs in with the password and sends a wrong code."""
    attacker = APIClient(REMOTE_ADDR=ip)
    with time_machine.travel(moment, tick=False):
        started = attacker.post(reverse("api:auth_login"), {"email": user.email, "password": PASSWORD}, format="json")
        assert started.status_code == 200, started.json()
        code = wrong_code(device, moment)
        wrong = attacker.post(reverse("api:auth_verify"), {"challenge": started.json()["challenge"], "code": code}, format="json")
    return wrong.status_code, str(wrong.json()["code"])


def owner_app_login(user: User, device: TOTPDevice, moment: float) -> int:
    """The owner's app, naming its own device id, signs in with the code of ``moment``: the status of /me with the new token."""
    owner_app = APIClient(REMOTE_ADDR=OWNER_IP)
    with time_machine.travel(moment, tick=False):
        started = owner_app.post(
            reverse("api:auth_login"), {"email": user.email, "password": PASSWORD, "device_id": OWNER_APP}, format="json"
        )
        assert started.status_code == 200, started.json()
        code = code_at(device, moment)
        verified = owner_app.post(reverse("api:auth_verify"), {"challenge": started.json()["challenge"], "code": code}, format="json")
        assert verified.status_code == 200, verified.json()
        owner_app.credentials(HTTP_AUTHORIZATION=f"Bearer {verified.json()['token']}")
        return int(owner_app.get(reverse("api:me")).status_code)


def test_a15_wrong_codes_to_the_api_do_not_stop_the_owners_known_app(customer: User, customer_totp: TOTPDevice, start: float) -> None:
    assert owner_app_login(customer, customer_totp, start) == 200

    # Eight wrong codes, a minute and a half apart, each from another address: each is checked and refused.
    answers = [api_guess(customer, customer_totp, start + 60 + i * 90, f"198.51.100.{i + 1}") for i in range(8)]
    assert answers == [(401, "invalid_code")] * 8
    last_guess = start + 60 + 7 * 90
    # Right after, the owner's app gets in with the right code.
    assert owner_app_login(customer, customer_totp, last_guess + 30) == 200

    # The attacker goes on up to the cap for unknown devices: the guess that reaches it is told no more codes are taken...
    cap = settings.CODE_FAILURES_UNKNOWN_DEVICES
    answers = [api_guess(customer, customer_totp, last_guess + 40, f"198.51.100.{i + 1}") for i in range(8, cap)]
    assert answers == [(401, "invalid_code")] * (cap - 9) + [(429, "throttled")]
    # ...and from now on an app the account does not know is refused, from any address...
    assert api_guess(customer, customer_totp, last_guess + 50, "198.51.100.200") == (429, "throttled")
    # ...but not the owner's app.
    assert owner_app_login(customer, customer_totp, last_guess + 60) == 200
