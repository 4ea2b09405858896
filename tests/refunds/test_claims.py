"""Claims: the balance moves to refund_payable at claim time, doubtful claims go to review, every change has history."""

from __future__ import annotations

import pytest

from refunds.models import RefundClaim
from refunds.services.claims import claim_review_approve, claim_review_reject
from refunds.services.errors import RefundRefused
from tests.backoffice.helpers import make_staff
from tests.refunds.factories import bank_claim, funded_customer, make_programme, postal_claim
from wallet.models import AccountFreeze, Entry, LedgerAccount

pytestmark = pytest.mark.django_db


def _refund_payable() -> int:
    return sum(Entry.objects.filter(account__code="refund_payable").values_list("amount_yen", flat=True))


def test_a_clean_bank_claim_moves_the_whole_balance_and_is_approved() -> None:
    make_programme()
    customer = funded_customer(amount_yen=12_345)
    claim = bank_claim(customer, 12_345)
    assert claim.state == RefundClaim.State.APPROVED
    assert claim.hold_reasons == []
    assert LedgerAccount.objects.get(owner=customer).balance_yen == 0
    assert _refund_payable() == 12_345
    assert list(claim.events.values_list("kind", "to_state")) == [("submitted", "approved")]
    assert customer.notifications.filter(kind="refund_claim_received", context__claim_number=claim.number).exists()


def test_a_changed_balance_or_a_second_claim_is_refused_and_changes_nothing() -> None:
    make_programme()
    customer = funded_customer(amount_yen=5_000)
    with pytest.raises(RefundRefused) as refused:
        bank_claim(customer, 4_000)
    assert refused.value.code == "balance_changed"
    assert LedgerAccount.objects.get(owner=customer).balance_yen == 5_000
    bank_claim(customer, 5_000)
    with pytest.raises(RefundRefused) as again:
        bank_claim(customer, 0)
    assert again.value.code == "already_claimed"
    assert RefundClaim.objects.count() == 1


def test_a_name_mismatch_goes_to_review_not_to_the_bank() -> None:
    make_programme()
    customer = funded_customer(amount_yen=3_000)
    claim = bank_claim(customer, 3_000, holder_name="ｻﾄｳ ｼﾞﾛｳ")
    assert claim.state == RefundClaim.State.REVIEW
    assert claim.hold_reasons == ["name_mismatch"]


def test_one_account_named_by_two_customers_holds_both_claims() -> None:
    make_programme()
    first = funded_customer("a@example.jp", amount_yen=1_000)
    second = funded_customer("b@example.jp", amount_yen=2_000)
    first_claim = bank_claim(first, 1_000)
    assert first_claim.state == RefundClaim.State.APPROVED
    second_claim = bank_claim(second, 2_000)
    first_claim.refresh_from_db()
    assert second_claim.state == first_claim.state == RefundClaim.State.REVIEW
    assert "shared_account" in second_claim.hold_reasons and "shared_account" in first_claim.hold_reasons


def test_a_frozen_wallet_is_claimed_but_held() -> None:
    make_programme()
    customer = funded_customer(amount_yen=7_000)
    AccountFreeze.objects.create(user=customer, scope=AccountFreeze.Scope.ALL, source=AccountFreeze.Source.STAFF, reason="takeover")
    claim = postal_claim(customer, 7_000)
    assert claim.state == RefundClaim.State.REVIEW
    assert claim.hold_reasons == ["postal_address_not_on_record", "frozen"]
    assert LedgerAccount.objects.get(owner=customer).balance_yen == 0


def test_review_approve_and_reject_with_history_and_the_money_back_on_reject() -> None:
    make_programme()
    reviewer = make_staff("finance@anzenpay.example", "finance")
    customer = funded_customer(amount_yen=3_000)
    claim = bank_claim(customer, 3_000, holder_name="ｻﾄｳ ｼﾞﾛｳ")
    claim_review_reject(claim=claim, acting_user=reviewer, note="The account is not the customer's.")
    claim.refresh_from_db()
    assert claim.state == RefundClaim.State.REJECTED
    assert LedgerAccount.objects.get(owner=customer).balance_yen == 3_000
    assert _refund_payable() == 0
    again = bank_claim(customer, 3_000, holder_name="ｻﾄｳ ｼﾞﾛｳ")
    claim_review_approve(claim=again, acting_user=reviewer, note="Name changed at marriage; ID seen.")
    again.refresh_from_db()
    assert again.state == RefundClaim.State.APPROVED
    assert [e.kind for e in again.events.all()] == ["submitted", "review_approved"]


def test_claims_before_opening_or_after_the_deadline_are_refused_for_customers() -> None:
    make_programme(closed=True)
    customer = funded_customer(amount_yen=1_000)
    with pytest.raises(RefundRefused) as refused:
        bank_claim(customer, 1_000)
    assert refused.value.code == "deadline_passed"
    assert LedgerAccount.objects.get(owner=customer).balance_yen == 1_000
