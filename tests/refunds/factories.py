"""Builders for refund tests: a live programme, clean bank details, and claims filed as the login route
files them (after a fresh step-up, B09). The funded customer and staff builders live in tests/factories."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from refunds.models import RefundClaim, ShutdownProgramme
from refunds.services.claims import claim_submit
from refunds.services.payee import CleanBankDetails, CleanPostalDetails
from tests.factories import funded_customer, funded_staff
from wallet.models import User

__all__ = [
    "approved_postal_claim",
    "bank_claim",
    "bank_details",
    "funded_customer",
    "funded_staff",
    "make_programme",
    "postal_claim",
    "postal_details",
]


def make_programme(*, open_now: bool = True, closed: bool = False, state: str = ShutdownProgramme.State.ANNOUNCED) -> ShutdownProgramme:
    now = timezone.now()
    if closed:
        opens, closes = now - timedelta(days=90), now - timedelta(days=1)
    elif open_now:
        opens, closes = now - timedelta(days=1), now + timedelta(days=90)
    else:
        opens, closes = now + timedelta(days=1), now + timedelta(days=100)
    return ShutdownProgramme.objects.create(
        title="AnzenPay サービス終了",
        announced_on=(opens - timedelta(days=1)).date(),
        service_ends_at=opens + timedelta(hours=1),
        claims_open_at=opens,
        claims_close_at=closes,
        notice_ja="AnzenPayはサービスを終了します。",
        notice_en="AnzenPay is closing.",
        state=state,
    )


def bank_details(
    *, holder_name: str = "ﾔﾏﾀﾞ ﾊﾅｺ", account_number: str = "1234567", bank_code: str = "0001", branch_code: str = "001"
) -> CleanBankDetails:
    return CleanBankDetails(
        bank_code=bank_code,
        bank_name="みずほ銀行",
        bank_name_kana="ミズホ",
        branch_code=branch_code,
        branch_name="東京営業部",
        branch_name_kana="トウキヨウ",
        account_type=1,
        account_number=account_number,
        holder_name=holder_name,
    )


def postal_details() -> CleanPostalDetails:
    return CleanPostalDetails(name="山田 花子", name_kana="ヤマダ ハナコ", postal_code="100-0001", address="東京都千代田区千代田1-1")


def bank_claim(customer: User, amount_yen: int, **details: str) -> RefundClaim:
    return claim_submit(
        customer=customer,
        route=RefundClaim.Route.LOGIN,
        method=RefundClaim.Method.BANK,
        confirmed_amount_yen=amount_yen,
        bank=bank_details(**details),
        step_up_at=timezone.now(),
    )


def postal_claim(customer: User, amount_yen: int, postal: CleanPostalDetails | None = None) -> RefundClaim:
    """A login-route claim of cash at a Japan Post counter; it always waits for review (B09: no address on record)."""
    return claim_submit(
        customer=customer,
        route=RefundClaim.Route.LOGIN,
        method=RefundClaim.Method.POSTAL,
        confirmed_amount_yen=amount_yen,
        postal=postal or postal_details(),
        step_up_at=timezone.now(),
    )


def approved_postal_claim(customer: User, amount_yen: int, reviewer: User) -> RefundClaim:
    """A postal claim a reviewer has checked and approved, ready for the next postal batch."""
    from refunds.services.claims import claim_review_approve

    claim = postal_claim(customer, amount_yen)
    return claim_review_approve(claim=claim, acting_user=reviewer, note="Address checked against the identity document.")
