"""A13: the first second factor needs a contact on record, an account without one never
moves money, and a late first factor starts a cooling-off the owner can end with
"this was not me". A14: staff accounts never use the customer factor flows."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

import pyotp
import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from tests.conftest import make_customer
from tests.helpers import SIGNUP_PASSWORD, latest_sms_code, prove_contact_by_sms, signup_data
from tests.money import fund_wallet, make_card, make_terminal, payment_code_for
from wallet.models import (
    AccountFreeze,
    ApiToken,
    AuthEvent,
    DevInboxMessage,
    Notification,
    RiskDecision,
    RiskOutcome,
    User,
    UserSession,
)
from wallet.request_meta import RequestMeta
from wallet.services.cards import card_registration_start
from wallet.services.ledger import SecondFactorMissing
from wallet.services.notifications import notification_render
from wallet.services.payments import PaymentDeclined, payment_code_issue, payment_redeem

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"
META = RequestMeta(ip="198.51.100.7", user_agent="pytest")
ATTACKER_PHONE = "+819099990000"


@pytest.fixture
def client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def _password_login(client: Client, user: User) -> None:
    response = client.post(reverse("wallet:login"), {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302


def _enrol_in(client: Client) -> TOTPDevice:
    page = client.get(reverse("wallet:totp_enrol"))
    assert page.status_code == 200, page
    secret = "".join(page.context["secret_groups"])
    response = client.post(reverse("wallet:totp_enrol"), {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302, response.content
    return TOTPDevice.objects.get(user=page.context["user"], confirmed=True)


def _notice_link(user: User, kind: str, pattern: str) -> str:
    """The link in the newest mail of ``kind`` to ``user``, rendered as the relay renders it."""
    notice = Notification.objects.filter(user=user, kind=kind).latest("pk")
    assert notice.to_address == user.email
    _subject, body = notification_render(notice)
    found = re.search(rf"https?://\S*{pattern}\S*", body)
    assert found, body
    return urlparse(found.group(0)).path


def _mail_link(to: str, pattern: str) -> str:
    for message in reversed(mail.outbox):
        if to in message.to:
            found = re.search(rf"https?://\S*{pattern}\S*", str(message.body))
            if found:
                return urlparse(found.group(0)).path
    raise AssertionError(f"no mail to {to} with a {pattern} link")


def test_a13_password_alone_cannot_enrol_the_first_factor_on_the_web(client: Client, customer: User) -> None:
    _password_login(client, customer)
    response = client.get(reverse("wallet:totp_enrol"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("wallet:contact_proof"))
    # A confirm without the proof (a device id guessed into the session) enrols nothing either.
    response = client.post(reverse("wallet:totp_enrol"), {"code": "123456"})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=customer).exists()
    # Money pages send the same session to enrol, which sends it to the proof.
    response = client.get(reverse("wallet:topup"), follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("wallet:contact_proof"))


def test_a13_password_alone_cannot_enrol_the_first_factor_through_the_app(customer: User) -> None:
    api = APIClient()
    body = api.post(reverse("api:auth_login"), {"email": customer.email, "password": PASSWORD}, format="json").json()
    assert body["status"] == "enrolment_required"
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    for url in ("api:factors_totp", "api:factors_totp_confirm"):
        refused = api.post(reverse(url), {"code": "123456"}, format="json")
        assert refused.status_code in (403, 409) and not TOTPDevice.objects.filter(user=customer, confirmed=True).exists()
    refused = api.post(reverse("api:factors_totp"))
    assert refused.status_code == 403 and refused.json()["code"] == "proof_required"
    # A wrong SMS code proves nothing.
    assert api.post(reverse("api:factors_contact_proof")).status_code == 202
    assert api.post(reverse("api:factors_contact_proof_verify"), {"code": "000000"}, format="json").status_code == 400
    assert api.post(reverse("api:factors_totp")).status_code == 403
    # The limited token moves no money.
    assert api.post(reverse("api:wallet_payment_code")).status_code == 403


def test_a13_the_code_goes_only_to_the_phone_on_record(client: Client, customer: User) -> None:
    _password_login(client, customer)
    response = client.post(reverse("wallet:contact_proof"), {"action": "sms_send", "phone": ATTACKER_PHONE, "to": ATTACKER_PHONE})
    assert response.status_code == 302
    assert not DevInboxMessage.objects.filter(to=ATTACKER_PHONE).exists()
    assert DevInboxMessage.objects.filter(to=customer.phone).count() == 1
    customer.refresh_from_db()
    assert customer.phone == "+819012345678"


def test_a13_the_email_link_proves_only_for_the_browser_that_opens_it(client: Client, customer: User) -> None:
    attacker = client
    _password_login(attacker, customer)
    response = attacker.post(reverse("wallet:contact_proof"), {"action": "email_send"})
    assert response.status_code == 200
    link = _notice_link(customer, "contact_proof_link", "/security/confirm-contact/")
    # The owner opens the mail on their own browser, signs in there, and confirms.
    owner = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert owner.get(link).status_code == 302  # sign in first
    _password_login(owner, customer)
    assert owner.get(link).status_code == 200
    assert owner.post(link).status_code == 302
    # The session that asked for the link is no closer to a factor; the owner's is.
    assert attacker.get(reverse("wallet:totp_enrol")).status_code == 302
    device = _enrol_in(owner)
    assert device.user_id == customer.pk
    # Used once.
    assert owner.post(link).status_code == 400


@pytest.mark.parametrize("blocker", ["freeze", "case"])
def test_a13_no_first_factor_while_the_wallet_is_frozen_or_a_case_is_open(client: Client, customer: User, blocker: str) -> None:
    if blocker == "freeze":
        AccountFreeze.objects.create(user=customer, scope=AccountFreeze.Scope.DEBITS, source=AccountFreeze.Source.STAFF, reason="fraud")
    else:
        from backoffice.models import Case

        Case.objects.create(customer=customer, source=Case.Source.REVIEW, summary="takeover suspected")
    _password_login(client, customer)
    prove_contact_by_sms(client, customer)
    response = client.get(reverse("wallet:totp_enrol"))
    assert response.status_code == 403
    assert not TOTPDevice.objects.filter(user=customer).exists()
    assert AuthEvent.objects.filter(user=customer, kind=AuthEvent.Kind.FACTOR_ENROLMENT_REFUSED).exists()


@pytest.mark.django_db(transaction=True)
def test_a13_the_sign_up_enrolment_needs_no_other_proof_and_starts_no_cooling_off(client: Client) -> None:
    client.post(reverse("wallet:signup"), signup_data())
    link = _mail_link("taro@example.jp", "/signup/verify/")
    assert client.post(link).status_code == 302
    response = client.post(reverse("wallet:signup_phone"), {"action": "verify", "code": latest_sms_code("+819012345678")})
    assert response["Location"] == reverse("wallet:totp_enrol")
    _enrol_in(client)
    user = User.objects.get(email="taro@example.jp")
    assert user.factor_cooling_off_until is None
    assert not Notification.objects.filter(user=user, kind="first_factor_added").exists()


@pytest.mark.django_db(transaction=True)
def test_a13_a_sign_up_left_before_the_phone_step_cannot_choose_the_phone_with_the_password(client: Client) -> None:
    client.post(reverse("wallet:signup"), signup_data())
    assert Client().post(_mail_link("taro@example.jp", "/signup/verify/")).status_code == 302  # the owner, elsewhere
    user = User.objects.get(email="taro@example.jp")
    attacker = client
    assert attacker.post(reverse("wallet:login"), {"username": user.email, "password": SIGNUP_PASSWORD}).status_code == 302
    response = attacker.get(reverse("wallet:signup_phone"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("wallet:contact_proof"))
    attacker.post(reverse("wallet:signup_phone"), {"action": "change", "phone": "090-9999-0000"})
    user.refresh_from_db()
    assert user.phone == "+819012345678" and user.phone_verified_at is None


def test_a13_a_late_first_factor_starts_a_cooling_off_and_tells_the_owner_at_once(
    client: Client, customer: User, django_capture_on_commit_callbacks: Any
) -> None:
    _password_login(client, customer)
    prove_contact_by_sms(client, customer)
    with django_capture_on_commit_callbacks(execute=True):
        _enrol_in(client)
    customer.refresh_from_db()
    assert customer.factor_cooling_off_until is not None
    assert customer.factor_cooling_off_until - timezone.now() > timedelta(hours=23)
    assert "/security/not-me/" in _notice_link(customer, "first_factor_added", "/security/not-me/")
    assert DevInboxMessage.objects.filter(to=customer.phone, body__contains="authenticator was added").exists()


def test_a13_the_cooling_off_caps_store_payments_and_sends_the_rest_to_review(customer: User, settings: object) -> None:
    fund_wallet(customer, 30_000)
    User.objects.filter(pk=customer.pk).update(factor_cooling_off_until=timezone.now() + timedelta(hours=24))
    store, _key = make_terminal()
    payment_redeem(terminal=store, code=payment_code_for(user=customer).code, amount_yen=3_000, idempotency_key="a")
    with pytest.raises(PaymentDeclined):
        payment_redeem(terminal=store, code=payment_code_for(user=customer).code, amount_yen=2_500, idempotency_key="b")
    decision = RiskDecision.objects.filter(user=customer, event="payment").latest("created_at")
    assert decision.outcome == RiskOutcome.REVIEW
    assert any(reason["rule"] == "first_factor_cooling_off" for reason in decision.reasons)
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        payment_redeem(terminal=store, code=payment_code_for(user=customer).code, amount_yen=2_500, idempotency_key="c")


def test_a13_this_was_not_me_locks_the_wallet_and_ends_every_way_in(client: Client, customer: User) -> None:
    _password_login(client, customer)
    prove_contact_by_sms(client, customer)
    _enrol_in(client)
    app_token = ApiToken.objects.create(user=customer, key_digest="x" * 64, key_prefix="anz_xxxx")
    link = _notice_link(customer, "first_factor_added", "/security/not-me/")
    owner = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert owner.get(link).status_code == 200
    customer.refresh_from_db()
    assert customer.check_password(PASSWORD), "opening the link (a mail scanner) must change nothing"
    assert owner.post(link).status_code == 200
    customer.refresh_from_db()
    assert AccountFreeze.objects.active().filter(user=customer).exists()
    assert not TOTPDevice.objects.filter(user=customer).exists()
    assert not ApiToken.objects.filter(pk=app_token.pk).exists()
    assert not UserSession.objects.filter(user=customer, ended_at__isnull=True).exists()
    assert not customer.has_usable_password() and customer.must_reset_password
    assert AuthEvent.objects.filter(user=customer, kind=AuthEvent.Kind.NOT_ME_REPORTED).exists()
    # The attacker's browser is signed out.
    assert client.get(reverse("wallet:security")).status_code == 302


def test_a13_an_account_without_a_second_factor_never_moves_money(customer: User) -> None:
    with pytest.raises(SecondFactorMissing):
        payment_code_issue(user=customer)
    with pytest.raises(SecondFactorMissing):
        card_registration_start(user=customer, return_url="https://example.jp/back")
    # A code issued while the account had a factor stops working once the factor is gone.
    fund_wallet(customer, 5_000)
    code = payment_code_for(user=customer).code
    TOTPDevice.objects.filter(user=customer).delete()
    store, _key = make_terminal()
    with pytest.raises(SecondFactorMissing):
        payment_redeem(terminal=store, code=code, amount_yen=1_000, idempotency_key="no-factor")
    assert make_card(customer).pk  # a card row alone moves nothing


def test_a13_existing_accounts_are_guided_through_the_proof_at_their_next_login(client: Client) -> None:
    make_customer(email="old@example.jp")
    response = client.post(reverse("wallet:login"), {"username": "old@example.jp", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("wallet:contact_proof"))
    assert "Confirm it is you" in response.content.decode()


# --- A14 -----------------------------------------------------------------------------------


@pytest.fixture
def closed_window_staff(db: None) -> User:
    staff = User.objects.create_user("closed@anzenpay.example", PASSWORD, full_name="Closed Window", is_staff=True)
    staff.email_verified_at = staff.phone_verified_at = timezone.now()
    staff.phone = "+819011112222"
    staff.staff_enrollment_open_until = None
    staff.save()
    return staff


def test_a14_staff_cannot_enrol_through_the_customer_web_flows(client: Client, closed_window_staff: User) -> None:
    _password_login(client, closed_window_staff)
    for url in (reverse("wallet:totp_enrol"), reverse("wallet:contact_proof")):
        assert client.get(url).status_code == 403
    assert client.post(reverse("wallet:contact_proof"), {"action": "sms_send"}).status_code == 403
    assert not DevInboxMessage.objects.filter(to=closed_window_staff.phone).exists()
    assert not TOTPDevice.objects.filter(user=closed_window_staff).exists()
    # And so no way into the staff site.
    assert client.get("/admin/").status_code in (302, 403)


def test_a14_staff_cannot_enrol_through_the_app(closed_window_staff: User) -> None:
    api = APIClient()
    body = api.post(reverse("api:auth_login"), {"email": closed_window_staff.email, "password": PASSWORD}, format="json").json()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert api.post(reverse("api:factors_contact_proof")).json()["code"] == "staff"
    refused = api.post(reverse("api:factors_totp"))
    assert refused.status_code == 403 and refused.json()["code"] == "staff"
    assert not TOTPDevice.objects.filter(user=closed_window_staff).exists()
    assert AuthEvent.objects.filter(user=closed_window_staff, kind=AuthEvent.Kind.FACTOR_ENROLMENT_REFUSED).exists()


def test_a13_refund_claims_during_the_cooling_off_go_to_review(customer: User) -> None:
    from refunds.models import RefundClaim
    from tests.refunds.factories import bank_claim, make_programme

    make_programme()
    fund_wallet(customer, 8_000)
    User.objects.filter(pk=customer.pk).update(factor_cooling_off_until=timezone.now() + timedelta(hours=3))
    customer.refresh_from_db()
    claim = bank_claim(customer, 8_000)
    assert claim.state == RefundClaim.State.REVIEW
    assert "first_factor_cooling_off" in claim.hold_reasons


def test_a13_no_refund_claim_by_login_without_an_authenticator(customer: User) -> None:
    from refunds.services.errors import RefundRefused
    from tests.refunds.factories import bank_claim, make_programme

    make_programme()
    fund_wallet(customer, 8_000)
    TOTPDevice.objects.filter(user=customer).delete()
    with pytest.raises(RefundRefused) as refused:
        bank_claim(customer, 8_000)
    assert refused.value.code == "second_factor_required"
