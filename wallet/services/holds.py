"""A customer locking their own wallet, and reporting a transaction they do not recognise."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ..models import AccountFreeze, Entry, TransactionReport, Transfer, User
from .notifications import notification_enqueue


def wallet_lock(*, user: User, reason: str = "") -> AccountFreeze:
    """Stop every debit from this wallet at once. Locking twice keeps the first lock."""
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        existing = AccountFreeze.objects.active().filter(user=user, source=AccountFreeze.Source.CUSTOMER).first()
        if existing is not None:
            return existing
        freeze = AccountFreeze.objects.create(
            user=user,
            scope=AccountFreeze.Scope.DEBITS,
            source=AccountFreeze.Source.CUSTOMER,
            reason=reason.strip() or _("Locked by the customer."),
            set_by=user,
        )
        notification_enqueue(
            user=user, kind="wallet_locked", context={"when": timezone.localtime(freeze.created_at).strftime("%Y-%m-%d %H:%M")}
        )
    return freeze


def wallet_unlock(*, user: User) -> int:
    """Lift the customer's own locks (a staff freeze stays). Returns how many were lifted."""
    with transaction.atomic():
        lifted = (
            AccountFreeze.objects.active()
            .filter(user=user, source=AccountFreeze.Source.CUSTOMER)
            .update(lifted_at=timezone.now(), lifted_by=user)
        )
        if lifted:
            notification_enqueue(user=user, kind="wallet_unlocked", context={})
    return lifted


def transaction_report_create(*, user: User, transfer: Transfer, note: str, lock_wallet: bool) -> TransactionReport:
    """Record "I don't recognise this" for one of the customer's own transactions; optionally lock the wallet."""
    if not Entry.objects.filter(transfer=transfer, account__owner=user).exists():
        raise Transfer.DoesNotExist()
    with transaction.atomic():
        report, created = TransactionReport.objects.get_or_create(
            user=user, transfer=transfer, defaults={"note": note.strip()[:2000], "wallet_locked": lock_wallet}
        )
        if not created and note.strip():
            # Reports are evidence: a second submission adds to the note rather than replacing it.
            report.note = f"{report.note}\n---\n{note.strip()[:2000]}".strip()
            report.wallet_locked = report.wallet_locked or lock_wallet
            report.save(update_fields=["note", "wallet_locked"])
        if lock_wallet:
            wallet_lock(user=user, reason=_("Locked while reporting a transaction the customer does not recognise."))
    return report
