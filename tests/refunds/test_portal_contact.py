"""The no-login route: the contact details, the link to the email on record opened in the same
browser, the SMS code to the phone on record, then the same claim steps, always reviewed."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from refunds.models import CONTACT_CODE_ATTEMPTS_MAX, ContactProof, RefundClaim, ShutdownProgramme
from refunds.services.contact import contact_link_token
from tests.helpers import latest_sms_code
from tests.refunds.factories import funded_customer, make_programme
from tests.refunds.test_portal_claim import BANK_FORM, POSTAL_FORM, choose, claim_url, confirm_balance, main_text
from wallet.models import DevInboxMessage, Notification, User
from wallet.selectors import wallet_balance

pytestmark = pytest.mark.django_db

PHONE_TYPED = "090-1234-5678"  # make_customer's +819012345678


def browser() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def ask(client: Client, capture: Any, *, email: str = "hanako@example.jp", phone: str = PHONE_TYPED, **extra: str) -> Any:
    """Fill the contact form; the lookup and the sending run after commit, as in production."""
    data = {"email": email, "phone": phone, "full_name": "山田 花子", "birth_date": "1990-04-01", **extra}
    with capture(execute=True):
        return client.post(reverse("refunds:contact"), data)


def contact_mails(user: User) -> list[mail.EmailMessage]:
    return [m for m in mail.outbox if "/refund/contact/link/" in str(m.body) and m.to == [user.email]]


def link_path(message: mail.EmailMessage) -> str:
    found = re.search(r"https?://\S+/refund/contact/link/\S+", str(message.body))
    assert found, message.body
    return urlparse(found.group(0)).path


def prove(client: Client, user: User, capture: Any, **typed: str) -> None:
    """The whole proof in one browser: form, link, code."""
    assert ask(client, capture, **typed)["Location"] == reverse("refunds:contact_sent")
    opened = client.get(link_path(contact_mails(user)[-1]))
    assert opened["Location"] == reverse("refunds:contact_code")
    proved = client.post(reverse("refunds:contact_code"), {"code": latest_sms_code(user.phone)})
    assert proved["Location"] == claim_url("balance", "contact"), main_text(proved)


@pytest.fixture
def programme() -> ShutdownProgramme:
    return make_programme()


@pytest.fixture
def holder(programme: ShutdownProgramme) -> User:
    return funded_customer(amount_yen=7_777)


def test_contact_route_end_to_end_by_bank(holder: User, django_capture_on_commit_callbacks: Any) -> None:
    client = browser()
    form = client.get(reverse("refunds:contact"))
    assert form.status_code == 200
    page = main_text(form)
    assert "do not prove who you are" in page and "checked by our staff" in page
    sent = ask(client, django_capture_on_commit_callbacks)
    assert sent["Location"] == reverse("refunds:contact_sent")
    assert "If the email address and phone number you typed match an account" in main_text(client.get(sent["Location"]))
    [message] = contact_mails(holder)
    assert DevInboxMessage.objects.filter(channel=DevInboxMessage.Channel.SMS, to=holder.phone).count() == 1
    # The code page is not reachable before the link is opened.
    assert client.get(reverse("refunds:contact_code"))["Location"] == reverse("refunds:contact_sent")
    assert client.get(claim_url("balance", "contact"))["Location"] == reverse("refunds:contact")
    opened = client.get(link_path(message))
    assert opened["Location"] == reverse("refunds:contact_code")
    code_page = client.get(reverse("refunds:contact_code"))
    assert "Your email address is confirmed" in main_text(code_page)
    proved = client.post(reverse("refunds:contact_code"), {"code": latest_sms_code(holder.phone)})
    assert proved["Location"] == claim_url("balance", "contact")
    balance = main_text(client.get(claim_url("balance", "contact")))
    assert "¥7,777" in balance and "Step 1 of 4" in balance and "without logging in" in balance
    confirm_balance(client, 7_777, "contact")
    choose(client, "bank", "contact")
    details = client.get(claim_url("details", "contact"))
    assert details.status_code == 200, "no step-up page on this route: the SMS code just proved the phone"
    assert 'value="ヤマダ ハナコ"' not in details.content.decode(), "nothing from the account is filled in"
    assert client.post(claim_url("details", "contact"), BANK_FORM)["Location"] == claim_url("check", "contact")
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(claim_url("check", "contact"))
    assert done["Location"] == reverse("refunds:contact_claim_done")
    claim = RefundClaim.objects.get(customer=holder)
    assert claim.number in main_text(client.get(done["Location"]))
    assert claim.route == RefundClaim.Route.CONTACT
    assert claim.state == RefundClaim.State.REVIEW and "contact_route" in claim.hold_reasons
    assert claim.stated_name == "山田 花子" and claim.stated_birth_date is not None and claim.stated_birth_date.isoformat() == "1990-04-01"
    assert wallet_balance(holder) == 0
    proof = ContactProof.objects.get(user=holder)
    assert proof.used_at is not None and proof.email_proved_at is not None and proof.phone_proved_at is not None
    assert any(claim.number in m.subject for m in mail.outbox if m.to == [holder.email])


def test_contact_route_by_postal_and_double_submit(holder: User, django_capture_on_commit_callbacks: Any) -> None:
    client = browser()
    prove(client, holder, django_capture_on_commit_callbacks)
    confirm_balance(client, 7_777, "contact")
    choose(client, "postal", "contact")
    client.post(claim_url("details", "contact"), POSTAL_FORM)
    first = client.post(claim_url("check", "contact"))
    second = client.post(claim_url("check", "contact"))
    assert first["Location"] == second["Location"] == reverse("refunds:contact_claim_done")
    assert RefundClaim.objects.filter(customer=holder).count() == 1
    assert RefundClaim.objects.get().method == RefundClaim.Method.POSTAL


def test_the_link_opened_in_another_browser_proves_nothing(holder: User, django_capture_on_commit_callbacks: Any) -> None:
    asker = browser()
    ask(asker, django_capture_on_commit_callbacks)
    path = link_path(contact_mails(holder)[-1])
    scanner = browser()
    response = scanner.get(path)
    assert response.status_code == 400 and "same browser" in main_text(response)
    assert ContactProof.objects.get().email_proved_at is None
    assert scanner.get(claim_url("balance", "contact"))["Location"] == reverse("refunds:contact")
    # Then the right browser still can.
    assert asker.get(path)["Location"] == reverse("refunds:contact_code")


def test_a_tampered_or_expired_link_is_refused(holder: User, django_capture_on_commit_callbacks: Any) -> None:
    client = browser()
    ask(client, django_capture_on_commit_callbacks)
    proof = ContactProof.objects.get()
    tampered = reverse("refunds:contact_link", args=[proof.pk, contact_link_token(proof)[:-2] + "xx"])
    assert client.get(tampered).status_code == 400
    ContactProof.objects.filter(pk=proof.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = client.get(link_path(contact_mails(holder)[-1]))
    assert expired.status_code == 400 and "expired" in main_text(expired)
    assert ContactProof.objects.get().email_proved_at is None


def test_wrong_codes_are_capped_and_the_code_works_once(holder: User, django_capture_on_commit_callbacks: Any) -> None:
    client = browser()
    ask(client, django_capture_on_commit_callbacks)
    client.get(link_path(contact_mails(holder)[-1]))
    right = latest_sms_code(holder.phone)
    wrong = "000000" if right != "000000" else "111111"
    for attempt in range(1, CONTACT_CODE_ATTEMPTS_MAX):
        response = client.post(reverse("refunds:contact_code"), {"code": wrong})
        assert response.status_code == 400
        left = CONTACT_CODE_ATTEMPTS_MAX - attempt
        assert f"You can try {left} more {'time' if left == 1 else 'times'}." in main_text(response)
    last = client.post(reverse("refunds:contact_code"), {"code": wrong})
    assert last.status_code == 400 and "too many times" in main_text(last)
    after = client.post(reverse("refunds:contact_code"), {"code": right})
    assert after.status_code == 400
    assert ContactProof.objects.get().phone_proved_at is None
    assert client.get(claim_url("balance", "contact"))["Location"] == reverse("refunds:contact")
    # A new request starts a new proof, and its code works once.
    prove(client, holder, django_capture_on_commit_callbacks)
    proof = ContactProof.objects.order_by("-id").first()
    assert proof is not None and proof.is_complete
    from refunds.services.contact import CodeOutcome, contact_code_verify

    again = contact_code_verify(proof_id=proof.pk, session_digest=proof.session_digest, code=latest_sms_code(holder.phone))
    assert again.outcome == CodeOutcome.EXPIRED


def test_a_proof_expires(holder: User, django_capture_on_commit_callbacks: Any) -> None:
    client = browser()
    prove(client, holder, django_capture_on_commit_callbacks)
    assert client.get(claim_url("balance", "contact")).status_code == 200
    ContactProof.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(claim_url("balance", "contact"))["Location"] == reverse("refunds:contact")


def test_a_second_request_ends_the_first_proof_of_the_browser(holder: User, django_capture_on_commit_callbacks: Any) -> None:
    client = browser()
    ask(client, django_capture_on_commit_callbacks)
    first_link = link_path(contact_mails(holder)[-1])
    ask(client, django_capture_on_commit_callbacks)
    assert client.get(first_link).status_code == 400
    assert client.get(link_path(contact_mails(holder)[-1]))["Location"] == reverse("refunds:contact_code")


def test_the_outbox_row_holds_no_token(holder: User, django_capture_on_commit_callbacks: Any) -> None:
    """L02: the mail's token is minted when the mail is rendered; the row keeps the proof id only."""
    client = browser()
    ask(client, django_capture_on_commit_callbacks)
    notification = Notification.objects.get(kind="refund_contact_link")
    proof = ContactProof.objects.get()
    token = contact_link_token(proof)
    assert set(notification.context) <= {"proof_id", "minutes", "purpose"}
    assert token not in str(notification.context) and token not in notification.last_error
    assert token in str(contact_mails(holder)[-1].body)
    assert proof.email_token_digest != token and token not in proof.sms_code_digest
    code = latest_sms_code(holder.phone)
    assert code not in proof.sms_code_digest


def test_form_errors_are_tied_to_their_inputs(programme: ShutdownProgramme, django_capture_on_commit_callbacks: Any) -> None:
    response = ask(browser(), django_capture_on_commit_callbacks, email="not an address", phone="03-1234-5678", birth_date="")
    assert response.status_code == 400
    page = response.content.decode()
    for field in ("email", "phone", "birth_date"):
        assert re.search(rf'<ul class="errorlist" id="id_{field}_error">', page), field
        assert re.search(rf'id="id_{field}"[^>]*aria-invalid="true"', page) or re.search(
            rf'aria-invalid="true"[^>]*id="id_{field}"', page
        ), field
    assert not ContactProof.objects.exists() and not mail.outbox


def test_the_contact_route_is_closed_outside_the_claim_window(django_capture_on_commit_callbacks: Any) -> None:
    make_programme(closed=True)
    funded_customer(amount_yen=100)
    page = browser().get(reverse("refunds:contact"))
    assert "deadline has passed" in main_text(page) and "late claim" in main_text(page)
    ask(browser(), django_capture_on_commit_callbacks)
    assert not ContactProof.objects.exists()
