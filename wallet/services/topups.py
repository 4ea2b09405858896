"""Top-ups: card charges through the gateway, cash at store registers and ATMs,
and the release of top-ups held for review.

Every top-up is checked in one transaction under the customer's wallet lock:
channel switch, freeze, limits, balance cap, risk. A card top-up then calls the
gateway outside any transaction (a network call must not hold row locks) and
books the result in a second one. Whatever happens after the gateway charged,
the money is booked: to the wallet, or, when the wallet cannot take it (review,
a freeze or cap set meanwhile), to the held-top-ups account for staff to
release or return. A gateway timeout leaves the top-up pending; the reconcile
job asks the gateway later by the same idempotency key.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..models import Card, RiskDecision, RiskEvent, RiskOutcome, Terminal, TopUp, Transfer, User
from ..request_meta import SYSTEM_META, RequestMeta
from .ledger import (
    Leg,
    MoneyError,
    freeze_refusal,
    money_second_factor_check,
    system_account,
    transfer_post,
    wallet_account_for,
    wallet_locked_for,
)
from .limits import balance_cap_yen, limit_kind_for_channel, limits_check, limits_record
from .notifications import notification_enqueue
from .payments import IdempotencyConflict, amount_validate, payment_code_claim
from .risk import risk_assess, risk_record
from .step_up_policy import topup_step_up_check
from .switches import channel_check

if TYPE_CHECKING:
    from ..adapters.cards import ChargeResult

logger = logging.getLogger(__name__)

CLEARING_ACCOUNT = {
    TopUp.Channel.CREDIT_CARD: "card_clearing",
    TopUp.Channel.DEBIT_CARD: "card_clearing",
    TopUp.Channel.STORE_REGISTER: "cash_clearing",
    TopUp.Channel.ATM: "atm_clearing",
}
TERMINAL_CHANNEL = {Terminal.Kind.STORE_REGISTER: TopUp.Channel.STORE_REGISTER, Terminal.Kind.ATM: TopUp.Channel.ATM}
# A pending card top-up older than this is asked about again by the reconcile job.
RECONCILE_AFTER = timedelta(minutes=2)


class CardNotUsable(MoneyError):
    code = "card_not_usable"
    default_message = _("This card cannot be used. Choose another card or add it again.")


class TopUpNotHeld(MoneyError):
    code = "topup_not_held"
    default_message = _("Only a top-up held for review can be released.")
    http_status = 409


def _existing(request_key: str, *, amount_yen: int) -> TopUp | None:
    topup = TopUp.objects.filter(request_key=request_key).first()
    if topup is not None and topup.amount_yen != amount_yen:
        raise IdempotencyConflict()
    return topup


def _admit(*, user: User, channel: str, amount_yen: int, request_key: str, meta: RequestMeta, **fields: object) -> TopUp:
    """Checks shared by every channel, under the wallet lock; returns the new top-up row.

    Call inside a transaction. Refusals raise and leave nothing behind, except a
    risk block, which is recorded as a declined top-up so the review queue sees it.
    """
    channel_check(channel)
    wallet = wallet_locked_for(user)
    frozen = freeze_refusal(user=user, debit=False)
    if frozen is not None:
        raise frozen
    limits_check(user=user, kind=limit_kind_for_channel(channel), amount_yen=amount_yen)
    pending = TopUp.objects.filter(user=user, status=TopUp.Status.PENDING).values_list("amount_yen", flat=True)
    cap = balance_cap_yen()
    if (wallet.balance_yen or 0) + sum(pending) + amount_yen > cap:
        raise MoneyError(_("This would take the wallet above the most it may hold (¥%(cap)s).") % {"cap": f"{cap:,}"})
    card = fields.get("card")
    decision = risk_assess(
        event=RiskEvent.TOPUP,
        user=user,
        amount_yen=amount_yen,
        channel=channel,
        meta=meta,
        card_fingerprint=card.fingerprint if isinstance(card, Card) else "",
    )
    status = TopUp.Status.DECLINED if decision.outcome == RiskOutcome.BLOCK else TopUp.Status.PENDING
    return TopUp.objects.create(
        user=user,
        channel=channel,
        amount_yen=amount_yen,
        request_key=request_key,
        status=status,
        failure_code="risk_blocked" if status == TopUp.Status.DECLINED else "",
        risk_decision=decision,
        completed_at=timezone.now() if status == TopUp.Status.DECLINED else None,
        **fields,
    )


def _book(topup: TopUp) -> TopUp:
    """Book money the channel has received: to the wallet, or held for review.

    Call inside a transaction with ``topup`` locked and pending.
    """
    decision: RiskDecision | None = topup.risk_decision
    clearing = system_account(CLEARING_ACCOUNT[TopUp.Channel(topup.channel)])
    hold_reason = "review" if decision is not None and decision.outcome == RiskOutcome.REVIEW else ""
    transfer: Transfer | None = None
    if not hold_reason:
        try:
            with transaction.atomic():
                transfer = transfer_post(
                    kind=Transfer.Kind.TOPUP,
                    legs=[Leg(clearing, -topup.amount_yen), Leg(wallet_account_for(topup.user), topup.amount_yen)],
                    idempotency_key=f"topup:{topup.pk}",
                    description=topup.get_channel_display(),
                    balance_cap_yen=balance_cap_yen(),
                )
        except MoneyError as refusal:
            # Received but the wallet cannot take it now (frozen or full): never lose it.
            hold_reason = refusal.code
    if transfer is None:
        transfer = transfer_post(
            kind=Transfer.Kind.TOPUP,
            legs=[Leg(clearing, -topup.amount_yen), Leg(system_account("held_topups"), topup.amount_yen)],
            idempotency_key=f"topup:{topup.pk}",
            description=topup.get_channel_display(),
        )
    topup.transfer = transfer
    topup.status = TopUp.Status.HELD if hold_reason else TopUp.Status.SUCCEEDED
    topup.failure_code = hold_reason if hold_reason != "review" else ""
    topup.completed_at = timezone.now()
    topup.save(update_fields=["transfer", "status", "failure_code", "completed_at"])
    kind = "topup_held" if hold_reason else "topup_receipt"
    notification_enqueue(user=topup.user, kind=kind, context=_receipt_context(topup))
    amount, limit_kind = topup.amount_yen, limit_kind_for_channel(topup.channel)
    transaction.on_commit(lambda: limits_record(kind=limit_kind, amount_yen=amount))
    if decision is not None:
        transaction.on_commit(lambda: risk_record(decision=decision))
    return topup


def _receipt_context(topup: TopUp) -> dict[str, str]:
    source = str(topup.card) if topup.card_id else (str(topup.terminal) if topup.terminal_id else "")
    return {
        "amount": f"{topup.amount_yen:,}",
        "channel": str(topup.get_channel_display()),
        "source": source,
        "when": timezone.localtime(topup.completed_at or topup.created_at).strftime("%Y-%m-%d %H:%M"),
        "reference": str(topup.transfer.public_id if topup.transfer else topup.public_id),
    }


def topup_card(
    *, user: User, card: Card, amount_yen: int, idempotency_key: str, meta: RequestMeta = SYSTEM_META, step_up_fresh: bool = False
) -> TopUp:
    """Charge one of the customer's cards and credit the wallet (or hold the money for review).

    ``step_up_fresh``: the caller saw a fresh second factor (S04). Without one, a top-up that
    takes the customer's rolling total to the step-up threshold is refused with
    ``StepUpRequired`` (B11); a replay of a recorded top-up is answered as before.
    """
    amount_validate(amount_yen)
    request_key = f"user:{user.pk}:{idempotency_key}"
    existing = _existing(request_key, amount_yen=amount_yen)
    if existing is not None:
        return existing
    if card.user_id != user.pk or card.status != Card.Status.ACTIVE:
        raise CardNotUsable()
    money_second_factor_check(user)
    try:
        with transaction.atomic():
            topup_step_up_check(user=user, amount_yen=amount_yen, step_up_fresh=step_up_fresh)
            topup = _admit(user=user, channel=card.channel, amount_yen=amount_yen, request_key=request_key, meta=meta, card=card)
    except IntegrityError:
        existing = _existing(request_key, amount_yen=amount_yen)
        if existing is None:
            raise
        return existing
    if topup.status != TopUp.Status.PENDING:
        return topup
    return _charge_and_book(topup)


def _charge_and_book(topup: TopUp) -> TopUp:
    from ..adapters.cards import GatewayTimeout, get_card_gateway

    assert topup.card is not None
    gateway = get_card_gateway()
    try:
        result = gateway.charge(token=topup.card.gateway_token, amount_yen=topup.amount_yen, idempotency_key=f"topup:{topup.public_id}")
    except GatewayTimeout:
        logger.warning("card gateway timed out for top-up %s; the reconcile job will ask again", topup.pk)
        return topup
    return _settle_with(topup.pk, result)


def _settle_with(topup_id: int, result: ChargeResult) -> TopUp:
    return topup_settle(
        topup_id=topup_id, succeeded=result.status == "succeeded", charge_id=result.charge_id, decline_code=result.decline_code
    )


def topup_settle(*, topup_id: int, succeeded: bool, charge_id: str, decline_code: str = "") -> TopUp:
    """Book the gateway's answer for a pending card top-up. Safe to call twice."""
    with transaction.atomic():
        topup = TopUp.objects.select_for_update(of=("self",)).select_related("user", "card", "risk_decision").get(pk=topup_id)
        if topup.status != TopUp.Status.PENDING:
            return topup
        topup.gateway_charge_id = charge_id
        if not succeeded:
            topup.status = TopUp.Status.DECLINED
            topup.failure_code = decline_code or "declined"
            topup.completed_at = timezone.now()
            topup.save(update_fields=["gateway_charge_id", "status", "failure_code", "completed_at"])
            return topup
        topup.save(update_fields=["gateway_charge_id"])
        return _book(topup)


def topups_reconcile(*, older_than: timedelta = RECONCILE_AFTER) -> int:
    """Ask the gateway about card top-ups left pending by a timeout or a crash; returns how many settled."""
    from ..adapters.cards import GatewayTimeout, get_card_gateway

    gateway = get_card_gateway()
    settled = 0
    stale = TopUp.objects.filter(status=TopUp.Status.PENDING, card__isnull=False, created_at__lt=timezone.now() - older_than)
    for topup in stale.select_related("card")[:500]:
        try:
            result = gateway.charge_lookup(idempotency_key=f"topup:{topup.public_id}")
        except GatewayTimeout:
            continue
        if result is None:
            # The gateway never saw it: the customer was not charged.
            topup_settle(topup_id=topup.pk, succeeded=False, charge_id="", decline_code="gateway_timeout")
        else:
            _settle_with(topup.pk, result)
        settled += 1
    return settled


def topup_cash(*, terminal: Terminal, code: str, amount_yen: int, idempotency_key: str) -> TopUp:
    """A cashier (or an ATM) took cash for the wallet behind the customer's payment code."""
    amount_validate(amount_yen)
    request_key = f"terminal:{terminal.pk}:{idempotency_key}"
    existing = _existing(request_key, amount_yen=amount_yen)
    if existing is not None:
        return existing
    if not terminal.is_active or not terminal.merchant.is_active:
        raise MoneyError(_("This terminal is not active."))
    channel = TERMINAL_CHANNEL[Terminal.Kind(terminal.kind)]
    try:
        with transaction.atomic():
            payment_code = payment_code_claim(code)
            money_second_factor_check(payment_code.user)
            payment_code.used_at = timezone.now()
            payment_code.save(update_fields=["used_at"])
            meta = RequestMeta(ip=None, user_agent=f"terminal:{terminal.pk}", channel="terminal")
            topup = _admit(
                user=payment_code.user, channel=channel, amount_yen=amount_yen, request_key=request_key, meta=meta, terminal=terminal
            )
            if topup.status == TopUp.Status.PENDING:
                topup = _book(topup)
    except IntegrityError:
        existing = _existing(request_key, amount_yen=amount_yen)
        if existing is None:
            raise
        return existing
    return topup


def topup_release(*, topup: TopUp, acting_user: User | None) -> TopUp:
    """Move a held top-up from the held account into the wallet (after review)."""
    with transaction.atomic():
        locked = TopUp.objects.select_for_update(of=("self",)).select_related("user").get(pk=topup.pk)
        if locked.status != TopUp.Status.HELD:
            raise TopUpNotHeld()
        release = transfer_post(
            kind=Transfer.Kind.TOPUP_RELEASE,
            legs=[Leg(system_account("held_topups"), -locked.amount_yen), Leg(wallet_account_for(locked.user), locked.amount_yen)],
            idempotency_key=f"topup-release:{locked.pk}",
            description=locked.get_channel_display(),
            acting_user=acting_user,
            balance_cap_yen=balance_cap_yen(),
        )
        locked.release_transfer = release
        locked.status = TopUp.Status.SUCCEEDED
        locked.failure_code = ""
        locked.save(update_fields=["release_transfer", "status", "failure_code"])
        notification_enqueue(user=locked.user, kind="topup_receipt", context=_receipt_context(locked))
    return locked


class TopUpRefundFailed(MoneyError):
    code = "topup_refund_failed"
    default_message = _("The card gateway did not refund this top-up. Nothing was changed; try again later.")
    http_status = 502


def _card_refund(topup: TopUp) -> str:
    """Refund a held card top-up's charge; returns the gateway's refund id ("" if the issuer already reversed it)."""
    from ..adapters.cards import GatewayError, GatewayTimeout, get_card_gateway

    if not topup.gateway_charge_id:
        raise TopUpRefundFailed(_("This top-up has no card charge to refund. Nothing was changed."))
    try:
        result = get_card_gateway().refund(
            charge_id=topup.gateway_charge_id, amount_yen=topup.amount_yen, idempotency_key=f"topup-reject:{topup.public_id}"
        )
    except GatewayTimeout as exc:
        raise TopUpRefundFailed(
            _("The card gateway did not answer. Nothing was changed; try again: the card will not be refunded twice.")
        ) from exc
    except GatewayError as exc:
        raise TopUpRefundFailed() from exc
    if result.succeeded:
        return result.refund_id
    if result.failure_code == "charge_reversed":
        # The issuer already took the charge back (a chargeback): the cardholder has the money, the acquirer will not pay us it.
        return ""
    logger.warning("card gateway refused to refund top-up %s: %s", topup.pk, result.failure_code)
    raise TopUpRefundFailed()


def topup_reject(*, topup: TopUp, acting_user: User | None, reason: str) -> TopUp:
    """Send a held top-up back instead of releasing it (after review).

    A card top-up is refunded to the card through the gateway, and the ledger
    reverses its transfer (held top-ups back to card clearing). Cash from a store
    register or an ATM cannot be handed back by us: it moves from held top-ups
    to refund payable, owed to the customer until they claim it. The top-up
    becomes rejected, its risk decision is marked reviewed and the customer is told.

    The top-up row stays locked during the gateway call, so a release or a
    second rejection waits and then finds it rejected; the refund's idempotency
    key makes a retry after a timeout or a crash replay the same refund rather
    than make a second one. A rejected top-up is returned unchanged.
    """
    reason = reason.strip()
    if not reason:
        raise MoneyError(_("A reason is required."))
    with transaction.atomic():
        locked = (
            TopUp.objects.select_for_update(of=("self",))
            .select_related("user", "card", "terminal", "transfer", "risk_decision")
            .get(pk=topup.pk)
        )
        if locked.status == TopUp.Status.REJECTED:
            return locked
        if locked.status != TopUp.Status.HELD or locked.transfer is None:
            raise TopUpNotHeld(_("Only a top-up held for review can be rejected."))
        held = system_account("held_topups")
        if locked.card_id is not None:
            refund_id = _card_refund(locked)
            where = f"refund {refund_id}" if refund_id else "already reversed by the card issuer"
            transfer_post(
                kind=Transfer.Kind.REVERSAL,
                legs=[
                    Leg(held, -locked.amount_yen),
                    Leg(system_account(CLEARING_ACCOUNT[TopUp.Channel(locked.channel)]), locked.amount_yen),
                ],
                idempotency_key=f"topup-reject:{locked.pk}",
                description=f"Rejected top-up returned to the card ({where}): {reason}",
                acting_user=acting_user,
                reverses=locked.transfer,
            )
            locked.failure_code = "refunded_to_card" if refund_id else "reversed_by_issuer"
        else:
            transfer_post(
                kind=Transfer.Kind.ADJUSTMENT,
                legs=[Leg(held, -locked.amount_yen), Leg(system_account("refund_payable"), locked.amount_yen)],
                idempotency_key=f"topup-reject:{locked.pk}",
                description=f"Rejected cash top-up {locked.public_id} owed to the customer: {reason}",
                acting_user=acting_user,
            )
            locked.failure_code = "owed_to_customer"
        locked.status = TopUp.Status.REJECTED
        locked.save(update_fields=["status", "failure_code"])
        if locked.risk_decision_id is not None:
            RiskDecision.objects.filter(pk=locked.risk_decision_id, reviewed_at__isnull=True).update(reviewed_at=timezone.now())
        notification_enqueue(
            user=locked.user,
            kind="topup_rejected",
            context={**_receipt_context(locked), "destination": "card" if locked.card_id is not None else "claim"},
        )
    return locked
