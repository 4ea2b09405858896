"""Fraud cases: one open case per customer, a guarded status pipeline with a
history row per change, notes and the fraudulent transactions.

The review queue, hunts and compensation all call ``case_open_or_join``, so a
customer reported by three routes still has one case. Every write locks the case
row and writes its ``CaseEvent`` and ``StaffAction`` in the same transaction.

Pages submit a one-time ``form_token`` with notes and manual openings: a second
submission of the same form (a double click, a reload) finds the token in the
case's history and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from wallet.errors import Refused
from wallet.models import AccountFreeze, Entry, Payment, TopUp, TransactionReport, Transfer, User, normalize_email

from ..models import Case, CaseEvent, CaseTransaction, Hunt
from ..selectors.cases import case_transfer_lookup
from .audit import staff_action_record
from .freezes import account_freeze

CLOSING_STATUSES = ("closed", "not_fraud")


class CaseRefused(Refused):
    """A case change that is not allowed; the message says why to a person."""

    class Code(StrEnum):
        ALREADY_ADDED = "already_added"
        ALREADY_FROZEN = "already_frozen"
        ALREADY_SAVED = "already_saved"
        EMPTY_NOTE = "empty_note"
        FOREIGN_TRANSACTION = "foreign_transaction"
        MOVED_MEANWHILE = "moved_meanwhile"
        NO_SUMMARY = "no_summary"
        NOT_ALLOWED = "not_allowed"
        OTHER_OPEN = "other_open"
        STAFF_ACCOUNT = "staff_account"
        UNKNOWN_CUSTOMER = "unknown_customer"
        UNKNOWN_SOURCE = "unknown_source"
        UNKNOWN_STATUS = "unknown_status"
        UNKNOWN_TRANSACTION = "unknown_transaction"


def _event(case: Case, *, actor: User | None, kind: str, note: str = "", detail: dict[str, object] | None = None) -> CaseEvent:
    return CaseEvent.objects.create(
        case=case, actor=actor, kind=kind, from_status=case.status, to_status=case.status, detail=detail or {}, note=note
    )


def _token_used(customer_id: int, form_token: str) -> Case | None:
    """The case whose history already holds this form submission, if any."""
    if not form_token:
        return None
    event = CaseEvent.objects.filter(case__customer_id=customer_id, detail__form=form_token).select_related("case").first()
    return event.case if event is not None else None


def case_open_or_join(
    *,
    customer: User,
    source: str,
    acting_user: User | None,
    summary: str = "",
    hunt: Hunt | None = None,
    transfers: Iterable[Transfer] = (),
    ip: str | None = None,
    form_token: str = "",
) -> tuple[Case, bool]:
    """The customer's open case, opened now if there is none; the transfers are added to it.

    Returns ``(case, opened)``. Two callers racing for the same customer get the
    same case: the partial unique index ``case_one_open_per_customer`` lets only
    one insert win and the loser joins it. A ``form_token`` already in the
    customer's case history returns that case and changes nothing.
    """
    if customer.is_staff:
        raise CaseRefused(CaseRefused.Code.STAFF_ACCOUNT, gettext("Cases are for customer accounts only."))
    if source not in Case.Source.values:
        raise CaseRefused(CaseRefused.Code.UNKNOWN_SOURCE, gettext("There is no such case source."))
    summary = summary.strip()
    with transaction.atomic():
        case = Case.objects.select_for_update().filter(customer=customer, status__in=Case.OPEN_STATUSES).first()
        opened = False
        if case is None:
            try:
                with transaction.atomic():
                    case = Case.objects.create(customer=customer, source=source, summary=summary, hunt=hunt, opened_by=acting_user)
                opened = True
            except IntegrityError:
                case = Case.objects.select_for_update().get(customer=customer, status__in=Case.OPEN_STATUSES)
        if not opened:
            earlier = _token_used(customer.pk, form_token)
            if earlier is not None:
                return earlier, False
        detail: dict[str, object] = {"source": source, "hunt": hunt.pk if hunt else None}
        if form_token:
            detail["form"] = form_token
        if opened:
            CaseEvent.objects.create(case=case, actor=acting_user, kind="opened", to_status=case.status, detail=detail, note=summary)
            staff_action_record(
                acting_user=acting_user, action="case.open", target=case, after={"source": source, "customer": customer.email}, ip=ip
            )
        else:
            _event(case, actor=acting_user, kind="joined", detail=detail, note=summary)
        case_transactions_add(case=case, transfers=transfers, acting_user=acting_user)
    return case, opened


def _describe(transfer: Transfer) -> tuple[str, TopUp | None, Payment | None, int]:
    topup = TopUp.objects.filter(transfer=transfer).first() or TopUp.objects.filter(release_transfer=transfer).first()
    if topup is not None:
        return CaseTransaction.Kind.TOPUP, topup, None, topup.amount_yen
    payment = Payment.objects.filter(transfer=transfer).first()
    if payment is not None:
        return CaseTransaction.Kind.PAYMENT, None, payment, payment.amount_yen
    amount = max((entry.amount_yen for entry in transfer.entries.all()), default=0)
    return CaseTransaction.Kind.OTHER, None, None, amount


def _belongs_to(customer_id: int, topup: TopUp | None, payment: Payment | None, transfer: Transfer) -> bool:
    if topup is not None:
        return topup.user_id == customer_id
    if payment is not None:
        return payment.user_id == customer_id
    return Entry.objects.filter(transfer=transfer, account__owner_id=customer_id).exists()


def case_transactions_add(*, case: Case, transfers: Iterable[Transfer], acting_user: User | None) -> int:
    """Add the customer's transfers to the case; ones already in it are skipped. Returns how many were added."""
    added = 0
    with transaction.atomic():
        for transfer in transfers:
            kind, topup, payment, amount = _describe(transfer)
            if not _belongs_to(case.customer_id, topup, payment, transfer):
                raise CaseRefused(CaseRefused.Code.FOREIGN_TRANSACTION, gettext("That transaction is not this customer's."))
            _row, created = CaseTransaction.objects.get_or_create(
                case=case,
                transfer=transfer,
                defaults={
                    "kind": kind,
                    "topup": topup,
                    "payment": payment,
                    "amount_yen": amount,
                    "occurred_at": transfer.created_at,
                    "added_by": acting_user,
                },
            )
            if created:
                added += 1
        if added:
            _event(case, actor=acting_user, kind="transactions_added", detail={"count": added})
            Case.objects.filter(pk=case.pk).update(updated_at=timezone.now())
    return added


def case_transaction_add_by_reference(*, case: Case, reference: str, acting_user: User, ip: str | None = None) -> CaseTransaction:
    """Add one of the customer's transactions, named by a transfer id or a public id (of the
    transfer, top-up or payment). Adding one already in the case is refused, so a double click does nothing."""
    transfer = case_transfer_lookup(customer=case.customer, reference=reference)
    if transfer is None:
        raise CaseRefused(CaseRefused.Code.UNKNOWN_TRANSACTION, gettext("No transaction of this customer has that id."))
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        if CaseTransaction.objects.filter(case=locked, transfer=transfer).exists():
            raise CaseRefused(CaseRefused.Code.ALREADY_ADDED, gettext("That transaction is already in this case."))
        case_transactions_add(case=locked, transfers=[transfer], acting_user=acting_user)
        row = CaseTransaction.objects.get(case=locked, transfer=transfer)
        staff_action_record(
            acting_user=acting_user,
            action="case.transaction_add",
            target=locked,
            after={"transfer": str(transfer.public_id), "kind": row.kind, "amount_yen": row.amount_yen},
            ip=ip,
        )
    return row


def case_open_manual(*, email: str, summary: str, acting_user: User, ip: str | None = None, form_token: str = "") -> tuple[Case, bool]:
    """Open (or join) the case of the customer with this email address, from the cases page."""
    customer = User.objects.filter(email=normalize_email(email), is_staff=False).first()
    if customer is None:
        raise CaseRefused(CaseRefused.Code.UNKNOWN_CUSTOMER, gettext("No customer has that email address."))
    if not summary.strip():
        raise CaseRefused(CaseRefused.Code.NO_SUMMARY, gettext("Say why you are opening this case."))
    return case_open_or_join(
        customer=customer, source=Case.Source.MANUAL, acting_user=acting_user, summary=summary, ip=ip, form_token=form_token
    )


def case_status_set(
    *, case: Case, status: str, acting_user: User, note: str = "", ip: str | None = None, expected_from: str | None = None
) -> Case:
    """Move the case along its pipeline (``Case.TRANSITIONS``); other moves are refused.

    ``expected_from`` is the status the person saw: if the case moved meanwhile
    (another analyst, or the same click twice) nothing changes. Closing a case
    also closes the customer's reports of its transactions that it was working.
    """
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        if status not in Case.Status.values:
            raise CaseRefused(CaseRefused.Code.UNKNOWN_STATUS, gettext("There is no such case status."))
        if expected_from is not None and locked.status != expected_from:
            raise CaseRefused(
                CaseRefused.Code.MOVED_MEANWHILE,
                gettext("This case is already “%(status)s”. Nothing was changed.") % {"status": locked.get_status_display()},
            )
        if not locked.can_move_to(status):
            raise CaseRefused(
                CaseRefused.Code.NOT_ALLOWED,
                gettext("A case that is “%(from)s” cannot become “%(to)s”.")
                % {"from": locked.get_status_display(), "to": Case.Status(status).label},
            )
        if status in Case.OPEN_STATUSES and not locked.is_open:
            other = Case.objects.filter(customer_id=locked.customer_id, status__in=Case.OPEN_STATUSES).exclude(pk=locked.pk)
            if other.exists():
                raise CaseRefused(CaseRefused.Code.OTHER_OPEN, gettext("This customer already has another open case."))
        previous = locked.status
        locked.status = status
        locked.updated_at = timezone.now()
        locked.save(update_fields=["status", "updated_at"])
        closed_reports = 0
        if status in CLOSING_STATUSES:
            closed_reports = TransactionReport.objects.filter(
                user_id=locked.customer_id,
                transfer_id__in=CaseTransaction.objects.filter(case=locked).values("transfer_id"),
                status=TransactionReport.Status.IN_REVIEW,
            ).update(status=TransactionReport.Status.CLOSED)
        CaseEvent.objects.create(
            case=locked,
            actor=acting_user,
            kind="status",
            from_status=previous,
            to_status=status,
            note=note.strip(),
            detail={"reports_closed": closed_reports} if closed_reports else {},
        )
        staff_action_record(
            acting_user=acting_user,
            action="case.status",
            target=locked,
            before={"status": previous},
            after={"status": status},
            reason=note,
            ip=ip,
        )
    return locked


def case_note_add(*, case: Case, acting_user: User, note: str, form_token: str = "", ip: str | None = None) -> CaseEvent:
    """Add a note to the case's history. The same ``form_token`` twice is refused."""
    note = note.strip()
    if not note:
        raise CaseRefused(CaseRefused.Code.EMPTY_NOTE, gettext("Write a note first."))
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        if form_token and CaseEvent.objects.filter(case=locked, detail__form=form_token).exists():
            raise CaseRefused(CaseRefused.Code.ALREADY_SAVED, gettext("This note was already saved."))
        event = _event(locked, actor=acting_user, kind="note", note=note, detail={"form": form_token} if form_token else None)
        Case.objects.filter(pk=locked.pk).update(updated_at=timezone.now())
        staff_action_record(acting_user=acting_user, action="case.note", target=locked, after={"event": event.pk}, ip=ip)
    return event


def case_customer_freeze(*, case: Case, scope: str, reason: str, acting_user: User, ip: str | None = None) -> AccountFreeze:
    """Freeze the case's customer from the case page and note it in the case's history.

    Refused when an active staff freeze already covers that scope, so a second
    click does not stack a second freeze. ``account_freeze`` checks the
    permission, the reason, ends the customer's sessions and tokens and audits.
    """
    with transaction.atomic():
        locked = Case.objects.select_for_update().select_related("customer").get(pk=case.pk)
        # Same order as account_freeze: the customer row, then its freezes.
        User.objects.select_for_update().filter(pk=locked.customer_id).first()
        covering = AccountFreeze.objects.active().filter(
            user_id=locked.customer_id, source=AccountFreeze.Source.STAFF, scope__in=[scope, AccountFreeze.Scope.ALL]
        )
        existing = covering.first()
        if existing is not None:
            raise CaseRefused(
                CaseRefused.Code.ALREADY_FROZEN,
                gettext("This account is already frozen (%(scope)s) since %(when)s. Nothing was changed.")
                % {"scope": existing.get_scope_display(), "when": timezone.localtime(existing.created_at).strftime("%Y-%m-%d %H:%M")},
            )
        freeze = account_freeze(user=locked.customer, scope=scope, reason=reason, acting_user=acting_user, ip=ip)
        _event(locked, actor=acting_user, kind="freeze", note=reason.strip(), detail={"freeze": freeze.pk, "scope": scope})
        Case.objects.filter(pk=locked.pk).update(updated_at=timezone.now())
    return freeze
