"""T9: 1,000 wrong passwords on one account from many addresses, and many accounts
from one address. Scaled for the test run: the one-address sweep uses 300 accounts
× 3 tries instead of 10,000 × 3 (the limits trip after 10 failures, so the larger
figure only adds run time)."""

from __future__ import annotations

import re
import time

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import enrol_totp, make_customer, totp_for
from tests.helpers import PasswordCheckCounter

PASSWORD = "correct horse battery staple"


def _post(client: Client, email: str, password: str, ip: str):  # type: ignore[no-untyped-def]
    return client.post(reverse("wallet:login"), {"username": email, "password": password}, REMOTE_ADDR=ip)


@pytest.mark.django_db
def test_t09_thousand_guesses_on_one_account(monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    owner_user = make_customer()
    device: TOTPDevice = enrol_totp(owner_user)
    owner = Client()
    _post(owner, owner_user.email, PASSWORD, "192.0.2.10")
    owner.post(reverse("wallet:login_otp"), {"code": totp_for(device).at(time.time() - 30)}, REMOTE_ADDR="192.0.2.10")
    owner.post(reverse("wallet:logout"))

    password_checks = PasswordCheckCounter(monkeypatch)
    attacker = Client()
    statuses = [_post(attacker, owner_user.email, f"guess {i}", f"10.{i // 250}.{i % 250}.1").status_code for i in range(1000)]
    print(f"T9 one account: {password_checks.count} password checks for 1000 guesses; {statuses.count(429)} answered 'locked'")
    assert password_checks.count <= 100
    assert password_checks.count == 10
    assert statuses.count(429) == 991
    # The right password from a new address is refused while locked.
    assert _post(attacker, owner_user.email, PASSWORD, "10.200.0.1").status_code == 429

    # The owner still gets in from the known device...
    checks_before = password_checks.count
    response = _post(owner, owner_user.email, PASSWORD, "192.0.2.10")
    assert response["Location"] == reverse("wallet:login_otp")
    owner.post(reverse("wallet:login_otp"), {"code": totp_for(device).now()}, REMOTE_ADDR="192.0.2.10")
    assert owner.session["_auth_user_id"] == str(owner_user.pk)
    assert password_checks.count == checks_before + 1

    # The owner's login reset the count; the attacker locks the account again...
    for i in range(20):
        _post(attacker, owner_user.email, f"more {i}", f"10.201.{i}.1")
    # ...and a new browser of the owner's gets in through the unlock link mailed to the address on record.
    fresh = Client()
    assert _post(fresh, owner_user.email, PASSWORD, "198.51.100.7").status_code == 429
    with django_capture_on_commit_callbacks(execute=True):
        fresh.post(reverse("wallet:login_unlock_request"), {"email": owner_user.email}, REMOTE_ADDR="198.51.100.7")
    unlock = [m for m in mail.outbox if "/login/unlock/" in m.body]
    assert [m.to for m in unlock] == [[owner_user.email]]
    link = re.search(r"https?://[^/\s]+(/login/unlock/\S+/)", str(unlock[0].body))
    assert link is not None
    fresh.post(link.group(1), REMOTE_ADDR="198.51.100.7")
    response = _post(fresh, owner_user.email, PASSWORD, "198.51.100.7")
    assert response.status_code == 302 and response["Location"] == reverse("wallet:login_otp")
    fresh.post(reverse("wallet:login_otp"), {"code": totp_for(device).at(time.time() + 30)}, REMOTE_ADDR="198.51.100.7")
    assert fresh.session["_auth_user_id"] == str(owner_user.pk)


@pytest.mark.django_db
def test_t09_one_address_sweeping_many_accounts_is_throttled(monkeypatch: pytest.MonkeyPatch) -> None:
    victim = make_customer()
    accounts = 300
    password_checks = PasswordCheckCounter(monkeypatch)
    client = Client()
    refused = 0
    for n in range(accounts):
        for attempt in range(3):
            email = victim.email if n == 0 else f"user{n}@example.jp"
            status = _post(client, email, f"guess {attempt}", "203.0.113.66").status_code
            refused += status == 429
    print(f"T9 one address: {accounts * 3} tries, {refused} refused as throttled or locked")
    # Axes locks the address after 10 failures; the per-address rate limit stops the rest.
    assert refused >= accounts * 3 - 10
    assert password_checks.count <= 3  # only the one real account was ever checked, before the lock
    # The address stays throttled even for a right password.
    assert _post(client, victim.email, PASSWORD, "203.0.113.66").status_code == 429
    assert _post(client, victim.email, PASSWORD, "203.0.113.67").status_code == 302
