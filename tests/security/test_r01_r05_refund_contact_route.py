"""R01 and R05 on the refund portal's no-login route: the link and the code go only to the
email address and phone number on record, never to typed values or lookalikes; name and
birth date prove nothing; a claim filed this way is always reviewed by staff."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from refunds.models import ContactProof, RefundClaim
from refunds.services.claims import claim_submit
from tests.conftest import make_customer
from tests.refunds.factories import bank_details, funded_customer, make_programme
from tests.refunds.test_portal_claim import claim_url
from tests.refunds.test_portal_contact import PHONE_TYPED, ask, prove
from wallet.models import DevInboxMessage, Notification, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def holder() -> User:
    make_programme()
    return funded_customer(amount_yen=3_000)


def sent_anything() -> tuple[list[list[str]], list[str]]:
    """The contact mails and the SMS sent; every other mail (a top-up receipt) goes to its owner only."""
    assert all(m.to[0].endswith("@example.jp") for m in mail.outbox), [m.to for m in mail.outbox]
    mails = [m.to for m in mail.outbox if "/refund/contact/link/" in str(m.body)]
    sms = list(DevInboxMessage.objects.filter(channel=DevInboxMessage.Channel.SMS).values_list("to", flat=True))
    return mails, sms


@pytest.mark.parametrize(
    ("email", "phone"),
    [
        ("HANAKO@EXAMPLE.JP", PHONE_TYPED),
        ("ｈａｎａｋｏ＠ｅｘａｍｐｌｅ．ｊｐ", "+81 90 1234 5678"),
        (" hanako@example.jp ", "０９０１２３４５６７８"),
    ],
)
def test_r01_lookalike_spellings_reach_only_the_contact_on_record(
    holder: User, email: str, phone: str, django_capture_on_commit_callbacks: Any
) -> None:
    ask(Client(), django_capture_on_commit_callbacks, email=email, phone=phone)
    mails, sms = sent_anything()
    assert mails == [[holder.email]] and sms == [holder.phone]
    assert Notification.objects.get(kind="refund_contact_link").to_address == holder.email


def test_r01_a_unicode_lookalike_address_is_refused_and_sends_nothing(holder: User, django_capture_on_commit_callbacks: Any) -> None:
    response = ask(Client(), django_capture_on_commit_callbacks, email="hаnako@example.jp")  # Cyrillic а
    assert response.status_code == 400
    assert sent_anything() == ([], []) and not ContactProof.objects.exists()


def test_r01_extra_fields_cannot_redirect_the_link_or_the_code(holder: User, django_capture_on_commit_callbacks: Any) -> None:
    ask(
        Client(),
        django_capture_on_commit_callbacks,
        to_address="attacker@evil.example",
        email2="attacker@evil.example",
        notify_email="attacker@evil.example",
        phone2="090-9999-0000",
        sms_to="+819099990000",
    )
    mails, sms = sent_anything()
    assert mails == [[holder.email]] and sms == [holder.phone]


def test_r01_the_email_alone_or_the_phone_alone_sends_nothing(holder: User, django_capture_on_commit_callbacks: Any) -> None:
    ask(Client(), django_capture_on_commit_callbacks, phone="090-9999-0000")  # the attacker's phone
    ask(Client(), django_capture_on_commit_callbacks, email="attacker@evil.example")  # the victim's phone, another address
    assert sent_anything() == ([], []) and not ContactProof.objects.exists()


def test_r01_unverified_or_frozen_or_staff_accounts_get_nothing(django_capture_on_commit_callbacks: Any) -> None:
    make_programme()
    make_customer("unverified@example.jp", phone="+819011110001", phone_verified_at=None)
    make_customer("frozen@example.jp", phone="+819011110002", status=User.Status.FROZEN)
    make_customer("staff@example.jp", phone="+819011110003", is_staff=True)
    for email, phone in [
        ("unverified@example.jp", "09011110001"),
        ("frozen@example.jp", "09011110002"),
        ("staff@example.jp", "09011110003"),
    ]:
        ask(Client(), django_capture_on_commit_callbacks, email=email, phone=phone)
    assert sent_anything() == ([], [])


def test_r05_name_and_birth_date_prove_nothing(holder: User, django_capture_on_commit_callbacks: Any) -> None:
    User.objects.filter(pk=holder.pk).update(birth_date="1990-04-01")
    client = Client()
    # Exactly the holder's name and birth date, with a phone that is not theirs.
    ask(client, django_capture_on_commit_callbacks, phone="090-9999-0000", full_name=holder.full_name, birth_date="1990-04-01")
    assert sent_anything() == ([], [])
    for step in ("balance", "method", "details", "check"):
        assert client.get(claim_url(step, "contact"))["Location"] == reverse("refunds:contact")
    assert client.post(claim_url("check", "contact"))["Location"] == reverse("refunds:contact")
    assert not RefundClaim.objects.exists()


def test_r05_a_wrong_name_and_birth_date_do_not_block_the_holder(holder: User, django_capture_on_commit_callbacks: Any) -> None:
    """They are the reviewer's material, not a check: the link and the code decide."""
    client = Client()
    prove(client, holder, django_capture_on_commit_callbacks, full_name="Someone Else", birth_date="2001-01-01")
    assert client.get(claim_url("balance", "contact")).status_code == 200


def test_r05_contact_claims_are_always_reviewed(holder: User, django_capture_on_commit_callbacks: Any) -> None:
    client = Client()
    prove(client, holder, django_capture_on_commit_callbacks)
    client.post(claim_url("balance", "contact"), {"amount_yen": "3000"})
    client.post(claim_url("method", "contact"), {"method": "bank"})
    # A clean account in the holder's own name: a login claim with it would be approved at once.
    client.post(
        claim_url("details", "contact"),
        {
            "account_kind": "bank",
            "bank": "0001",
            "branch": "001",
            "account_type": "1",
            "account_number": "1234567",
            "holder_name": "ヤマダ ハナコ",
        },
    )
    client.post(claim_url("check", "contact"))
    claim = RefundClaim.objects.get(customer=holder)
    assert claim.route == RefundClaim.Route.CONTACT
    assert claim.state == RefundClaim.State.REVIEW and claim.hold_reasons == ["contact_route"]


def test_r05_the_service_reviews_any_contact_route_claim() -> None:
    make_programme()
    customer = funded_customer("direct@example.jp", amount_yen=500)
    claim = claim_submit(
        customer=customer, route=RefundClaim.Route.CONTACT, method=RefundClaim.Method.BANK, confirmed_amount_yen=500, bank=bank_details()
    )
    assert claim.state == RefundClaim.State.REVIEW and "contact_route" in claim.hold_reasons
