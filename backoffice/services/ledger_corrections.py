"""Ledger corrections, always with a second person (B04), always as new transfers (B07).

Two kinds, and nothing else:

- ``reverse``: post the reversal of one transfer (``transfer_reverse``: every
  entry negated, at most once per transfer);
- ``adjust``: move ``amount_yen`` between one customer's wallet and one system
  account (positive credits the wallet, negative debits it).

No entry is ever edited or deleted (the database refuses it anyway). The
request only queues an approval; the correction is posted when a different
person with ``check_approval`` approves, under the idempotency key
``ledger-correction:<approval id>``. A correction that would take a wallet
below zero is refused then, and the approval stays pending.

Requesting needs ``wallet.add_transfer`` (the model permission for posting a
ledger transfer); no role holds it until it is granted explicitly.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext

from wallet.models import LedgerAccount, Transfer, User
from wallet.services.ledger import Leg, MoneyError, transfer_post, transfer_reverse, wallet_account_for

from ..errors import ApprovalRefused
from ..models import Approval
from .audit import staff_action_record

LEDGER_CORRECTION_REQUEST_PERMISSION = "wallet.add_transfer"
# A typo guard: no single adjustment moves more than this; larger ones are several approvals.
MAX_ADJUSTMENT_YEN = 10_000_000
# Compensation has its own records and report; reversing its posting here would make them lie.
NOT_REVERSIBLE_HERE = (Transfer.Kind.REVERSAL, Transfer.Kind.COMPENSATION)


def ledger_correction_request(
    *,
    transfer: Transfer | None = None,
    customer: User | None = None,
    account_code: str = "",
    amount_yen: int = 0,
    reason: str,
    acting_user: User,
    ip: str | None = None,
) -> Approval:
    """Ask a second person to reverse ``transfer``, or to post an adjustment of
    ``amount_yen`` between ``customer``'s wallet and the system account ``account_code``.
    Raises ``ApprovalRefused``; nothing is posted until the approval."""
    from .approvals import approval_request

    if transfer is not None:
        if customer is not None or account_code or amount_yen:
            raise ApprovalRefused(
                ApprovalRefused.Code.INVALID_PAYLOAD, gettext("Either reverse a transfer or post an adjustment, not both.")
            )
        payload: dict[str, Any] = {"action": "reverse", "transfer": transfer.pk}
    else:
        if customer is None:
            raise ApprovalRefused(ApprovalRefused.Code.INVALID_PAYLOAD, gettext("Name the customer whose wallet the adjustment moves."))
        payload = {"action": "adjust", "customer": customer.pk, "account": account_code, "amount_yen": amount_yen}
    return approval_request(kind=Approval.Kind.LEDGER_CORRECTION, payload=payload, reason=reason, maker=acting_user, ip=ip)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def ledger_correction_validate(payload: dict[str, Any]) -> None:
    """Approval executor check, at request time and again when approved."""
    action = payload.get("action")
    if action == "reverse" and set(payload) == {"action", "transfer"} and _is_int(payload["transfer"]):
        transfer = Transfer.objects.filter(pk=payload["transfer"]).first()
        if transfer is None:
            raise ApprovalRefused(ApprovalRefused.Code.INVALID_PAYLOAD, gettext("There is no such transfer."))
        if transfer.kind in NOT_REVERSIBLE_HERE:
            raise ApprovalRefused(
                ApprovalRefused.Code.NOT_REVERSIBLE,
                gettext("A %(kind)s cannot be reversed here.") % {"kind": transfer.get_kind_display().lower()},
            )
        if Transfer.objects.filter(reverses=transfer).exists():
            raise ApprovalRefused(ApprovalRefused.Code.ALREADY_REVERSED, gettext("This transfer has already been reversed."))
        return
    if action == "adjust" and set(payload) == {"action", "customer", "account", "amount_yen"}:
        amount, account_code = payload["amount_yen"], payload["account"]
        if not _is_int(payload["customer"]) or not User.objects.filter(pk=payload["customer"], is_staff=False).exists():
            raise ApprovalRefused(ApprovalRefused.Code.INVALID_PAYLOAD, gettext("There is no such customer."))
        if not isinstance(account_code, str) or not LedgerAccount.objects.filter(code=account_code, owner__isnull=True).exists():
            raise ApprovalRefused(ApprovalRefused.Code.INVALID_PAYLOAD, gettext("Choose an existing system account."))
        if not _is_int(amount) or amount == 0 or abs(amount) > MAX_ADJUSTMENT_YEN:
            raise ApprovalRefused(
                ApprovalRefused.Code.INVALID_AMOUNT,
                gettext("The amount must be a whole number of yen, not zero, and at most ¥%(max)s either way.")
                % {"max": f"{MAX_ADJUSTMENT_YEN:,}"},
            )
        return
    raise ApprovalRefused(ApprovalRefused.Code.INVALID_PAYLOAD, gettext("The request must reverse one transfer or post one adjustment."))


def ledger_correction_execute(approval: Approval, checker: User, ip: str | None) -> None:
    """Approval executor: post the correcting transfer inside the approval's transaction and audit it."""
    payload = approval.payload
    ledger_correction_validate(payload)
    description = f"Ledger correction (approval #{approval.pk})"
    try:
        with transaction.atomic():
            if payload["action"] == "reverse":
                original = Transfer.objects.get(pk=payload["transfer"])
                posted = transfer_reverse(transfer=original, reason=description, acting_user=checker)
            else:
                customer = User.objects.get(pk=payload["customer"])
                amount = payload["amount_yen"]
                posted = transfer_post(
                    kind=Transfer.Kind.ADJUSTMENT,
                    legs=[Leg(LedgerAccount.objects.get(code=payload["account"]), -amount), Leg(wallet_account_for(customer), amount)],
                    idempotency_key=f"ledger-correction:{approval.pk}",
                    description=description,
                    acting_user=checker,
                    # Bookkeeping agreed by two people, not a customer moving money.
                    honour_freezes=False,
                )
    except MoneyError as exc:
        raise ApprovalRefused(exc.code, exc.message) from exc
    staff_action_record(
        acting_user=checker,
        action="ledger.correction",
        target=posted,
        after={
            **payload,
            "approval": approval.pk,
            "maker": approval.maker.email,
            "posted": str(posted.public_id),
            "entries": [[entry.account.code, entry.amount_yen] for entry in posted.entries.select_related("account").order_by("pk")],
        },
        reason=approval.reason,
        ip=ip,
    )
