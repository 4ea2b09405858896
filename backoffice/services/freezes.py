"""Staff freezes of a customer's account (S03) and their lifting through an approval (B04).

A freeze stops money in its scope at once (every wallet money service honours
active freezes) and ends the customer's web sessions and API tokens in the same
transaction. A freeze of scope "all" also sets ``User.status`` to frozen, which
the login, the session middleware and the API token check already refuse, so the
customer cannot sign back in; a debits or credits freeze lets them sign in again
to see their wallet. The status returns to active when the last staff "all"
freeze is lifted (``account_unfreeze`` via an approval) or expires
(``freezes_expired_release``, run periodically).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from wallet.errors import Refused
from wallet.models import AccountFreeze, User
from wallet.services.sessions import credentials_revoke

from ..errors import ApprovalRefused
from ..models import Approval
from .audit import staff_action_record

FREEZE_PERMISSION = "wallet.add_accountfreeze"
UNFREEZE_REQUEST_PERMISSION = "wallet.change_accountfreeze"


class FreezeRefused(Refused):
    """The freeze cannot be set; ``code`` says why, the message says it to a person."""

    class Code(StrEnum):
        EXPIRY_PAST = "expiry_past"
        INVALID_SCOPE = "invalid_scope"
        NO_REASON = "no_reason"
        NOT_ALLOWED = "not_allowed"
        STAFF_ACCOUNT = "staff_account"


def _staff_all_freeze_remains(user: User, *, excluding: AccountFreeze | None = None) -> bool:
    remaining = AccountFreeze.objects.active().filter(user=user, source=AccountFreeze.Source.STAFF, scope=AccountFreeze.Scope.ALL)
    if excluding is not None:
        remaining = remaining.exclude(pk=excluding.pk)
    return remaining.exists()


def _freeze_summary(freeze: AccountFreeze) -> dict[str, Any]:
    return {
        "freeze": freeze.pk,
        "scope": freeze.scope,
        "expires_at": freeze.expires_at.isoformat() if freeze.expires_at else None,
    }


def account_freeze(
    *,
    user: User,
    scope: str,
    reason: str,
    expires_at: datetime | None = None,
    acting_user: User,
    ip: str | None = None,
) -> AccountFreeze:
    """Freeze ``user``'s wallet in ``scope`` and end every session and API token they hold, in one transaction."""
    reason = reason.strip()
    if not acting_user.has_perm(FREEZE_PERMISSION):
        raise FreezeRefused(FreezeRefused.Code.NOT_ALLOWED, gettext("You are not allowed to freeze accounts."))
    if scope not in AccountFreeze.Scope.values:
        raise FreezeRefused(FreezeRefused.Code.INVALID_SCOPE, gettext("Choose what the freeze stops."))
    if not reason:
        raise FreezeRefused(FreezeRefused.Code.NO_REASON, gettext("A reason is required."))
    if expires_at is not None and expires_at <= timezone.now():
        raise FreezeRefused(FreezeRefused.Code.EXPIRY_PAST, gettext("The end of the freeze must be in the future."))
    if user.is_staff:
        raise FreezeRefused(FreezeRefused.Code.STAFF_ACCOUNT, gettext("Only customer accounts can be frozen here."))
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        before_status = locked.status
        freeze = AccountFreeze.objects.create(
            user=locked,
            scope=scope,
            source=AccountFreeze.Source.STAFF,
            reason=reason,
            set_by=acting_user,
            expires_at=expires_at,
        )
        if scope == AccountFreeze.Scope.ALL and locked.status == User.Status.ACTIVE:
            locked.status = User.Status.FROZEN
            locked.save(update_fields=["status"])
        # S03: sessions and tokens end in this transaction, not on their next request.
        credentials_revoke(user=locked)
        user.status = locked.status
        user.credentials_changed_at = locked.credentials_changed_at
        staff_action_record(
            acting_user=acting_user,
            action="account.freeze",
            target=freeze,
            before={"status": before_status},
            after={**_freeze_summary(freeze), "customer": locked.email, "status": locked.status},
            reason=reason,
            ip=ip,
        )
    return freeze


def account_unfreeze_request(*, freeze: AccountFreeze, reason: str, maker: User, ip: str | None = None) -> Approval:
    """Ask a second person to lift a staff freeze (B04). Raises ``ApprovalRefused``."""
    # Imported here: approvals imports this module for its executor.
    from .approvals import approval_request

    return approval_request(kind=Approval.Kind.UNFREEZE, payload={"freeze_id": freeze.pk}, reason=reason, maker=maker, ip=ip)


def unfreeze_validate(payload: dict[str, Any]) -> None:
    """Approval executor check: the payload names one active staff freeze."""
    freeze_id = payload.get("freeze_id")
    if set(payload) != {"freeze_id"} or not isinstance(freeze_id, int) or isinstance(freeze_id, bool):
        raise ApprovalRefused(ApprovalRefused.Code.INVALID_PAYLOAD, gettext("The request must name one freeze."))
    freeze = AccountFreeze.objects.filter(pk=freeze_id).first()
    if freeze is None or freeze.source != AccountFreeze.Source.STAFF:
        raise ApprovalRefused(ApprovalRefused.Code.INVALID_PAYLOAD, gettext("There is no such staff freeze."))
    if not AccountFreeze.objects.active().filter(pk=freeze.pk).exists():
        raise ApprovalRefused(ApprovalRefused.Code.NOT_ACTIVE, gettext("This freeze has already ended."))


def unfreeze_execute(approval: Approval, checker: User, ip: str | None) -> None:
    """Approval executor: lift the freeze inside the approval's transaction, restore the status, audit."""
    freeze_id = approval.payload["freeze_id"]
    user_id = AccountFreeze.objects.values_list("user_id", flat=True).get(pk=freeze_id)
    # Same order as account_freeze: the customer, then the freeze.
    user = User.objects.select_for_update().get(pk=user_id)
    freeze = AccountFreeze.objects.select_for_update().get(pk=freeze_id)
    if not AccountFreeze.objects.active().filter(pk=freeze.pk).exists():
        raise ApprovalRefused(ApprovalRefused.Code.NOT_ACTIVE, gettext("This freeze has already ended."))
    freeze.lifted_at = timezone.now()
    freeze.lifted_by = checker
    freeze.save(update_fields=["lifted_at", "lifted_by"])
    before_status = user.status
    if user.status == User.Status.FROZEN and not _staff_all_freeze_remains(user):
        user.status = User.Status.ACTIVE
        user.save(update_fields=["status"])
    staff_action_record(
        acting_user=checker,
        action="account.unfreeze",
        target=freeze,
        before={"status": before_status, **_freeze_summary(freeze)},
        after={"status": user.status, "approval": approval.pk, "maker": approval.maker.email, "customer": user.email},
        reason=approval.reason,
        ip=ip,
    )


def freezes_expired_release() -> int:
    """Give back sign-in to customers whose every staff "all" freeze has expired.

    Money needs nothing (an expired freeze simply stops applying); only the status
    set by ``account_freeze`` must follow. Returns how many customers were reactivated.
    """
    now = timezone.now()
    candidates = (
        User.objects.filter(
            status=User.Status.FROZEN,
            freezes__source=AccountFreeze.Source.STAFF,
            freezes__scope=AccountFreeze.Scope.ALL,
            freezes__lifted_at__isnull=True,
            freezes__expires_at__lte=now,
        )
        .values_list("pk", flat=True)
        .distinct()
    )
    released = 0
    for user_id in list(candidates):
        with transaction.atomic():
            user = User.objects.select_for_update().get(pk=user_id)
            if user.status != User.Status.FROZEN or _staff_all_freeze_remains(user):
                continue
            user.status = User.Status.ACTIVE
            user.save(update_fields=["status"])
            staff_action_record(
                acting_user=None,
                action="account.freeze_expired",
                target=user,
                before={"status": User.Status.FROZEN},
                after={"status": User.Status.ACTIVE},
            )
            released += 1
    return released
