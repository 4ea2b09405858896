"""Following a claim: the logged-in list with a customer-facing history, the status link for
holders who cannot log in, and correcting the details after the bank returned the payment."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from unittest import mock
from urllib.parse import urlparse

import pytest
from django.core import mail
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from refunds.models import BankDetails, Payout, PayoutBatch, PostalDetails, RefundClaim, ShutdownProgramme
from refunds.services.claims import claim_review_approve, claim_review_reject, claim_state_set
from tests.backoffice.helpers import make_staff
from tests.conftest import enrol_totp
from tests.helpers import latest_sms_code
from tests.refunds.factories import bank_claim, funded_customer, make_programme, postal_claim
from tests.refunds.test_portal_claim import BANK_FORM, POSTAL_FORM, main_text
from tests.refunds.test_portal_contact import contact_mails, link_path
from tests.wallet.test_account import verified_client
from wallet.models import User

pytestmark = pytest.mark.django_db


def return_claim(claim: RefundClaim, reason: str = "口座なし (no such account)") -> RefundClaim:
    """What the payout job and the results import do to a claim whose payment comes back."""
    with transaction.atomic():
        locked = RefundClaim.objects.select_for_update().get(pk=claim.pk)
        if locked.state == RefundClaim.State.REVIEW:
            locked.hold_reasons = []
            claim_state_set(claim=locked, to_state=RefundClaim.State.APPROVED, actor=None, kind="review_approved")
        claim_state_set(claim=locked, to_state=RefundClaim.State.SCHEDULED, actor=None, kind="scheduled")
        batch = PayoutBatch.objects.create(
            method=locked.method, transfer_date=timezone.localdate(), file_content=b"", file_sha256="0" * 64, state="delivered"
        )
        Payout.objects.create(
            batch=batch,
            claim=locked,
            bank_details=locked.bank_details.filter(superseded_at__isnull=True).first(),
            amount_yen=locked.amount_yen,
            state=Payout.State.RETURNED,
            result_reason=reason,
        )
        claim_state_set(
            claim=locked, to_state=RefundClaim.State.RETURNED, actor=None, kind="payout_returned", note="internal: bank file 17"
        )
    return locked


def status_link_of(user: User) -> str:
    messages = [m for m in mail.outbox if m.to == [user.email] and "/refund/status/link/" in str(m.body)]
    assert messages, [m.subject for m in mail.outbox]
    found = re.search(r"https?://\S+/refund/status/link/\S+", str(messages[-1].body))
    assert found
    return urlparse(found.group(0)).path


def ask_status_link(client: Client, capture: Any, number: str, email: str) -> Any:
    with capture(execute=True):
        return client.post(reverse("refunds:status"), {"claim_number": number, "email": email})


@pytest.fixture
def programme() -> ShutdownProgramme:
    return make_programme()


@pytest.fixture
def holder(programme: ShutdownProgramme) -> User:
    return funded_customer(amount_yen=5_432)


def test_logged_in_customer_sees_claims_with_plain_history_and_masked_account(holder: User) -> None:
    claim = bank_claim(holder, 5_432, holder_name="ｻﾄｳ ｼﾞﾛｳ")  # name mismatch: review
    reviewer = make_staff("reviewer@anzenpay.example", "fraud_analyst")
    claim_review_approve(claim=claim, acting_user=reviewer, note="checked the passbook photo, secret internal note")
    client = verified_client(holder, enrol_totp(holder), stepped_up=False)
    listing = client.get(reverse("refunds:status"))
    page = main_text(listing)
    assert claim.number in page and "¥5,432" in page and "Bank transfer" in page
    assert "Approved, waiting for the next payout" in page and "The money leaves with the next payout" in page
    assert "Claim received" in page and "Approved after a check" in page
    assert "****567" in page and "1234567" not in page
    assert "reviewer@anzenpay.example" not in page and "secret internal note" not in page and "name_mismatch" not in page
    assert "does not match" not in page, "review reasons are for staff"
    detail = main_text(client.get(reverse("refunds:status_detail", args=[claim.number])))
    assert claim.number in detail and "****567" in detail and "secret internal note" not in detail


def test_a_rejected_claim_is_explained(holder: User) -> None:
    claim = bank_claim(holder, 5_432, holder_name="ｻﾄｳ ｼﾞﾛｳ")
    claim_review_reject(claim=claim, acting_user=make_staff("r@anzenpay.example", "fraud_analyst"), note="not the holder")
    page = main_text(verified_client(holder, enrol_totp(holder)).get(reverse("refunds:status")))
    assert "went back to your wallet" in page and "Not accepted" in page


def test_status_link_opens_a_read_only_page(holder: User, django_capture_on_commit_callbacks: Any) -> None:
    claim = bank_claim(holder, 5_432)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    lookup = client.get(reverse("refunds:status"))
    assert "Claim number" in main_text(lookup)
    # The number typed loosely and the address in another case still find it; the mail goes to the address on record.
    sent = ask_status_link(client, django_capture_on_commit_callbacks, claim.number.lower(), holder.email.upper())
    assert sent["Location"] == reverse("refunds:status_sent")
    path = status_link_of(holder)
    opened = client.get(path)
    assert opened["Location"] == reverse("refunds:status_view"), "the token leaves the address bar"
    page = main_text(client.get(opened["Location"]))
    assert claim.number in page and "****567" in page and "opened from the link" in page
    assert "<form" not in client.get(opened["Location"]).content.decode().split("<main", 1)[1].split("</main>")[0]
    # Another browser without the link sees nothing.
    assert Client().get(reverse("refunds:status_view")).status_code == 400


def test_status_link_expires_and_dies_with_an_email_change(holder: User, django_capture_on_commit_callbacks: Any) -> None:
    claim = bank_claim(holder, 5_432)
    ask_status_link(Client(), django_capture_on_commit_callbacks, claim.number, holder.email)
    path = status_link_of(holder)
    later = time_after(hours=25)
    client = Client()
    client.get(path)
    with mock.patch("time.time", return_value=later):
        assert client.get(reverse("refunds:status_view")).status_code == 400
    assert client.get(reverse("refunds:status_view")).status_code == 200
    User.objects.filter(pk=holder.pk).update(email="new-address@example.jp")
    assert client.get(reverse("refunds:status_view")).status_code == 400


def time_after(*, hours: int) -> float:
    return (timezone.now() + timedelta(hours=hours)).timestamp()


def test_a_wrong_pair_sends_nothing_and_answers_the_same(holder: User, django_capture_on_commit_callbacks: Any) -> None:
    claim = bank_claim(holder, 5_432)
    other = funded_customer("other@example.jp", amount_yen=10)
    client = Client()
    right = ask_status_link(client, django_capture_on_commit_callbacks, claim.number, holder.email)
    wrong = ask_status_link(client, django_capture_on_commit_callbacks, claim.number, other.email)
    unknown = ask_status_link(client, django_capture_on_commit_callbacks, "R0000000001", holder.email)
    assert right["Location"] == wrong["Location"] == unknown["Location"] == reverse("refunds:status_sent")
    assert [m.to for m in mail.outbox if "/refund/status/link/" in str(m.body)] == [[holder.email]]
    bad = client.post(reverse("refunds:status"), {"claim_number": "12", "email": holder.email})
    assert bad.status_code == 400 and 'id="id_claim_number_error"' in bad.content.decode()


def test_logged_in_correction_after_a_return(holder: User) -> None:
    claim = return_claim(bank_claim(holder, 5_432))
    device = enrol_totp(holder)
    client = verified_client(holder, device)
    page = main_text(client.get(reverse("refunds:status_detail", args=[claim.number])))
    assert "Returned by the bank" in page and "口座なし (no such account)" in page and "Correct the details" in page
    assert "internal: bank file 17" not in page
    url = reverse("refunds:status_detail_correct", args=[claim.number])
    form = client.get(url)
    assert form.status_code == 200 and 'name="bank"' in form.content.decode()
    bad = client.post(url, {**BANK_FORM, "account_number": "x"})
    assert bad.status_code == 400 and 'id="id_account_number_error"' in bad.content.decode()
    assert BankDetails.objects.filter(claim=claim).count() == 1
    saved = client.post(url, {**BANK_FORM, "account_number": "7654321"})
    assert saved["Location"] == reverse("refunds:status_detail", args=[claim.number])
    claim.refresh_from_db()
    assert claim.state == RefundClaim.State.APPROVED
    current = BankDetails.objects.get(claim=claim, superseded_at__isnull=True)
    assert current.account_number == "7654321"
    assert BankDetails.objects.filter(claim=claim, superseded_at__isnull=False).count() == 1
    after = main_text(client.get(reverse("refunds:status_detail", args=[claim.number])))
    assert "You corrected the details" in after and "****321" in after
    # Nothing to correct any more.
    assert client.get(url)["Location"] == reverse("refunds:status_detail", args=[claim.number])
    # The corrected claim leaves with the next batch, marked as changed details (Zengin new-code 2).
    from refunds.services.payouts.build import payout_batch_build

    batch = payout_batch_build(method=PayoutBatch.Method.BANK)
    assert batch is not None
    payout = Payout.objects.get(batch=batch, claim=claim)
    assert payout.new_code == Payout.NewCode.CHANGED and payout.bank_details_id == current.pk


def test_a_postal_correction_is_saved_and_checked_by_staff_before_it_is_sent_again(holder: User) -> None:
    # The step-up this needs (B09) is tested in tests/security/test_b09_refund_payee_step_up.py.
    claim = return_claim(postal_claim(holder, 5_432), reason="宛所不明")
    client = verified_client(holder, enrol_totp(holder))
    url = reverse("refunds:status_detail_correct", args=[claim.number])
    assert client.get(url).status_code == 200
    assert client.post(url, {**POSTAL_FORM, "address": "大阪府大阪市北区梅田1-1-1"}).status_code == 302
    assert PostalDetails.objects.get(claim=claim, superseded_at__isnull=True).address == "大阪府大阪市北区梅田1-1-1"
    claim.refresh_from_db()
    assert claim.state == RefundClaim.State.REVIEW
    assert claim.hold_reasons == ["corrected_after_return", "postal_address_not_on_record"]


def test_correction_from_the_status_link_needs_a_fresh_contact_proof(holder: User, django_capture_on_commit_callbacks: Any) -> None:
    claim = return_claim(bank_claim(holder, 5_432))
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    ask_status_link(client, django_capture_on_commit_callbacks, claim.number, holder.email)
    client.get(status_link_of(holder))
    page = client.get(reverse("refunds:status_view"))
    assert "Correct the details" in main_text(page) and reverse("refunds:status_view_correct_start") in page.content.decode()
    # The form itself is out of reach without the proof.
    assert client.get(reverse("refunds:status_view_correct"))["Location"] == reverse("refunds:status_view")
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(reverse("refunds:status_view_correct_start"))
    assert started["Location"] == reverse("refunds:contact_sent")
    assert "a 6-digit code by SMS to the mobile phone on your account" in main_text(client.get(started["Location"]))
    [message] = contact_mails(holder)
    assert "change the bank account" in str(message.body)
    assert client.get(link_path(message))["Location"] == reverse("refunds:contact_code")
    proved = client.post(reverse("refunds:contact_code"), {"code": latest_sms_code(holder.phone)})
    assert proved["Location"] == reverse("refunds:status_view_correct")
    assert client.get(proved["Location"]).status_code == 200
    saved = client.post(reverse("refunds:status_view_correct"), {**BANK_FORM, "account_number": "1111111"})
    assert saved["Location"] == reverse("refunds:status_view")
    claim.refresh_from_db()
    assert claim.state == RefundClaim.State.APPROVED
    assert BankDetails.objects.get(claim=claim, superseded_at__isnull=True).account_number == "1111111"
    # The proof is used: a second correction needs a new one.
    assert client.get(reverse("refunds:status_view_correct"))["Location"] == reverse("refunds:status_view")
