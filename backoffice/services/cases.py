"""Fraud cases: one open case per customer, a guarded status pipeline with a
history row per change, notes and the fraudulent transactions.

The review queue, hunts and compensation all call ``case_open_or_join``, so a
customer reported by three routes still has one case. Every write locks the case
row and writes its ``CaseEvent`` and ``StaffAction`` in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from wallet.models import Payment, TopUp, Transfer, User

from ..models import Case, CaseEvent, CaseTransaction, Hunt
from .audit import staff_action_record


class CaseRefused(Exception):
    """A case change that is not allowed; the message says why to a person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _event(case: Case, *, actor: User | None, kind: str, note: str = "", detail: dict[str, object] | None = None) -> CaseEvent:
    return CaseEvent.objects.create(
        case=case, actor=actor, kind=kind, from_status=case.status, to_status=case.status, detail=detail or {}, note=note
    )


def case_open_or_join(
    *,
    customer: User,
    source: str,
    acting_user: User | None,
    summary: str = "",
    hunt: Hunt | None = None,
    transfers: Iterable[Transfer] = (),
    ip: str | None = None,
) -> tuple[Case, bool]:
    """The customer's open case, opened now if there is none; the transfers are added to it.

    Returns ``(case, opened)``. Two callers racing for the same customer get the
    same case: the partial unique index ``case_one_open_per_customer`` lets only
    one insert win and the loser joins it.
    """
    with transaction.atomic():
        case = Case.objects.select_for_update().filter(customer=customer, status__in=Case.OPEN_STATUSES).first()
        opened = False
        if case is None:
            try:
                with transaction.atomic():
                    case = Case.objects.create(customer=customer, source=source, summary=summary.strip(), hunt=hunt, opened_by=acting_user)
                opened = True
            except IntegrityError:
                case = Case.objects.select_for_update().get(customer=customer, status__in=Case.OPEN_STATUSES)
        if opened:
            CaseEvent.objects.create(
                case=case, actor=acting_user, kind="opened", to_status=case.status, detail={"source": source}, note=summary
            )
            staff_action_record(
                acting_user=acting_user, action="case.open", target=case, after={"source": source, "customer": customer.email}, ip=ip
            )
        else:
            _event(case, actor=acting_user, kind="joined", detail={"source": source, "hunt": hunt.pk if hunt else None}, note=summary)
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


def case_transactions_add(*, case: Case, transfers: Iterable[Transfer], acting_user: User | None) -> int:
    """Add the customer's transfers to the case; ones already in it are skipped. Returns how many were added."""
    added = 0
    with transaction.atomic():
        for transfer in transfers:
            kind, topup, payment, amount = _describe(transfer)
            if (topup is not None and topup.user_id != case.customer_id) or (payment is not None and payment.user_id != case.customer_id):
                raise CaseRefused("foreign_transaction", gettext("That transaction is not this customer's."))
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


def case_status_set(*, case: Case, status: str, acting_user: User, note: str = "", ip: str | None = None) -> Case:
    """Move the case along its pipeline (``Case.TRANSITIONS``); other moves are refused."""
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        if status not in Case.Status.values:
            raise CaseRefused("unknown_status", gettext("There is no such case status."))
        if not locked.can_move_to(status):
            raise CaseRefused(
                "not_allowed",
                gettext("A case that is “%(from)s” cannot become “%(to)s”.")
                % {"from": locked.get_status_display(), "to": Case.Status(status).label},
            )
        if status in Case.OPEN_STATUSES and not locked.is_open:
            other = Case.objects.filter(customer_id=locked.customer_id, status__in=Case.OPEN_STATUSES).exclude(pk=locked.pk)
            if other.exists():
                raise CaseRefused("other_open", gettext("This customer already has another open case."))
        previous = locked.status
        locked.status = status
        locked.updated_at = timezone.now()
        locked.save(update_fields=["status", "updated_at"])
        CaseEvent.objects.create(case=locked, actor=acting_user, kind="status", from_status=previous, to_status=status, note=note.strip())
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


def case_note_add(*, case: Case, acting_user: User, note: str) -> CaseEvent:
    note = note.strip()
    if not note:
        raise CaseRefused("empty_note", gettext("Write a note first."))
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        event = _event(locked, actor=acting_user, kind="note", note=note)
        Case.objects.filter(pk=locked.pk).update(updated_at=timezone.now())
    return event
