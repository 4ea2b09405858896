"""What an analyst does with an item of the review queue: approve it (a held
top-up is released), reject and refund a held top-up, mark it as fraud (the
customer's case is opened or joined), or freeze the customer.

Each act locks the queue item first and checks it is still waiting, so a
second click, or a colleague acting on the same row, is told who already
worked it and changes nothing. The item, the money and the audit row change in
one transaction. Lock order: the item, then the top-up, then the case.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from wallet.errors import Refused
from wallet.models import AccountFreeze, RiskDecision, RiskOutcome, TopUp, TransactionReport, Transfer, User
from wallet.services.ledger import MoneyError
from wallet.services.topups import topup_reject, topup_release

from ..models import Case, HuntHit, StaffAction
from .audit import staff_action_record
from .cases import CaseRefused, case_open_or_join
from .freezes import FreezeRefused, account_freeze

WORK_PERMISSION = "backoffice.work_reviewqueue"
ITEM_KINDS = ("decision", "report", "hit")
ACTIONS = ("approve", "reject", "fraud", "freeze")


class ReviewRefused(Refused):
    """The act cannot be done; ``code`` says why, the message says it to a person."""

    class Code(StrEnum):
        ALREADY_FROZEN = "already_frozen"
        ALREADY_WORKED = "already_worked"
        NO_CUSTOMER = "no_customer"
        NO_REASON = "no_reason"
        NOT_ALLOWED = "not_allowed"
        NOT_HELD = "not_held"
        REJECT_REFUSED = "reject_refused"
        RELEASE_REFUSED = "release_refused"
        UNKNOWN_ACTION = "unknown_action"
        UNKNOWN_ITEM = "unknown_item"


@dataclass(frozen=True)
class ReviewResult:
    """What happened, in words for the analyst, and the case or freeze it produced."""

    message: str
    case: Case | None = None
    freeze: AccountFreeze | None = None


Item = RiskDecision | TransactionReport | HuntHit


def _allowed(acting_user: User) -> None:
    if not acting_user.has_perm(WORK_PERMISSION):
        raise ReviewRefused(ReviewRefused.Code.NOT_ALLOWED, gettext("You are not allowed to work the review queue."))


def _locked_item(kind: str, item_id: int) -> Item:
    model: type[Item]
    if kind == "decision":
        model = RiskDecision
    elif kind == "report":
        model = TransactionReport
    elif kind == "hit":
        model = HuntHit
    else:
        raise ReviewRefused(ReviewRefused.Code.UNKNOWN_ITEM, gettext("There is no such item in the review queue."))
    item = model.objects.select_for_update().filter(pk=item_id).first()  # type: ignore[attr-defined]
    if item is None or (isinstance(item, RiskDecision) and item.outcome != RiskOutcome.REVIEW):
        raise ReviewRefused(ReviewRefused.Code.UNKNOWN_ITEM, gettext("There is no such item in the review queue."))
    return item  # type: ignore[no-any-return]


def _already_worked(item: Item) -> ReviewRefused:
    """The refusal for an item someone already worked, naming who and when if the audit log knows."""
    last = (
        StaffAction.objects.filter(target_type=item._meta.label_lower, target_id=str(item.pk), action__startswith="review.")
        .select_related("actor")
        .order_by("-id")
        .first()
    )
    if last is None:
        return ReviewRefused(ReviewRefused.Code.ALREADY_WORKED, gettext("This item was already worked. Nothing was changed."))
    return ReviewRefused(
        ReviewRefused.Code.ALREADY_WORKED,
        gettext("Already worked by %(who)s at %(when)s. Nothing was changed.")
        % {
            "who": last.actor.email if last.actor else gettext("The system"),
            "when": timezone.localtime(last.created_at).strftime("%Y-%m-%d %H:%M:%S"),
        },
    )


def _waiting(item: Item) -> bool:
    if isinstance(item, RiskDecision):
        return item.reviewed_at is None
    if isinstance(item, TransactionReport):
        return item.status == TransactionReport.Status.OPEN
    return item.reviewed_at is None and item.case_id is None


def _customer(item: Item) -> User | None:
    if isinstance(item, HuntHit):
        return item.customer
    return item.user


def _held_topup(decision: RiskDecision) -> TopUp | None:
    return TopUp.objects.filter(risk_decision=decision, status=TopUp.Status.HELD).first()


def _transfers(item: Item) -> list[Transfer]:
    if isinstance(item, RiskDecision):
        topup = TopUp.objects.filter(risk_decision=item, transfer__isnull=False).select_related("transfer").first()
        return [topup.transfer] if topup is not None and topup.transfer is not None else []
    if isinstance(item, TransactionReport):
        return [item.transfer]
    return list(Transfer.objects.filter(pk__in=[int(pk) for pk in item.transfer_ids if str(pk).isdigit()]).order_by("pk"))


def _mark_done(item: Item, *, case: Case | None = None, report_status: str = TransactionReport.Status.CLOSED) -> None:
    now = timezone.now()
    if isinstance(item, RiskDecision):
        RiskDecision.objects.filter(pk=item.pk).update(reviewed_at=now)
    elif isinstance(item, TransactionReport):
        TransactionReport.objects.filter(pk=item.pk).update(status=report_status)
    else:
        HuntHit.objects.filter(pk=item.pk).update(reviewed_at=now, case=case)


def _summary(item: Item) -> dict[str, Any]:
    customer = _customer(item)
    return {"customer": customer.email if customer else "", "item": f"{item._meta.model_name}:{item.pk}"}


def review_approve(*, kind: str, item_id: int, acting_user: User, note: str = "", ip: str | None = None) -> ReviewResult:
    """Not fraud: release a held top-up to the wallet, close a report, dismiss a hunt hit, or mark a decision reviewed."""
    _allowed(acting_user)
    with transaction.atomic():
        item = _locked_item(kind, item_id)
        if not _waiting(item):
            raise _already_worked(item)
        released: TopUp | None = None
        if isinstance(item, RiskDecision):
            held = _held_topup(item)
            if held is not None:
                try:
                    released = topup_release(topup=held, acting_user=acting_user)
                except MoneyError as exc:
                    raise ReviewRefused(
                        ReviewRefused.Code.RELEASE_REFUSED, gettext("The top-up was not released: %(why)s") % {"why": exc.message}
                    ) from exc
        _mark_done(item)
        staff_action_record(
            acting_user=acting_user,
            action="review.approve",
            target=item,
            after={**_summary(item), "released_topup": released.pk if released else None},
            reason=note.strip(),
            ip=ip,
        )
    if released is not None:
        return ReviewResult(gettext("Approved: ¥%(amount)s was added to the customer's wallet.") % {"amount": f"{released.amount_yen:,}"})
    if isinstance(item, TransactionReport):
        return ReviewResult(gettext("The report was closed as not fraud."))
    if isinstance(item, HuntHit):
        return ReviewResult(gettext("The hunt hit was dismissed as not fraud."))
    return ReviewResult(gettext("Approved and marked reviewed."))


def _reject_held(held: TopUp, *, acting_user: User, reason: str) -> TopUp:
    try:
        return topup_reject(topup=held, acting_user=acting_user, reason=reason)
    except MoneyError as exc:
        raise ReviewRefused(
            ReviewRefused.Code.REJECT_REFUSED, gettext("The top-up was not rejected: %(why)s") % {"why": exc.message}
        ) from exc


def _reject_message(topup: TopUp) -> str:
    amount = f"{topup.amount_yen:,}"
    if topup.card_id is not None:
        return gettext("Rejected: ¥%(amount)s was refunded to the customer's card.") % {"amount": amount}
    return gettext("Rejected: the ¥%(amount)s cash is kept in refund payable for the customer to claim.") % {"amount": amount}


def review_reject(*, kind: str, item_id: int, acting_user: User, reason: str, ip: str | None = None) -> ReviewResult:
    """Reject a held top-up and send the money back (to the card, or owed for cash)."""
    _allowed(acting_user)
    reason = reason.strip()
    if not reason:
        raise ReviewRefused(ReviewRefused.Code.NO_REASON, gettext("A reason is required."))
    with transaction.atomic():
        item = _locked_item(kind, item_id)
        if not _waiting(item):
            raise _already_worked(item)
        held = _held_topup(item) if isinstance(item, RiskDecision) else None
        if held is None:
            raise ReviewRefused(ReviewRefused.Code.NOT_HELD, gettext("Only a held top-up can be rejected and refunded."))
        rejected = _reject_held(held, acting_user=acting_user, reason=reason)
        _mark_done(item)
        staff_action_record(
            acting_user=acting_user,
            action="review.reject",
            target=item,
            after={**_summary(item), "topup": rejected.pk, "outcome": rejected.failure_code},
            reason=reason,
            ip=ip,
        )
    return ReviewResult(_reject_message(rejected))


def review_mark_fraud(*, kind: str, item_id: int, acting_user: User, reason: str, ip: str | None = None) -> ReviewResult:
    """Fraud: open or join the customer's case with the item's transactions and mark the item worked.

    A held top-up marked as fraud is also rejected and refunded: the money must
    not stay held with nobody left to decide on it. A customer's report goes
    "in review" while the case works it, and is closed when the case closes.
    """
    _allowed(acting_user)
    reason = reason.strip()
    if not reason:
        raise ReviewRefused(ReviewRefused.Code.NO_REASON, gettext("A reason is required."))
    with transaction.atomic():
        item = _locked_item(kind, item_id)
        if not _waiting(item):
            raise _already_worked(item)
        customer = _customer(item)
        if customer is None:
            raise ReviewRefused(ReviewRefused.Code.NO_CUSTOMER, gettext("This item has no customer to open a case for."))
        rejected: TopUp | None = None
        if isinstance(item, RiskDecision):
            held = _held_topup(item)
            if held is not None:
                rejected = _reject_held(held, acting_user=acting_user, reason=reason)
        source = Case.Source.REVIEW
        if isinstance(item, TransactionReport):
            source = Case.Source.REPORT
        elif isinstance(item, HuntHit):
            source = Case.Source.HUNT
        try:
            case, opened = case_open_or_join(
                customer=customer,
                source=source,
                acting_user=acting_user,
                summary=reason,
                hunt=item.hunt if isinstance(item, HuntHit) else None,
                transfers=_transfers(item),
                ip=ip,
            )
        except CaseRefused as exc:
            raise ReviewRefused(exc.code, exc.message) from exc
        _mark_done(item, case=case, report_status=TransactionReport.Status.IN_REVIEW)
        staff_action_record(
            acting_user=acting_user,
            action="review.fraud",
            target=item,
            after={**_summary(item), "case": case.pk, "case_opened": opened, "rejected_topup": rejected.pk if rejected else None},
            reason=reason,
            ip=ip,
        )
    words = gettext("Marked as fraud: case #%(case)s opened.") if opened else gettext("Marked as fraud: added to open case #%(case)s.")
    message = words % {"case": case.pk}
    if rejected is not None:
        message = f"{message} {_reject_message(rejected)}"
    return ReviewResult(message, case=case)


def review_freeze(*, kind: str, item_id: int, acting_user: User, reason: str, ip: str | None = None) -> ReviewResult:
    """Freeze everything on the item's customer: money stops, sessions and API tokens end.

    The item stays in the queue to be decided. A customer already frozen by
    staff for everything is not frozen twice.
    """
    _allowed(acting_user)
    with transaction.atomic():
        item = _locked_item(kind, item_id)
        customer = _customer(item)
        if customer is None:
            raise ReviewRefused(ReviewRefused.Code.NO_CUSTOMER, gettext("This item has no customer to freeze."))
        # Same order as account_freeze: the customer row first, then their freezes.
        User.objects.select_for_update().filter(pk=customer.pk).first()
        existing = (
            AccountFreeze.objects.active()
            .filter(user=customer, source=AccountFreeze.Source.STAFF, scope=AccountFreeze.Scope.ALL)
            .select_related("set_by")
            .first()
        )
        if existing is not None:
            raise ReviewRefused(
                ReviewRefused.Code.ALREADY_FROZEN,
                gettext("Already frozen by %(who)s at %(when)s. Nothing was changed.")
                % {
                    "who": existing.set_by.email if existing.set_by else gettext("The system"),
                    "when": timezone.localtime(existing.created_at).strftime("%Y-%m-%d %H:%M:%S"),
                },
            )
        try:
            freeze = account_freeze(user=customer, scope=AccountFreeze.Scope.ALL, reason=reason, acting_user=acting_user, ip=ip)
        except FreezeRefused as exc:
            raise ReviewRefused(exc.code, exc.message) from exc
    return ReviewResult(gettext("Frozen. The customer's sessions and API tokens have ended."), freeze=freeze)


def review_act(*, kind: str, item_id: int, action: str, acting_user: User, reason: str = "", ip: str | None = None) -> ReviewResult:
    """One of ``ACTIONS`` on one queue item (what the queue page's buttons post)."""
    if action == "approve":
        return review_approve(kind=kind, item_id=item_id, acting_user=acting_user, note=reason, ip=ip)
    if action == "reject":
        return review_reject(kind=kind, item_id=item_id, acting_user=acting_user, reason=reason, ip=ip)
    if action == "fraud":
        return review_mark_fraud(kind=kind, item_id=item_id, acting_user=acting_user, reason=reason, ip=ip)
    if action == "freeze":
        return review_freeze(kind=kind, item_id=item_id, acting_user=acting_user, reason=reason, ip=ip)
    raise ReviewRefused(ReviewRefused.Code.UNKNOWN_ACTION, gettext("There is no such action."))
