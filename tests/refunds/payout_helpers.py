"""Shared builders for the payout tests: approved claims, finance users, a released and delivered batch."""

from __future__ import annotations

from pathlib import Path

from django.test import TestCase, override_settings

from backoffice.models import Approval
from backoffice.services.approvals import approval_approve
from refunds.models import PayoutBatch, RefundClaim
from refunds.services.payouts import payout_batch_build, payout_batch_release_request
from tests.backoffice.helpers import make_staff
from tests.refunds.factories import bank_claim, funded_customer
from wallet.models import Entry, User


def approved_bank_claims(count: int, *, start: int = 0, amount: int = 1_000) -> list[RefundClaim]:
    """``count`` approved bank claims of different customers, accounts 00000NN and amounts amount+i."""
    claims = []
    for index in range(start, start + count):
        customer = funded_customer(f"holder{index}@example.jp", amount_yen=amount + index)
        claim = bank_claim(customer, amount + index, account_number=f"{index + 1:07d}")
        assert claim.state == RefundClaim.State.APPROVED, claim.hold_reasons
        claims.append(claim)
    return claims


def finance_pair() -> tuple[User, User]:
    return make_staff("finance@anzenpay.example", "finance"), make_staff("finance2@anzenpay.example", "finance")


def balance(code: str) -> int:
    return sum(Entry.objects.filter(account__code=code).values_list("amount_yen", flat=True))


def approve_delivering(approval: Approval, checker: User, outbox: Path) -> None:
    """Approve; the on-commit delivery task runs (eager Celery) into ``outbox``."""
    with override_settings(BANK_DELIVERY_DIR=outbox), TestCase.captureOnCommitCallbacks(execute=True):
        approval_approve(approval=approval, checker=checker, note="checked the totals")


def released_batch(
    maker: User, checker: User, outbox: Path, *, method: str = PayoutBatch.Method.BANK, batch: PayoutBatch | None = None
) -> PayoutBatch:
    """Build (unless given), request and approve; the delivery runs on commit into ``outbox``."""
    batch = batch or payout_batch_build(method=method)
    assert batch is not None
    approval = payout_batch_release_request(batch=batch, acting_user=maker, reason="weekly payout")
    approve_delivering(approval, checker, outbox)
    batch.refresh_from_db()
    return batch
