"""The checks a claim passes before money leaves (issue 5, 'checks before money leaves').

Each check names a reason; any reason sends the claim to staff review instead
of the bank. None of them refuses the claim: the money is owed either way, the
question is only whether a person must look first."""

from __future__ import annotations

import unicodedata

import jaconv
from django.utils.translation import gettext_lazy as _

from backoffice.models import Case
from wallet.models import AccountFreeze, User
from wallet.services.first_factor import cooling_off_active

from ..models import BankDetails, PostalDetails, RefundClaim
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
    "postal_name_mismatch": _("The name the cash certificate is made out to does not match the customer's registered name."),
    # The wallet keeps no postal address, so no address can be matched: every postal claim is checked by a person (B09).
    "postal_address_not_on_record": _("The address is not one we hold on record for this customer."),
    # A13: a first authenticator added late (not at sign-up) may be an attacker's; its cooling-off holds refunds too.
    "first_factor_cooling_off": _("A first authenticator was added to this account recently, so it is still in its cooling-off period."),
}


def reason_labels(codes: list[str]) -> list[str]:
    return [str(REASONS.get(code, code)) for code in codes]


def claim_hold_reasons(
    *,
    customer: User,
    route: str,
    bank_details: BankDetails | None,
    claim: RefundClaim | None,
    postal_details: PostalDetails | None = None,
) -> list[str]:
    """The review reasons for this claim as it stands; empty means it may go to the next batch."""
    reasons: list[str] = []
    if route == RefundClaim.Route.CONTACT:
        reasons.append("contact_route")
    if bank_details is not None and not names_match(bank_details.holder_name, customer.name_kana):
        reasons.append("name_mismatch")
    if bank_details is not None and shared_account_claims(bank_details=bank_details, claim=claim):
        reasons.append("shared_account")
    if postal_details is not None:
        if not postal_name_matches(name=postal_details.name, name_kana=postal_details.name_kana, customer=customer):
            reasons.append("postal_name_mismatch")
        # No address on record to compare with (the wallet keeps none), so never one that matches.
        reasons.append("postal_address_not_on_record")
    if customer.status == User.Status.FROZEN or AccountFreeze.objects.active().filter(user=customer).exists():
        reasons.append("frozen")
    if Case.objects.filter(customer=customer, status__in=Case.OPEN_STATUSES).exists():
        reasons.append("case_open")
    if cooling_off_active(customer):
        reasons.append("first_factor_cooling_off")
    return reasons


def _plain_name(raw: str) -> str:
    """A name as people mean it: NFKC (full-width letters and the ideographic space fold), hiragana
    as katakana, without spaces or middle dots, case-folded. Kanji are compared as typed."""
    text = jaconv.hira2kata(unicodedata.normalize("NFKC", raw or ""))
    return "".join(char for char in text if not char.isspace() and char not in "・･·.").casefold()


def postal_name_matches(*, name: str, name_kana: str, customer: User) -> bool:
    """Whether the certificate's name is the customer's registered name (B09).

    The name may be typed as registered (kanji) or in kana; a kana reading, when given, must be the
    registered one. Kana are compared the way the bank compares account names (``names_match``), so
    small kana, width and spacing do not count. Nothing registered to compare with is no match."""
    registered = {plain for plain in (_plain_name(customer.full_name), _plain_name(customer.name_kana)) if plain}
    name_ok = _plain_name(name) in registered or bool(customer.name_kana and names_match(name, customer.name_kana))
    kana_ok = not _plain_name(name_kana) or (
        bool(customer.name_kana)
        and (_plain_name(name_kana) == _plain_name(customer.name_kana) or names_match(name_kana, customer.name_kana))
    )
    return name_ok and kana_ok


def shared_account_claims(*, bank_details: BankDetails, claim: RefundClaim | None) -> list[int]:
    """Ids of other customers' open or paid claims whose current details name the same account."""
    others = BankDetails.objects.filter(fingerprint=bank_details.fingerprint, superseded_at__isnull=True).exclude(
        claim__customer_id=bank_details.claim.customer_id
    )
    if claim is not None:
        others = others.exclude(claim=claim)
    return list(others.exclude(claim__state=RefundClaim.State.REJECTED).values_list("claim_id", flat=True))
