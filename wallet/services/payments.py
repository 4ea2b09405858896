"""Store payments: single-use payment codes, redemption at a terminal, refunds.

A payment code is 18 digits shown as QR and barcode; only its keyed digest is
stored, so a database reader cannot replay a live code. Redemption locks the
code row first and the wallet second (always in that order), so two terminals
racing on one code, or fifty codes racing on one balance, give one payment.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..field_length import fit
from ..models import Payment, PaymentCode, PaymentRefund, RiskEvent, RiskOutcome, Terminal, Transfer, User
from .ledger import (
    AlreadyReversed,
    Leg,
    MoneyError,
    merchant_payable_account,
    money_second_factor_check,
    transfer_post,
    wallet_account_for,
    wallet_locked_for,
)
from .limits import limits_check
from .notifications import notification_enqueue
from .risk import risk_assess, risk_record
from .switches import channel_check

PAYMENT_CODE_PREFIX = "88"
PAYMENT_CODE_LENGTH = 18


class InvalidPaymentCode(MoneyError):
    code = "invalid_payment_code"
    default_message = _("This payment code is not valid: it has expired, was already used or was replaced. Ask for a new one.")
    http_status = 404


class PaymentDeclined(MoneyError):
    code = "payment_declined"
    default_message = _("This payment was declined. The customer can contact support.")
    http_status = 402


class RefundTooLarge(MoneyError):
    code = "refund_too_large"
    default_message = _("The refund is larger than what is left to refund on this payment.")


class IdempotencyConflict(MoneyError):
    code = "idempotency_key_reused"
    default_message = _("This idempotency key was already used for a different request.")


class InvalidAmount(MoneyError):
    code = "invalid_amount"
    default_message = _("Enter a whole number of yen greater than zero.")
    http_status = 400


@dataclass(frozen=True)
class IssuedPaymentCode:
    code: str
    expires_at: datetime
    payment_code: PaymentCode


def amount_validate(amount_yen: object) -> int:
    if not isinstance(amount_yen, int) or isinstance(amount_yen, bool) or amount_yen <= 0:
        raise InvalidAmount()
    return amount_yen


def payment_code_digest(code: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), f"payment-code:{code}".encode(), hashlib.sha256).hexdigest()


def payment_code_issue(*, user: User) -> IssuedPaymentCode:
    """A fresh code for this wallet; any earlier unused code stops working at once."""
    money_second_factor_check(user)
    digits = PAYMENT_CODE_LENGTH - len(PAYMENT_CODE_PREFIX)
    code = PAYMENT_CODE_PREFIX + f"{secrets.randbelow(10**digits):0{digits}d}"
    now = timezone.now()
    with transaction.atomic():
        PaymentCode.objects.filter(user=user, used_at__isnull=True, superseded_at__isnull=True).update(superseded_at=now)
        payment_code = PaymentCode.objects.create(
            user=user, code_digest=payment_code_digest(code), created_at=now, expires_at=now + settings.PAYMENT_CODE_TTL
        )
    return IssuedPaymentCode(code=code, expires_at=payment_code.expires_at, payment_code=payment_code)


def payment_code_claim(code: str) -> PaymentCode:
    """Lock a live code for use in the caller's transaction, or raise ``InvalidPaymentCode``."""
    normalised = "".join(ch for ch in str(code) if ch.isdigit())
    if len(normalised) != PAYMENT_CODE_LENGTH:
        raise InvalidPaymentCode()
    payment_code = (
        PaymentCode.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(code_digest=payment_code_digest(normalised))
        .first()
    )
    if payment_code is None or not payment_code.is_live or payment_code.user.status != User.Status.ACTIVE:
        raise InvalidPaymentCode()
    return payment_code


def _terminal_check(terminal: Terminal) -> None:
    if not terminal.is_active or not terminal.merchant.is_active:
        raise MoneyError(_("This terminal is not active."))


def payment_redeem(*, terminal: Terminal, code: str, amount_yen: int, idempotency_key: str, description: str = "") -> Payment:
    """Take ``amount_yen`` from the wallet behind ``code`` for the terminal's merchant.

    The same ``idempotency_key`` from the same terminal returns the first payment
    (or refuses other parameters) instead of charging twice. A risk refusal is
    recorded and burns the code before ``PaymentDeclined`` is raised.
    """
    amount_validate(amount_yen)
    transfer_key = f"payment:{terminal.pk}:{idempotency_key}"
    # A repeated key finds its code used (or its transfer key taken) and is answered below.
    channel_check("payment.store")
    _terminal_check(terminal)
    declined: PaymentDeclined | None = None
    try:
        with transaction.atomic():
            payment_code = payment_code_claim(code)
            user = payment_code.user
            money_second_factor_check(user)
            wallet = wallet_locked_for(user)
            limits_check(user=user, kind="payment", amount_yen=amount_yen)
            decision = risk_assess(event=RiskEvent.PAYMENT, user=user, amount_yen=amount_yen, channel="payment.store")
            now = timezone.now()
            PaymentCode.objects.filter(pk=payment_code.pk).update(used_at=now)
            if decision.outcome != RiskOutcome.ALLOW:
                declined = PaymentDeclined()
                payment = None
            else:
                transfer = transfer_post(
                    kind=Transfer.Kind.PAYMENT,
                    legs=[Leg(wallet, -amount_yen), Leg(merchant_payable_account(terminal.merchant), amount_yen)],
                    idempotency_key=transfer_key,
                    description=terminal.merchant.name,
                )
                payment = Payment.objects.create(
                    user=user,
                    merchant=terminal.merchant,
                    terminal=terminal,
                    amount_yen=amount_yen,
                    description=fit(Payment, "description", description),
                    transfer=transfer,
                    risk_decision=decision,
                    created_at=transfer.created_at,
                )
                notification_enqueue(
                    user=user,
                    kind="payment_receipt",
                    context={"amount": f"{amount_yen:,}", "merchant": terminal.merchant.name, "reference": str(transfer.public_id)},
                )
                transaction.on_commit(lambda: risk_record(decision=decision))
    except (IntegrityError, InvalidPaymentCode):
        # The same key raced in from another request and won (it used the code): answer as it did.
        existing = Payment.objects.filter(transfer__idempotency_key=transfer_key).first()
        if existing is None:
            raise
        if existing.amount_yen != amount_yen:
            raise IdempotencyConflict() from None
        return existing
    if declined is not None or payment is None:
        raise declined or PaymentDeclined()
    return payment


def payment_refund(*, terminal: Terminal, payment: Payment, amount_yen: int, idempotency_key: str) -> PaymentRefund:
    """Return part or all of a payment to the customer's wallet from the merchant's payable."""
    amount_validate(amount_yen)
    if payment.merchant_id != terminal.merchant_id:
        raise Payment.DoesNotExist()
    transfer_key = f"payment-refund:{terminal.pk}:{idempotency_key}"
    existing = PaymentRefund.objects.filter(transfer__idempotency_key=transfer_key).first()
    if existing is not None:
        if existing.amount_yen != amount_yen or existing.payment_id != payment.pk:
            raise IdempotencyConflict()
        return existing
    _terminal_check(terminal)
    with transaction.atomic():
        locked = Payment.objects.select_for_update().select_related("user", "merchant").get(pk=payment.pk)
        if Transfer.objects.filter(reverses_id=locked.transfer_id).exists():
            # The whole payment already went back to the customer.
            raise AlreadyReversed()
        raced = PaymentRefund.objects.filter(transfer__idempotency_key=transfer_key).first()
        if raced is not None:
            if raced.amount_yen != amount_yen or raced.payment_id != payment.pk:
                raise IdempotencyConflict()
            return raced
        if amount_yen > locked.refundable_yen:
            raise RefundTooLarge()
        transfer = transfer_post(
            kind=Transfer.Kind.PAYMENT_REFUND,
            legs=[Leg(merchant_payable_account(locked.merchant), -amount_yen), Leg(wallet_account_for(locked.user), amount_yen)],
            idempotency_key=transfer_key,
            description=locked.merchant.name,
            # Returning the customer's own money is never blocked by a lock they or staff set.
            honour_freezes=False,
        )
        refund = PaymentRefund.objects.create(
            payment=locked, terminal=terminal, amount_yen=amount_yen, transfer=transfer, created_at=transfer.created_at
        )
        locked.refunded_yen += amount_yen
        locked.status = Payment.Status.REFUNDED if locked.refunded_yen == locked.amount_yen else Payment.Status.PARTIALLY_REFUNDED
        locked.save(update_fields=["refunded_yen", "status"])
        notification_enqueue(
            user=locked.user,
            kind="payment_refund_receipt",
            context={"amount": f"{amount_yen:,}", "merchant": locked.merchant.name, "reference": str(transfer.public_id)},
        )
    return refund
