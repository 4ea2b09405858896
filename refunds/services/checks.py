"""The checks a claim passes before money leaves (issue 5, 'checks before money leaves').

Each check names a reason; any reason sends the claim to staff review instead
of the bank. None of them refuses the claim: the money is owed either way, the
question is only whether a person must look first."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from backoffice.models import Case
from wallet.models import AccountFreeze, User

from ..models import BankDetails, RefundClaim
from ..zengin.names import names_match

REASONS = {
    "contact_route": _("Claimed without logging in: the holder proved the email and phone on record only (always reviewed)."),
    "name_mismatch": _("The account holder's name does not match the name in kana on the wallet."),
    "shared_account": _("The same bank account is named by another customer's claim."),
    "frozen": _("The wallet is frozen."),
    "case_open": _("The customer has an open fraud case."),
    "late": _("Filed after the claim deadline."),
    "staff_hold": _("Held by staff."),
    "details_missing": _("The claim has no current payee details."),
    "payout_file_refused": _("The bank file writer refused this claim's details; correct them before it is paid."),
    "corrected_after_return": _("The details were corrected after the bank returned the payout, and a check failed."),
}


def reason_labels(codes: list[str]) -> list[str]:
    return [str(REASONS.get(code, code)) for code in codes]


def claim_hold_reasons(*, customer: User, route: str, bank_details: BankDetails | None, claim: RefundClaim | None) -> list[str]:
    """The review reasons for this claim as it stands; empty means it may go to the next batch."""
    reasons: list[str] = []
    if route == RefundClaim.Route.CONTACT:
        reasons.append("contact_route")
    if bank_details is not None and not names_match(bank_details.holder_name, customer.name_kana):
        reasons.append("name_mismatch")
    if bank_details is not None and shared_account_claims(bank_details=bank_details, claim=claim):
        reasons.append("shared_account")
    if customer.status == User.Status.FROZEN or AccountFreeze.objects.active().filter(user=customer).exists():
        reasons.append("frozen")
    if Case.objects.filter(customer=customer, status__in=Case.OPEN_STATUSES).exists():
        reasons.append("case_open")
    return reasons


def shared_account_claims(*, bank_details: BankDetails, claim: RefundClaim | None) -> list[int]:
    """Ids of other customers' open or paid claims whose current details name the same account."""
    others = BankDetails.objects.filter(fingerprint=bank_details.fingerprint, superseded_at__isnull=True).exclude(
        claim__customer_id=bank_details.claim.customer_id
    )
    if claim is not None:
        others = others.exclude(claim=claim)
    return list(others.exclude(claim__state=RefundClaim.State.REJECTED).values_list("claim_id", flat=True))
