"""Reads of the wallet: balance, activity, receipts, top-ups, a terminal's payments."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from uuid import UUID

from django.db.models import Q, QuerySet
from django.utils import timezone

from ..models import AccountFreeze, Card, Entry, LedgerAccount, Payment, Terminal, TopUp, Transfer, User


def wallet_balance(user: User) -> int:
    balance = LedgerAccount.objects.filter(owner=user).values_list("balance_yen", flat=True).first()
    return int(balance or 0)


# The widest days a filter may name here: the forms and serializers refuse anything outside a sane window
# with a message (L04); this keeps the selector itself from overflowing on date.min / date.max.
_DAY_FIRST = date(1900, 1, 1)
_DAY_LAST = date(9000, 12, 31)


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(min(max(day, _DAY_FIRST), _DAY_LAST), time.min))


def activity_for(
    user: User,
    *,
    kind: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    search: str = "",
) -> QuerySet[Entry]:
    """The customer's wallet entries, newest first, with what explains each one."""
    entries = (
        Entry.objects.filter(account__owner=user)
        .select_related(
            "transfer",
            "transfer__payment__merchant",
            "transfer__payment_refund__payment__merchant",
            "transfer__topup__card",
            "transfer__topup__terminal__merchant",
            "transfer__released_topup__card",
        )
        .order_by("-id")
    )
    if kind:
        entries = entries.filter(transfer__kind=kind)
    if date_from:
        entries = entries.filter(created_at__gte=_day_start(date_from))
    if date_to:
        entries = entries.filter(created_at__lt=_day_start(date_to) + timedelta(days=1))
    if search:
        term = search.strip()
        entries = entries.filter(
            Q(transfer__description__icontains=term)
            | Q(transfer__payment__description__icontains=term)
            | Q(transfer__public_id__startswith=term.lower())
        )
    return entries


def transfer_for_customer(user: User, public_id: UUID | str) -> Transfer:
    """One of the customer's own transactions; ``Transfer.DoesNotExist`` for anyone else's (B08)."""
    return Transfer.objects.filter(public_id=public_id, entries__account__owner=user).distinct().get()


def entry_for_customer(user: User, public_id: UUID | str) -> Entry:
    return activity_for(user).filter(transfer__public_id=public_id).get()


def topups_pending_for(user: User) -> QuerySet[TopUp]:
    return (
        TopUp.objects.filter(user=user, status__in=[TopUp.Status.PENDING, TopUp.Status.HELD]).select_related("card").order_by("-created_at")
    )


def topups_for(user: User) -> QuerySet[TopUp]:
    return TopUp.objects.filter(user=user).select_related("card", "terminal", "transfer").order_by("-created_at")


def payments_for_terminal(terminal: Terminal) -> QuerySet[Payment]:
    """A terminal sees its merchant's payments and nobody else's (B08)."""
    return Payment.objects.filter(merchant_id=terminal.merchant_id).select_related("terminal", "transfer").order_by("-created_at")


def cards_active_for(user: User) -> QuerySet[Card]:
    """The customer's usable cards, oldest first."""
    return Card.objects.filter(user=user, status=Card.Status.ACTIVE).order_by("created_at", "id")


def wallet_locks(user: User) -> dict[str, bool]:
    """Which locks are on: the customer's own (they may lift it) and support's (they may not)."""
    active = list(AccountFreeze.objects.active().filter(user=user))
    return {
        "locked_by_you": any(f.source == AccountFreeze.Source.CUSTOMER for f in active),
        "locked_by_support": any(f.source == AccountFreeze.Source.STAFF for f in active),
        "debits_blocked": any(f.blocks_debits for f in active),
        "credits_blocked": any(f.blocks_credits for f in active),
    }
