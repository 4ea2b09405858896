"""S04 on the refund portal: a fresh second factor before bank details are taken and saved
(the claim's bank step and its submit, and the correction after a return). ゆうちょ and cash at
a Japan Post counter need one too (B09): tests/security/test_b09_refund_payee_step_up.py."""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from refunds.models import BankDetails, RefundClaim
from tests.conftest import enrol_totp, totp_for
from tests.refunds.factories import bank_claim, funded_customer, make_programme
from tests.refunds.test_portal_claim import BANK_FORM, claim_url
from tests.refunds.test_portal_status import return_claim
from tests.wallet.test_account import verified_client
from wallet.services.second_factor import SESSION_STEP_UP_AT

pytestmark = pytest.mark.django_db


def stale(client: Client) -> None:
    """Time passes: the code typed at login is no longer fresh."""
    session = client.session
    session[SESSION_STEP_UP_AT] = (timezone.now() - timedelta(minutes=6)).isoformat()
    session.save()


def step_up_target(response: object) -> str:
    location = response["Location"]  # type: ignore[index]
    parsed = urlparse(location)
    assert parsed.path == reverse("wallet:step_up"), location
    return parse_qs(parsed.query)["next"][0]


def test_s04_bank_details_step_asks_for_a_fresh_code_first_and_returns() -> None:
    make_programme()
    customer = funded_customer(amount_yen=2_000)
    device = enrol_totp(customer)
    client = verified_client(customer, device, stepped_up=False)
    client.post(claim_url("balance"), {"amount_yen": "2000"})
    client.post(claim_url("method"), {"method": "bank"})
    assert step_up_target(client.get(claim_url("details"))) == claim_url("details")
    assert step_up_target(client.post(claim_url("details"), BANK_FORM)) == claim_url("details")
    assert "bank" not in client.session["refund_claim_login"]
    back = client.post(reverse("wallet:step_up"), {"code": totp_for(device).now(), "next": claim_url("details")})
    assert back["Location"] == claim_url("details")
    assert client.get(claim_url("details")).status_code == 200
    assert client.post(claim_url("details"), BANK_FORM)["Location"] == claim_url("check")
    # Minutes later the code is stale again: the submit that saves the account asks once more, and files nothing.
    stale(client)
    assert step_up_target(client.post(claim_url("check"))) == claim_url("check")
    assert not RefundClaim.objects.exists() and not BankDetails.objects.exists()
    # A code works once (A06): the second step-up uses the next 30-second step's code.
    client.post(reverse("wallet:step_up"), {"code": totp_for(device).at(int(time.time()) + 30), "next": claim_url("check")})
    assert client.post(claim_url("check"))["Location"].startswith("/refund/claim/done/")
    assert BankDetails.objects.filter(claim__customer=customer).count() == 1


def test_s04_a_wrong_code_does_not_let_bank_details_through() -> None:
    make_programme()
    customer = funded_customer(amount_yen=2_000)
    client = verified_client(customer, enrol_totp(customer), stepped_up=False)
    client.post(claim_url("balance"), {"amount_yen": "2000"})
    client.post(claim_url("method"), {"method": "bank"})
    client.post(reverse("wallet:step_up"), {"code": "000000", "next": claim_url("details")})
    assert step_up_target(client.get(claim_url("details"))) == claim_url("details")


def test_s04_correcting_the_bank_account_after_a_return_needs_a_fresh_code() -> None:
    make_programme()
    customer = funded_customer(amount_yen=2_000)
    device = enrol_totp(customer)
    claim = return_claim(bank_claim(customer, 2_000))
    client = verified_client(customer, device, stepped_up=False)
    url = reverse("refunds:status_detail_correct", args=[claim.number])
    assert step_up_target(client.get(url)) == url
    assert step_up_target(client.post(url, {**BANK_FORM, "account_number": "7654321"})) == url
    assert BankDetails.objects.filter(claim=claim).count() == 1
    client.post(reverse("wallet:step_up"), {"code": totp_for(device).now(), "next": url})
    assert client.post(url, {**BANK_FORM, "account_number": "7654321"}).status_code == 302
    assert BankDetails.objects.get(claim=claim, superseded_at__isnull=True).account_number == "7654321"
