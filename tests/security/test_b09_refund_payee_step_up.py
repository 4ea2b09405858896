"""B09 on the refund portal: every payout method (bank, ゆうちょ, cash at a Japan Post counter)
needs a fresh second factor before its payee details are taken or saved, on the claim's details
step and its submit and on the correction after a returned payout. The page sends the customer
to the step-up page and back with what they typed kept; the service refuses on its own too."""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from refunds.models import BankDetails, PostalDetails, RefundClaim
from refunds.services.claims import claim_details_correct, claim_submit
from refunds.services.errors import RefundRefused
from tests.conftest import enrol_totp, totp_for
from tests.refunds.factories import bank_details, funded_customer, make_programme, postal_claim, postal_details
from tests.refunds.test_portal_claim import BANK_FORM, POSTAL_FORM, claim_url
from tests.refunds.test_portal_status import return_claim
from tests.wallet.test_account import verified_client
from wallet.models import LedgerAccount

pytestmark = pytest.mark.django_db

ATTACKER_POSTAL = {
    "name": "田中 一郎",
    "name_kana": "タナカ イチロウ",
    "postal_code": "5300001",
    "address": "大阪府大阪市北区梅田9-9-9 受取代行センター",
}
YUCHO_FORM = {"account_kind": "yucho", "yucho_kigou": "12340", "yucho_bangou": "12345671", "holder_name": "ヤマダ ハナコ"}


def step_up_target(response: object) -> str:
    location = response["Location"]  # type: ignore[index]
    parsed = urlparse(location)
    assert parsed.path == reverse("wallet:step_up"), location
    return parse_qs(parsed.query)["next"][0]


def step_up(client: Client, device: object, next_url: str, *, offset: int = 0) -> None:
    """Type the authenticator's code on the step-up page; ``offset`` seconds picks the next code (A06: a code works once)."""
    code = totp_for(device).at(int(time.time()) + offset)  # type: ignore[arg-type]
    response = client.post(reverse("wallet:step_up"), {"code": code, "next": next_url})
    assert response["Location"] == next_url


def test_b09_a_postal_claim_without_a_fresh_code_goes_to_the_step_up_page_and_saves_nothing() -> None:
    make_programme()
    customer = funded_customer(amount_yen=2_000)
    device = enrol_totp(customer)
    client = verified_client(customer, device, stepped_up=False)  # logged in with the second factor minutes ago, as in the finding
    client.post(claim_url("balance"), {"amount_yen": "2000"})
    assert client.post(claim_url("method"), {"method": "postal"})["Location"] == claim_url("details")

    assert step_up_target(client.get(claim_url("details"))) == claim_url("details")
    # Typing an address anyway: back to the step-up page, and the address is not taken as the claim's.
    assert step_up_target(client.post(claim_url("details"), ATTACKER_POSTAL)) == claim_url("details")
    assert "postal" not in client.session["refund_claim_login"]
    assert client.post(claim_url("check"))["Location"] == claim_url("details")  # no details taken: back to them
    assert not RefundClaim.objects.exists() and not PostalDetails.objects.exists()
    assert LedgerAccount.objects.get(owner=customer).balance_yen == 2_000

    # After the code, the same step with what was typed filled in again; nothing saved until "Continue".
    step_up(client, device, claim_url("details"))
    page = client.get(claim_url("details"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'value="田中 一郎"' in html and "受取代行センター" in html
    assert "postal" not in client.session["refund_claim_login"]
    assert client.post(claim_url("details"), POSTAL_FORM)["Location"] == claim_url("check")

    # Minutes later the code is stale again: the submit that saves the address asks once more and files nothing.
    with time_machine.travel(timezone.now() + timedelta(minutes=6), tick=False):
        assert step_up_target(client.post(claim_url("check"))) == claim_url("check")
        assert not RefundClaim.objects.exists()
        step_up(client, device, claim_url("check"))
        done = client.post(claim_url("check"))
    claim = RefundClaim.objects.get(customer=customer)
    assert done["Location"] == reverse("refunds:claim_done", args=[claim.number])
    assert PostalDetails.objects.get(claim=claim).address == POSTAL_FORM["address"]


@pytest.mark.parametrize(("method", "form"), [("bank", BANK_FORM), ("bank", YUCHO_FORM)], ids=["bank", "yucho"])
def test_b09_bank_and_yucho_accounts_need_a_fresh_code_and_keep_what_was_typed(method: str, form: dict[str, str]) -> None:
    make_programme()
    customer = funded_customer(amount_yen=3_000)
    device = enrol_totp(customer)
    client = verified_client(customer, device, stepped_up=False)
    client.post(claim_url("balance"), {"amount_yen": "3000"})
    client.post(claim_url("method"), {"method": method})
    assert step_up_target(client.post(claim_url("details"), form)) == claim_url("details")
    assert "bank" not in client.session["refund_claim_login"]
    assert client.post(claim_url("check"))["Location"] == claim_url("details")
    assert not RefundClaim.objects.exists() and not BankDetails.objects.exists()

    step_up(client, device, claim_url("details"))
    html = client.get(claim_url("details")).content.decode()
    typed = form.get("account_number") or form["yucho_bangou"]
    assert f'value="{typed}"' in html
    assert client.post(claim_url("details"), form)["Location"] == claim_url("check")
    assert client.post(claim_url("check"))["Location"].startswith("/refund/claim/done/")
    row = BankDetails.objects.get(claim__customer=customer)
    assert row.yucho_bangou == form.get("yucho_bangou", "")


def test_b09_a_postal_correction_after_a_return_needs_a_fresh_code() -> None:
    make_programme()
    customer = funded_customer(amount_yen=2_000)
    device = enrol_totp(customer)
    claim = return_claim(postal_claim(customer, 2_000), reason="宛所不明")
    client = verified_client(customer, device, stepped_up=False)
    url = reverse("refunds:status_detail_correct", args=[claim.number])
    assert step_up_target(client.get(url)) == url
    assert step_up_target(client.post(url, ATTACKER_POSTAL)) == url
    assert PostalDetails.objects.filter(claim=claim).count() == 1
    claim.refresh_from_db()
    assert claim.state == RefundClaim.State.RETURNED

    step_up(client, device, url)
    form = client.get(url)
    assert form.status_code == 200 and "受取代行センター" in form.content.decode()
    assert PostalDetails.objects.filter(claim=claim).count() == 1
    saved = client.post(url, {**POSTAL_FORM, "address": "大阪府大阪市北区梅田1-1-1"})
    assert saved["Location"] == reverse("refunds:status_detail", args=[claim.number])
    assert PostalDetails.objects.get(claim=claim, superseded_at__isnull=True).address == "大阪府大阪市北区梅田1-1-1"
    claim.refresh_from_db()
    assert claim.state == RefundClaim.State.REVIEW  # a person checks the new address before it is sent again


def test_b09_the_service_refuses_login_route_details_without_a_fresh_step_up() -> None:
    make_programme()
    customer = funded_customer(amount_yen=4_000)
    now = timezone.now()
    for method, details, step_up_at in [
        (RefundClaim.Method.POSTAL, {"postal": postal_details()}, None),
        (RefundClaim.Method.BANK, {"bank": bank_details()}, None),
        (RefundClaim.Method.POSTAL, {"postal": postal_details()}, now - timedelta(minutes=6)),
        (RefundClaim.Method.POSTAL, {"postal": postal_details()}, now + timedelta(minutes=1)),
    ]:
        with pytest.raises(RefundRefused) as refused:
            claim_submit(
                customer=customer,
                route=RefundClaim.Route.LOGIN,
                method=method,
                confirmed_amount_yen=4_000,
                step_up_at=step_up_at,
                **details,  # type: ignore[arg-type]
            )
        assert refused.value.code == "step_up_required" and "authenticator" in refused.value.message
    assert not RefundClaim.objects.exists() and LedgerAccount.objects.get(owner=customer).balance_yen == 4_000

    claim = return_claim(postal_claim(customer, 4_000))
    with time_machine.travel(now + timedelta(minutes=6), tick=False):
        with pytest.raises(RefundRefused) as refused:
            claim_details_correct(claim=claim, customer=customer, postal=postal_details(), step_up_at=now)
        assert refused.value.code == "step_up_required"
        with pytest.raises(RefundRefused):
            claim_details_correct(claim=claim, customer=customer, postal=postal_details())
    claim.refresh_from_db()
    assert claim.state == RefundClaim.State.RETURNED and PostalDetails.objects.filter(claim=claim).count() == 1
