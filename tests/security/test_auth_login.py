"""A04, A05 (customer), A07, A09, A12 for the web login."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import make_customer, totp_for
from tests.helpers import PasswordCheckCounter, SqlStatements
from wallet.models import AuthEvent, User

pytestmark = pytest.mark.django_db


PASSWORD = "correct horse battery staple"


@pytest.fixture
def client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def _strip_csrf(content: bytes) -> bytes:
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", content)


def _post_login(client: Client, email: str, password: str, ip: str = "10.9.0.1"):  # type: ignore[no-untyped-def]
    return client.post(reverse("wallet:login"), {"username": email, "password": password}, REMOTE_ADDR=ip)


# --- A04 -----------------------------------------------------------------------


def test_a04_account_locks_after_ten_failures_and_the_right_password_is_refused(
    client: Client, customer: User, customer_totp: TOTPDevice
) -> None:
    for i in range(9):
        assert _post_login(client, customer.email, f"wrong {i}", ip=f"10.4.0.{i}").status_code == 200
    # The tenth failure locks the account and already gets the lockout page.
    assert _post_login(client, customer.email, "wrong 10", ip="10.4.0.10").status_code == 429
    response = _post_login(client, customer.email, PASSWORD, ip="10.4.1.1")
    assert response.status_code == 429
    assert b"Too many failed attempts" in response.content
    assert "_anzen_pending_uid" not in client.session
    assert AuthEvent.objects.filter(user=customer, kind=AuthEvent.Kind.LOGIN_LOCKED).exists()


def test_a04_ip_is_locked_after_ten_failures_across_accounts(client: Client, customer: User) -> None:
    for i in range(10):
        _post_login(client, f"user{i}@example.jp", "wrong", ip="10.4.2.2")
    # The customer's right password from that address is refused too: the address is throttled.
    assert _post_login(client, customer.email, PASSWORD, ip="10.4.2.2").status_code == 429
    # From another address the customer is not affected.
    assert _post_login(client, customer.email, PASSWORD, ip="10.4.2.3").status_code == 302


def test_a04_lock_expires_after_cool_off(client: Client, customer: User, customer_totp: TOTPDevice) -> None:
    import time_machine

    for i in range(10):
        _post_login(client, customer.email, "wrong", ip=f"10.4.3.{i}")
    assert _post_login(client, customer.email, PASSWORD, ip="10.4.3.99").status_code == 429
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        assert _post_login(client, customer.email, PASSWORD, ip="10.4.3.99").status_code == 302


def test_a04_owner_on_a_known_device_is_not_locked_out(customer: User, customer_totp: TOTPDevice) -> None:
    owner = Client(HTTP_ACCEPT_LANGUAGE="en")
    _post_login(owner, customer.email, PASSWORD)
    owner.post(reverse("wallet:login_otp"), {"code": totp_for(customer_totp).at(time.time() - 30)}, REMOTE_ADDR="10.9.0.1")
    owner.post(reverse("wallet:logout"))
    attacker = Client()
    for i in range(30):
        _post_login(attacker, customer.email, f"guess {i}", ip=f"10.4.4.{i}")
    assert _post_login(attacker, customer.email, PASSWORD, ip="10.4.4.200").status_code == 429
    # The owner's browser carries the device cookie: password then code, as usual.
    response = _post_login(owner, customer.email, PASSWORD)
    assert response.status_code == 302 and response["Location"] == reverse("wallet:login_otp")
    response = owner.post(reverse("wallet:login_otp"), {"code": totp_for(customer_totp).now()})
    assert response.status_code == 302 and owner.session["_auth_user_id"] == str(customer.pk)


def test_a04_lockout_counts_at_most_the_limit_of_password_checks(client: Client, customer: User, monkeypatch: pytest.MonkeyPatch) -> None:
    password_checks = PasswordCheckCounter(monkeypatch)
    for i in range(150):
        _post_login(client, customer.email, f"guess {i}", ip=f"10.5.{i // 200}.{i % 200}")
    # The hasher is reached ten times; every later guess is refused before the backend.
    assert password_checks.count == 10
    failed = AuthEvent.objects.filter(user=customer, kind=AuthEvent.Kind.LOGIN_FAILED).count()
    locked = AuthEvent.objects.filter(user=customer, kind=AuthEvent.Kind.LOGIN_LOCKED).count()
    assert failed <= 10 and failed + locked == 150  # every attempt logged (L01)


# --- A05 (customer part) ---------------------------------------------------------------


def test_a05_password_alone_never_yields_a_verified_session(client: Client, customer: User, customer_totp: TOTPDevice) -> None:
    response = _post_login(client, customer.email, PASSWORD)
    assert response["Location"] == reverse("wallet:login_otp")
    assert "_auth_user_id" not in client.session
    response = client.get(reverse("wallet:security"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("wallet:login"))


def test_a05_customer_without_factor_is_sent_to_enrol_before_protected_pages(client: Client, customer: User) -> None:
    _post_login(client, customer.email, PASSWORD)
    for name in ("wallet:security", "wallet:backup_codes"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and response["Location"].startswith(reverse("wallet:totp_enrol"))


# --- A07 -------------------------------------------------------------------------------


@pytest.mark.parametrize(("offset", "accepted"), [(-60, False), (-30, True), (0, True), (30, True), (60, False)])
def test_a07_totp_window_is_one_step_either_side(
    client: Client, customer: User, customer_totp: TOTPDevice, offset: int, accepted: bool
) -> None:
    _post_login(client, customer.email, PASSWORD)
    # Pick a moment in the middle of a 30 s step, so the boundaries are not flaky.
    now = time.time()
    centre = now - (now % 30) + 15
    import time_machine

    with time_machine.travel(centre, tick=False):
        code = totp_for(customer_totp).at(centre + offset)
        if not accepted and code == totp_for(customer_totp).at(centre):
            pytest.skip("code collision")
        response = client.post(reverse("wallet:login_otp"), {"code": code})
    assert ("_auth_user_id" in client.session) is accepted
    assert response.status_code == (302 if accepted else 200)


# --- A09 -------------------------------------------------------------------------------


def test_a09_login_never_sends_a_code_by_email_or_sms(
    client: Client, customer: User, customer_totp: TOTPDevice, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    from wallet.models import DevInboxMessage

    with django_capture_on_commit_callbacks(execute=True):
        _post_login(client, customer.email, PASSWORD)
        client.get(reverse("wallet:login_otp"))
    assert mail.outbox == []
    assert not DevInboxMessage.objects.exists()
    assert "email" not in client.get(reverse("wallet:login_otp")).content.decode().lower().split("<main", 1)[1].split("</main>", 1)[0]


# --- A12 -------------------------------------------------------------------------------


def test_a12_login_answers_the_same_for_unknown_wrong_unverified_and_closed(client: Client, customer: User) -> None:
    make_customer("unverified@example.jp", email_verified_at=None)
    make_customer("closed@example.jp", status=User.Status.CLOSED)
    cases = [
        ("nobody@example.jp", PASSWORD),
        (customer.email, "wrong password here"),
        ("unverified@example.jp", PASSWORD),
        ("closed@example.jp", PASSWORD),
    ]
    results = []
    for i, (email, password) in enumerate(cases):
        # The same email text in every form, so the bodies can be compared byte for byte.
        with SqlStatements() as queries:
            response = client.post(reverse("wallet:login"), {"username": email, "password": password}, REMOTE_ADDR=f"10.12.0.{i}")
        body = _strip_csrf(response.content).replace(email.encode(), b"EMAIL")
        results.append((response.status_code, body, len(queries.sql)))
        assert "_anzen_pending_uid" not in client.session and "_auth_user_id" not in client.session
    statuses = {r[0] for r in results}
    bodies = {r[1] for r in results}
    counts = [r[2] for r in results]
    assert statuses == {200}
    assert len(bodies) == 1
    assert b"The email address or password is incorrect." in results[0][1]
    # Timing proxy: the same database work whatever the reason.
    print("A12 statements per case", counts)
    assert len(set(counts)) == 1 and counts[0] > 0, counts
    # Every one of them counts towards the lockout, unknown accounts included.
    assert AccessAttempt.objects.count() == 4
