"""Refund claims: submission (the balance moves to refund_payable at once, so it
cannot be spent twice), the checks that send a claim to review, the guarded
state machine with a history row per change, staff review, corrections after a
returned payout, and late claims that only staff may file, with an approval.

Payee details are saved only when something vouches for them (B09, ``step_up``): on the
login route a fresh second factor, whatever the payout method."""

from __future__ import annotations

import secrets
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from backoffice.services.audit import staff_action_record
from wallet.field_length import fit
from wallet.models import LedgerAccount, Transfer, User
from wallet.services.ledger import Leg, system_account, transfer_post, wallet_locked_for
from wallet.services.notifications import notification_enqueue
from wallet.services.second_factor import user_has_second_factor
from wallet.services.switches import channel_check

from ..models import BankDetails, ClaimEvent, PostalDetails, RefundClaim, ShutdownProgramme, bank_account_fingerprint
from .checks import claim_hold_reasons, shared_account_claims
from .errors import RefundRefused
from .payee import CleanBankDetails, CleanPostalDetails
from .programme import programme_current
from .step_up import contact_proof_live, step_up_fresh, step_up_require

REVIEW_PERMISSION = "refunds.review_refundclaim"


def _new_number() -> str:
    # Ten random digits: unguessable enough that a number alone shows nothing (pages also need the owner).
    return f"R{secrets.randbelow(10**10):010d}"


def claim_event(
    claim: RefundClaim,
    *,
    kind: str,
    actor: User | None,
    from_state: str = "",
    to_state: str = "",
    note: str = "",
    detail: dict[str, Any] | None = None,
) -> ClaimEvent:
    return ClaimEvent.objects.create(
        claim=claim, kind=kind, actor=actor, from_state=from_state, to_state=to_state, note=note, detail=detail or {}
    )


def claim_state_set(
    *, claim: RefundClaim, to_state: str, actor: User | None, kind: str, note: str = "", detail: dict[str, Any] | None = None
) -> RefundClaim:
    """Move a claim along ``RefundClaim.TRANSITIONS``; the caller holds the claim's row lock."""
    if not claim.can_move_to(to_state):
        raise RefundRefused(
            RefundRefused.Code.BAD_TRANSITION,
            gettext("A claim that is “%(state)s” cannot become “%(to)s”.")
            % {"state": claim.get_state_display(), "to": RefundClaim.State(to_state).label},
        )
    from_state = claim.state
    claim.state = to_state
    claim.updated_at = timezone.now()
    if to_state == RefundClaim.State.PAID:
        claim.paid_at = claim.updated_at
    claim.save(update_fields=["state", "updated_at", "paid_at", "hold_reasons"])
    claim_event(claim, kind=kind, actor=actor, from_state=from_state, to_state=to_state, note=note, detail=detail)
    return claim


def _bank_details_add(claim: RefundClaim, details: CleanBankDetails) -> BankDetails:
    return BankDetails.objects.create(
        claim=claim,
        fingerprint=bank_account_fingerprint(
            bank_code=details.bank_code, branch_code=details.branch_code, account_number=details.account_number
        ),
        **asdict(details),
    )


def _postal_details_add(claim: RefundClaim, details: CleanPostalDetails) -> PostalDetails:
    return PostalDetails.objects.create(claim=claim, **asdict(details))


def _notify(claim: RefundClaim, kind: str, **extra: object) -> None:
    notification_enqueue(
        user=claim.customer,
        kind=kind,
        context={
            "claim_number": claim.number,
            "amount_yen": claim.amount_yen,
            "method": claim.method,
            "state": claim.state,
            **extra,
        },
    )


def _hold_others_sharing(bank_details: BankDetails, actor: User | None) -> None:
    """A second customer naming an account sends the first one's waiting claim to review too."""
    for other in RefundClaim.objects.select_for_update().filter(
        pk__in=shared_account_claims(bank_details=bank_details, claim=bank_details.claim), state=RefundClaim.State.APPROVED
    ):
        other.hold_reasons = sorted({*other.hold_reasons, "shared_account"})
        claim_state_set(
            claim=other, to_state=RefundClaim.State.REVIEW, actor=actor, kind="held", detail={"shared_with": bank_details.claim.number}
        )


def claim_submit(
    *,
    customer: User,
    route: str,
    method: str,
    confirmed_amount_yen: int,
    bank: CleanBankDetails | None = None,
    postal: CleanPostalDetails | None = None,
    stated_name: str = "",
    stated_birth_date: date | None = None,
    filed_by: User | None = None,
    ip: str | None = None,
    step_up_at: datetime | None = None,
) -> RefundClaim:
    """File a claim for the customer's whole balance. Raises ``RefundRefused`` and changes nothing when refused.

    On the login route the payee details need the time of a fresh step-up (``step_up_at``, B09);
    the contact route has its proof and is always reviewed, a staff-filed late claim its approval."""
    channel_check("refund.claims")
    if route == RefundClaim.Route.LOGIN:
        # A13: a logged-in holder claims only with an authenticator; one who has none uses the
        # no-login route, which proves the contacts on record and is always reviewed.
        if not user_has_second_factor(customer):
            raise RefundRefused(
                RefundRefused.Code.SECOND_FACTOR_REQUIRED, _("Set up an authenticator app before you claim, or claim without logging in.")
            )
        step_up_require(step_up_at)
    if (method == RefundClaim.Method.BANK and bank is None) or (method == RefundClaim.Method.POSTAL and postal is None):
        raise RefundRefused(RefundRefused.Code.DETAILS_MISSING, _("Give the details for the way you want to be paid."))
    if method not in RefundClaim.Method.values or route not in RefundClaim.Route.values:
        raise RefundRefused(RefundRefused.Code.INVALID, _("Choose bank transfer or cash at a Japan Post counter."))
    programme = programme_current()
    late = False
    if programme is None or programme.state == ShutdownProgramme.State.DRAFT or timezone.now() < programme.claims_open_at:
        raise RefundRefused(RefundRefused.Code.NOT_OPEN, _("Refund claims are not open."))
    if programme.claims_have_closed():
        if route != RefundClaim.Route.STAFF or filed_by is None:
            raise RefundRefused(
                RefundRefused.Code.DEADLINE_PASSED,
                _("The claim deadline has passed. Contact support: staff can file a late claim with an approval."),
            )
        late = True
    elif route == RefundClaim.Route.STAFF:
        raise RefundRefused(RefundRefused.Code.NOT_LATE, _("Before the deadline the customer files the claim themself."))
    with transaction.atomic():
        wallet = wallet_locked_for(customer)
        balance = wallet.balance_yen or 0
        existing = RefundClaim.objects.live_for(programme=programme, customer=customer).first()
        if existing is not None:
            raise RefundRefused(
                RefundRefused.Code.ALREADY_CLAIMED, gettext("You have already claimed (claim %(number)s).") % {"number": existing.number}
            )
        if balance <= 0:
            raise RefundRefused(RefundRefused.Code.NOTHING_TO_REFUND, _("This wallet has no balance to refund."))
        if balance != confirmed_amount_yen:
            raise RefundRefused(
                RefundRefused.Code.BALANCE_CHANGED, _("The balance changed since you confirmed it. Check the new amount and confirm again.")
            )
        claim = _claim_create(
            programme=programme,
            customer=customer,
            wallet=wallet,
            balance=balance,
            route=route,
            method=method,
            late=late,
            stated_name=stated_name,
            stated_birth_date=stated_birth_date,
            filed_by=filed_by,
        )
        bank_details = _bank_details_add(claim, bank) if bank is not None else None
        postal_details = _postal_details_add(claim, postal) if postal is not None and method == RefundClaim.Method.POSTAL else None
        reasons = claim_hold_reasons(customer=customer, route=route, bank_details=bank_details, claim=claim, postal_details=postal_details)
        if late:
            reasons.append("late")
        claim.hold_reasons = reasons
        claim.state = RefundClaim.State.REVIEW if reasons else RefundClaim.State.APPROVED
        claim.save(update_fields=["hold_reasons", "state"])
        claim_event(claim, kind="submitted", actor=filed_by or customer, to_state=claim.state, detail={"reasons": reasons, "route": route})
        if bank_details is not None:
            _hold_others_sharing(bank_details, filed_by)
        if filed_by is not None:
            staff_action_record(
                acting_user=filed_by, action="refund.claim_file_late", target=claim, after={"amount_yen": balance, "method": method}, ip=ip
            )
        _notify(claim, "refund_claim_received")
    return claim


def _claim_create(
    *,
    programme: ShutdownProgramme,
    customer: User,
    wallet: LedgerAccount,
    balance: int,
    route: str,
    method: str,
    late: bool,
    stated_name: str,
    stated_birth_date: date | None,
    filed_by: User | None,
) -> RefundClaim:
    transfer = transfer_post(
        kind=Transfer.Kind.REFUND_CLAIM,
        legs=[Leg(wallet, -balance), Leg(system_account("refund_payable"), balance)],
        idempotency_key=f"refund_claim:{programme.pk}:{customer.pk}:{secrets.token_hex(8)}",
        description=fit(Transfer, "description", f"Refund claim of the whole balance ({programme.title})"),
        acting_user=filed_by or customer,
        # A frozen wallet's money still moves to refund_payable: it is owed to the same holder and
        # held there for review, and can no longer be spent by whoever took the account over.
        honour_freezes=False,
    )
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return RefundClaim.objects.create(
                    number=_new_number(),
                    programme=programme,
                    customer=customer,
                    route=route,
                    method=method,
                    amount_yen=balance,
                    state=RefundClaim.State.REVIEW,
                    transfer=transfer,
                    stated_name=fit(RefundClaim, "stated_name", stated_name),
                    stated_birth_date=stated_birth_date,
                    late=late,
                    filed_by=filed_by,
                )
        except IntegrityError:
            if RefundClaim.objects.live_for(programme=programme, customer=customer).exists():
                raise RefundRefused(RefundRefused.Code.ALREADY_CLAIMED, _("You have already claimed.")) from None
    raise RuntimeError("could not draw a free claim number")


def claim_review_approve(*, claim: RefundClaim, acting_user: User, note: str = "", ip: str | None = None) -> RefundClaim:
    if not acting_user.has_perm(REVIEW_PERMISSION):
        raise RefundRefused(RefundRefused.Code.NOT_ALLOWED, _("You are not allowed to review refund claims."))
    with transaction.atomic():
        locked = RefundClaim.objects.select_for_update().get(pk=claim.pk)
        if locked.state != RefundClaim.State.REVIEW:
            raise RefundRefused(
                RefundRefused.Code.NOT_IN_REVIEW,
                gettext("This claim is no longer in review (%(state)s).") % {"state": locked.get_state_display()},
            )
        if "late" in locked.hold_reasons:
            raise RefundRefused(RefundRefused.Code.LATE_NEEDS_APPROVAL, _("A late claim is accepted only through its approval request."))
        before = list(locked.hold_reasons)
        locked.hold_reasons = []
        claim_state_set(
            claim=locked,
            to_state=RefundClaim.State.APPROVED,
            actor=acting_user,
            kind="review_approved",
            note=note,
            detail={"reasons": before},
        )
        staff_action_record(
            acting_user=acting_user,
            action="refund.claim_approve",
            target=locked,
            before={"state": "review", "reasons": before},
            after={"state": "approved"},
            reason=note,
            ip=ip,
        )
    return locked


def claim_review_reject(*, claim: RefundClaim, acting_user: User, note: str, ip: str | None = None) -> RefundClaim:
    """Reject a claim in review; its money goes back to the wallet, where a new claim can ask for it."""
    if not acting_user.has_perm(REVIEW_PERMISSION):
        raise RefundRefused(RefundRefused.Code.NOT_ALLOWED, _("You are not allowed to review refund claims."))
    if not note.strip():
        raise RefundRefused(RefundRefused.Code.NO_NOTE, _("Say why the claim is rejected; the customer is told."))
    with transaction.atomic():
        locked = RefundClaim.objects.select_for_update().select_related("customer").get(pk=claim.pk)
        if locked.state not in (RefundClaim.State.REVIEW, RefundClaim.State.APPROVED):
            raise RefundRefused(
                RefundRefused.Code.NOT_IN_REVIEW,
                gettext("This claim can no longer be rejected (%(state)s).") % {"state": locked.get_state_display()},
            )
        from_state = locked.state
        wallet = wallet_locked_for(locked.customer)
        transfer_post(
            kind=Transfer.Kind.REFUND_CLAIM_RETURN,
            legs=[Leg(system_account("refund_payable"), -locked.amount_yen), Leg(wallet, locked.amount_yen)],
            idempotency_key=f"refund_claim_return:{locked.pk}",
            description=f"Claim {locked.number} rejected: balance returned",
            acting_user=acting_user,
            honour_freezes=False,
        )
        claim_state_set(claim=locked, to_state=RefundClaim.State.REJECTED, actor=acting_user, kind="review_rejected", note=note)
        staff_action_record(
            acting_user=acting_user,
            action="refund.claim_reject",
            target=locked,
            before={"state": from_state},
            after={"state": "rejected"},
            reason=note,
            ip=ip,
        )
        _notify(locked, "refund_claim_rejected", note=note.strip())
    return locked


def claim_details_correct(
    *,
    claim: RefundClaim,
    customer: User,
    bank: CleanBankDetails | None = None,
    postal: CleanPostalDetails | None = None,
    step_up_at: datetime | None = None,
) -> RefundClaim:
    """New payee details for a claim whose payout the bank returned. The old details
    are kept (superseded); the next payout carries Zengin new-code 2.

    B09: a fresh step-up (``step_up_at``) vouches for the new details; without one only a complete
    contact proof of the holder does (the no-login route's ``contact_details_correct`` holds it locked)."""
    with transaction.atomic():
        locked = RefundClaim.objects.select_for_update().select_related("customer").get(pk=claim.pk)
        if locked.customer_id != customer.pk:
            raise RefundRefused(RefundRefused.Code.NOT_YOURS, _("This is not your claim."))
        if locked.state != RefundClaim.State.RETURNED:
            raise RefundRefused(RefundRefused.Code.NOT_RETURNED, _("Details can be changed only after the bank returned the payment."))
        if not step_up_fresh(step_up_at) and not contact_proof_live(locked.customer_id):
            step_up_require(step_up_at)
        now = timezone.now()
        bank_details = None
        postal_details = None
        if locked.method == RefundClaim.Method.BANK:
            if bank is None:
                raise RefundRefused(RefundRefused.Code.DETAILS_MISSING, _("Give the corrected bank account."))
            locked.bank_details.filter(superseded_at__isnull=True).update(superseded_at=now)
            bank_details = _bank_details_add(locked, bank)
        else:
            if postal is None:
                raise RefundRefused(RefundRefused.Code.DETAILS_MISSING, _("Give the corrected address."))
            locked.postal_details.filter(superseded_at__isnull=True).update(superseded_at=now)
            postal_details = _postal_details_add(locked, postal)
        reasons = claim_hold_reasons(
            customer=locked.customer, route=locked.route, bank_details=bank_details, claim=locked, postal_details=postal_details
        )
        reasons = [r for r in reasons if r != "contact_route"] if _was_reviewed(locked) else reasons
        locked.hold_reasons = sorted({*reasons, "corrected_after_return"}) if reasons else []
        claim_state_set(
            claim=locked,
            to_state=RefundClaim.State.REVIEW if reasons else RefundClaim.State.APPROVED,
            actor=customer,
            kind="details_corrected",
            detail={"reasons": reasons},
        )
        if bank_details is not None:
            _hold_others_sharing(bank_details, None)
    return locked


def _was_reviewed(claim: RefundClaim) -> bool:
    """A contact-route claim a person already approved need not be reviewed again for its route alone."""
    return claim.events.filter(kind__in=["review_approved", "late_claim_accepted"]).exists()


def claim_current_bank_details(claim: RefundClaim) -> BankDetails | None:
    return claim.bank_details.filter(superseded_at__isnull=True).first()


def claim_current_postal_details(claim: RefundClaim) -> PostalDetails | None:
    return claim.postal_details.filter(superseded_at__isnull=True).first()
