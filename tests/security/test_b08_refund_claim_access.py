"""B08 on the refund portal: nobody sees or changes another customer's claim; another
customer's claim number answers 404, the same as a number that does not exist."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from refunds.models import BankDetails, RefundClaim
from refunds.services.contact import contact_proof_start, contact_session_digest
from tests.conftest import enrol_totp
from tests.helpers import latest_sms_code
from tests.refunds.factories import bank_claim, funded_customer, make_programme
from tests.refunds.test_portal_claim import BANK_FORM
from tests.refunds.test_portal_contact import contact_mails, link_path
from tests.refunds.test_portal_status import ask_status_link, return_claim, status_link_of
from tests.wallet.test_account import verified_client
from wallet.models import User
from wallet.request_meta import RequestMeta

pytestmark = pytest.mark.django_db


@pytest.fixture
def two() -> tuple[User, RefundClaim, User, RefundClaim, Client]:
    make_programme()
    alice = funded_customer("alice@example.jp", amount_yen=1_000)
    bob = funded_customer("bob@example.jp", amount_yen=2_000, phone="+819022223333")
    alice_claim = return_claim(bank_claim(alice, 1_000))
    bob_claim = bank_claim(bob, 2_000, account_number="7777777")
    return alice, alice_claim, bob, bob_claim, verified_client(alice, enrol_totp(alice))


def test_b08_another_customers_claim_is_404(two: tuple[User, RefundClaim, User, RefundClaim, Client]) -> None:
    _alice, alice_claim, _bob, bob_claim, client = two
    for name in ("refunds:status_detail", "refunds:claim_done", "refunds:status_detail_correct"):
        assert client.get(reverse(name, args=[bob_claim.number])).status_code == 404, name
        assert client.get(reverse(name, args=["R0000000001"])).status_code == 404, name
        assert client.get(reverse(name, args=[alice_claim.number])).status_code in (200, 302), name
    assert client.post(reverse("refunds:status_detail_correct", args=[bob_claim.number]), BANK_FORM).status_code == 404
    assert BankDetails.objects.filter(claim=bob_claim).count() == 1


def test_b08_the_list_shows_only_the_customers_own_claims(two: tuple[User, RefundClaim, User, RefundClaim, Client]) -> None:
    _alice, alice_claim, _bob, bob_claim, client = two
    page = client.get(reverse("refunds:status")).content.decode()
    assert alice_claim.number in page and bob_claim.number not in page and "****777" not in page


def test_b08_a_status_link_opens_its_own_claim_only(
    two: tuple[User, RefundClaim, User, RefundClaim, Client], django_capture_on_commit_callbacks: Any
) -> None:
    alice, alice_claim, _bob, bob_claim, _client = two
    browser = Client()
    ask_status_link(browser, django_capture_on_commit_callbacks, alice_claim.number, alice.email)
    browser.get(status_link_of(alice))
    page = browser.get(reverse("refunds:status_view")).content.decode()
    assert alice_claim.number in page and bob_claim.number not in page
    # The logged-in pages stay closed to a browser that only holds a status link.
    assert browser.get(reverse("refunds:status_detail", args=[bob_claim.number])).status_code == 302
    assert browser.get(reverse("refunds:status_detail", args=[alice_claim.number])).status_code == 302


def test_b08_a_contact_proof_of_one_holder_cannot_correct_anothers_claim(
    two: tuple[User, RefundClaim, User, RefundClaim, Client], django_capture_on_commit_callbacks: Any
) -> None:
    """Bob proves his own contact details in a browser that holds Alice's status link: still no form."""
    alice, alice_claim, bob, _bob_claim, _client = two
    browser = Client()
    ask_status_link(browser, django_capture_on_commit_callbacks, alice_claim.number, alice.email)
    browser.get(status_link_of(alice))
    # A complete proof for Bob, bound to this browser.
    session_key = browser.session.session_key
    assert session_key
    with django_capture_on_commit_callbacks(execute=True):
        contact_proof_start(user=bob, session_digest=contact_session_digest(session_key), meta=RequestMeta(ip=None, user_agent=""))
    browser.get(link_path(contact_mails(bob)[-1]))
    browser.post(reverse("refunds:contact_code"), {"code": latest_sms_code(bob.phone)})
    response = browser.post(reverse("refunds:status_view_correct"), {**BANK_FORM, "account_number": "6666666"})
    assert response["Location"] == reverse("refunds:status_view")
    assert not BankDetails.objects.filter(account_number="6666666").exists()


def test_b08_the_contact_done_page_shows_only_the_claim_this_browser_filed(
    two: tuple[User, RefundClaim, User, RefundClaim, Client],
) -> None:
    assert Client().get(reverse("refunds:contact_claim_done"))["Location"] == reverse("refunds:status")
