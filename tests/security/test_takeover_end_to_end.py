"""The 7pay attacker, end to end: a stranger who knows a customer's password, birth date
and phone number tries every door (web, app, reset, refund portal, staff site) and
reaches no money, no refund and no admin page, while the owner is told.

Two victims: one who never set up an authenticator (the sign-up that stopped early,
7pay's whole customer base) and one who did.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from refunds.models import RefundClaim
from tests.conftest import enrol_totp, totp_for
from tests.money import fund_wallet
from tests.refunds.factories import make_programme
from wallet.models import ApiToken, DevInboxMessage, KnownDevice, Notification, User
from wallet.selectors import wallet_balance

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
ATTACKER_EMAIL = "attacker@evil.example"
ATTACKER_PHONE = "+819099990000"
ATTACKER_IP = "203.0.113.66"
BIRTH_DATE = "1990-04-01"


def _victim(email: str, *, with_factor: bool) -> User:
    from tests.conftest import make_customer

    user = make_customer(email=email, birth_date=BIRTH_DATE)
    fund_wallet(user, 20_000)  # funded while an authenticator was present
    if not with_factor:
        TOTPDevice.objects.filter(user=user).delete()
    return user


def _attacker() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en", REMOTE_ADDR=ATTACKER_IP)


def _doors_on_the_web(victim: User, capture: Any) -> None:
    attacker = _attacker()
    login = attacker.post(reverse("wallet:login"), {"username": victim.email, "password": PASSWORD})
    assert login.status_code == 302
    # Enrol an authenticator of their own: sent to prove a contact on record first (or, where the
    # victim has one, still at the code step, so not even signed in).
    location = attacker.get(reverse("wallet:totp_enrol"))["Location"]
    assert location.startswith((reverse("wallet:contact_proof"), reverse("wallet:login")))
    with capture(execute=True):
        attacker.post(reverse("wallet:contact_proof"), {"action": "sms_send", "phone": ATTACKER_PHONE})
        attacker.post(reverse("wallet:contact_proof"), {"action": "email_send", "email": ATTACKER_EMAIL})
    for code in ("000000", "123456", "999999"):
        attacker.post(reverse("wallet:contact_proof"), {"action": "sms_verify", "code": code})
    assert attacker.get(reverse("wallet:totp_enrol")).status_code == 302
    # Money pages: none opens.
    for name in ("wallet:topup", "wallet:pay", "wallet:cards"):
        response = attacker.get(reverse(name))
        assert response.status_code == 302, name
    # Wrong second-factor codes where the victim has one.
    for code in ("000000", "111111", "222222"):
        attacker.post(reverse("wallet:login_otp"), {"code": code})
    # The reset, with every redirection trick: the link goes to the address on record only.
    with capture(execute=True):
        attacker.post(
            reverse("wallet:password_reset"),
            {
                "email": victim.email.upper(),
                "to": ATTACKER_EMAIL,
                "email2": ATTACKER_EMAIL,
                "phone": ATTACKER_PHONE,
                "birth_date": BIRTH_DATE,
            },
        )
    # The staff site.
    admin = attacker.post("/admin/login/", {"username": victim.email, "password": PASSWORD, "otp_token": "123456"})
    assert admin.status_code in (200, 302) and not attacker.session.get("otp_device_id")
    assert attacker.get("/admin/").status_code == 302


def _doors_in_the_app(victim: User) -> None:
    app = APIClient(REMOTE_ADDR=ATTACKER_IP)
    body = app.post(reverse("api:auth_login"), {"email": victim.email, "password": PASSWORD}, format="json").json()
    if body["status"] == "second_factor_required":
        for code in ("000000", "111111"):
            verify = app.post(reverse("api:auth_verify"), {"challenge": body["challenge"], "code": code}, format="json")
            assert verify.status_code in (401, 429)
        return
    app.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert app.post(reverse("api:factors_totp")).status_code == 403
    app.post(reverse("api:factors_contact_proof"), {"phone": ATTACKER_PHONE}, format="json")
    assert app.post(reverse("api:factors_contact_proof_verify"), {"code": "000000"}, format="json").status_code == 400
    assert app.post(reverse("api:wallet_payment_code")).status_code == 403
    topup = app.post(reverse("api:topups"), {"amount_yen": 20_000, "card_id": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert topup.status_code == 403


def _doors_at_the_refund_portal(victim: User, capture: Any) -> None:
    attacker = _attacker()
    attacker.post(reverse("wallet:login"), {"username": victim.email, "password": PASSWORD})
    claim = attacker.get(reverse("refunds:claim_balance"))
    assert claim.status_code == 302  # to enrol or to the code step: no claim with a password alone
    with capture(execute=True):
        attacker.post(
            reverse("refunds:contact"),
            {"email": victim.email, "phone": "090-1234-5678", "full_name": victim.full_name, "birth_date": BIRTH_DATE},
        )
    # Without the mailbox and the phone, the no-login route goes no further.
    assert attacker.get(reverse("refunds:contact_claim_balance")).status_code == 302


@pytest.mark.parametrize("with_factor", [False, True], ids=["victim-without-authenticator", "victim-with-authenticator"])
def test_takeover_with_password_birth_date_and_phone_reaches_no_money_refund_or_admin(
    with_factor: bool, django_capture_on_commit_callbacks: Any
) -> None:
    make_programme()
    victim = _victim("victim@example.jp", with_factor=with_factor)
    balance = wallet_balance(victim)
    factors_before = set(TOTPDevice.objects.filter(user=victim).values_list("pk", flat=True))

    _doors_on_the_web(victim, django_capture_on_commit_callbacks)
    _doors_in_the_app(victim)
    _doors_at_the_refund_portal(victim, django_capture_on_commit_callbacks)

    # Nothing reached: money, factors, refund claims, staff access, trusted devices.
    assert wallet_balance(victim) == balance
    assert set(TOTPDevice.objects.filter(user=victim).values_list("pk", flat=True)) == factors_before
    assert not RefundClaim.objects.filter(customer=victim).exists()
    assert not ApiToken.objects.filter(user=victim, second_factor_at__isnull=False).exists()
    assert not KnownDevice.objects.filter(user=victim, last_ip=ATTACKER_IP).exists()
    assert not User.objects.filter(pk=victim.pk, is_staff=True).exists()
    # Nothing sent to the attacker.
    assert not [m for m in mail.outbox if ATTACKER_EMAIL in m.to]
    assert not DevInboxMessage.objects.filter(to=ATTACKER_PHONE).exists()
    # The owner is told: the password logins, the codes and links they did not ask for.
    told = set(Notification.objects.filter(user=victim).values_list("kind", flat=True))
    assert told & {"new_device_login", "login_code_failed"} and "password_reset" in told
    assert {n.to_address for n in Notification.objects.filter(user=victim)} == {victim.email}
    if not with_factor:
        assert "contact_proof_link" in told
        assert DevInboxMessage.objects.filter(to=victim.phone, body__contains="confirm it is you").exists()


def test_takeover_leaves_the_owner_able_to_sign_in_from_their_own_device(django_capture_on_commit_callbacks: Any) -> None:
    victim = _victim("owner@example.jp", with_factor=True)
    device = TOTPDevice.objects.get(user=victim) if TOTPDevice.objects.filter(user=victim).exists() else enrol_totp(victim)
    owner = Client(HTTP_ACCEPT_LANGUAGE="en")
    owner.post(reverse("wallet:login"), {"username": victim.email, "password": PASSWORD})
    assert owner.post(reverse("wallet:login_otp"), {"code": totp_for(device).now()}).status_code == 302
    owner.post(reverse("wallet:logout"))

    _doors_on_the_web(victim, django_capture_on_commit_callbacks)
    _doors_in_the_app(victim)

    owner.post(reverse("wallet:login"), {"username": victim.email, "password": PASSWORD})
    import time

    code = totp_for(device).at(time.time() + 30)  # the next step: the last one was used
    response = owner.post(reverse("wallet:login_otp"), {"code": code})
    assert response.status_code == 302 and owner.session.get("otp_device_id")
