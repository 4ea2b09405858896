"""Posting to the double-entry ledger: the only code that changes a balance.

``transfer_post`` locks the wallets it touches in id order (so two transfers
between the same wallets cannot deadlock), checks freezes and funds, writes the
transfer and its entries, and moves the cached balances, all in one
transaction. System accounts are never locked: they carry no cached balance.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from ..field_length import fit
from ..models import AccountFreeze, Entry, LedgerAccount, Merchant, Payment, Transfer, User


class MoneyError(Exception):
    """A refusal the caller shows to the person: ``code`` for machines, ``message`` for people."""

    code = "refused"
    default_message = _("This cannot be done.")
    http_status = 422

    def __init__(self, message: object = None) -> None:
        self.message = str(message or self.default_message)
        super().__init__(self.message)


class SecondFactorMissing(MoneyError):
    """A13/A05: an account without a confirmed second factor never moves money, whatever the caller checked."""

    code = "second_factor_required"
    default_message = _("Set up an authenticator app before you top up, pay or register a card.")
    http_status = 403


def money_second_factor_check(user: User) -> None:
    """Raise ``SecondFactorMissing`` unless ``user`` has a confirmed authenticator (staff never hold wallets' money flows)."""
    if user.is_staff or not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise SecondFactorMissing()


class InsufficientFunds(MoneyError):
    code = "insufficient_funds"
    default_message = _("The balance is too low for this amount.")


class WalletFrozen(MoneyError):
    code = "wallet_frozen"
    default_message = _("This wallet is locked. Contact support if you did not lock it.")
    http_status = 423


class BalanceCapExceeded(MoneyError):
    code = "balance_cap"
    default_message = _("This would take the wallet above the most it may hold.")


class AlreadyReversed(MoneyError):
    code = "already_reversed"
    default_message = _("This transaction has already been reversed.")
    http_status = 409


@dataclass(frozen=True)
class Leg:
    account: LedgerAccount
    amount_yen: int


def wallet_account_for(user: User) -> LedgerAccount:
    """The customer's wallet account, created at zero on first use."""
    try:
        return LedgerAccount.objects.get(owner=user)
    except LedgerAccount.DoesNotExist:
        pass
    try:
        with transaction.atomic():
            return LedgerAccount.objects.create(
                kind=LedgerAccount.Kind.CUSTOMER_WALLET, code=f"wallet:{user.pk}", owner=user, balance_yen=0
            )
    except IntegrityError:  # created by a concurrent request
        return LedgerAccount.objects.get(owner=user)


def wallet_locked_for(user: User) -> LedgerAccount:
    """The customer's wallet account, row-locked until the caller's transaction ends.

    Checks that must see a stable wallet (caps summed over recent payments) take
    this lock first; ``transfer_post`` then takes the same lock again for free."""
    wallet = LedgerAccount.objects.select_for_update().filter(owner=user).first()
    return wallet or LedgerAccount.objects.select_for_update().get(pk=wallet_account_for(user).pk)


def system_account(code: str) -> LedgerAccount:
    """A system account by code ("card_clearing"); the migration creates them, this makes sure."""
    account, _created = LedgerAccount.objects.get_or_create(code=code, defaults={"kind": code})
    return account


def merchant_payable_account(merchant: Merchant) -> LedgerAccount:
    account, _created = LedgerAccount.objects.get_or_create(
        code=f"merchant_payable:{merchant.pk}", defaults={"kind": LedgerAccount.Kind.MERCHANT_PAYABLE}
    )
    return account


def active_freezes(user_ids: Iterable[int]) -> list[AccountFreeze]:
    return list(AccountFreeze.objects.active().filter(user_id__in=list(user_ids)))


def freeze_refusal(*, user: User, debit: bool) -> WalletFrozen | None:
    """The refusal an active freeze gives a debit (or credit) of this customer's wallet, if any."""
    for freeze in active_freezes([user.pk]):
        if freeze.blocks(debit=debit):
            return WalletFrozen()
    return None


def new_idempotency_key(prefix: str) -> str:
    return f"{prefix}:{uuid.uuid4().hex}"


def _validate(legs: Sequence[Leg]) -> None:
    if len(legs) < 2:
        raise ValueError("a transfer needs at least two entries")
    for leg in legs:
        if not isinstance(leg.amount_yen, int) or isinstance(leg.amount_yen, bool) or leg.amount_yen == 0:
            raise ValueError(f"entry amounts are non-zero integer yen, not {leg.amount_yen!r}")
    if sum(leg.amount_yen for leg in legs) != 0:
        raise ValueError("the entries of a transfer must sum to zero")


def transfer_post(
    *,
    kind: str,
    legs: Sequence[Leg],
    idempotency_key: str,
    description: str = "",
    acting_user: User | None = None,
    reverses: Transfer | None = None,
    honour_freezes: bool = True,
    balance_cap_yen: int | None = None,
) -> Transfer:
    """Post one balanced transfer. Raises a ``MoneyError`` and changes nothing when refused."""
    _validate(legs)
    deltas: dict[int, int] = defaultdict(int)
    for leg in legs:
        if leg.account.is_wallet:
            deltas[leg.account.pk] += leg.amount_yen
    with transaction.atomic():
        wallets = {a.pk: a for a in LedgerAccount.objects.select_for_update().filter(pk__in=sorted(deltas)).order_by("pk")}
        if honour_freezes and wallets:
            owners = {a.owner_id: a.pk for a in wallets.values() if a.owner_id is not None}
            for freeze in active_freezes(owners):
                delta = deltas[owners[freeze.user_id]]
                if delta and freeze.blocks(debit=delta < 0):
                    raise WalletFrozen()
        for account_id, delta in deltas.items():
            balance = wallets[account_id].balance_yen or 0
            if balance + delta < 0:
                raise InsufficientFunds()
            if delta > 0 and balance_cap_yen is not None and balance + delta > balance_cap_yen:
                raise BalanceCapExceeded()
        transfer = Transfer.objects.create(
            kind=kind,
            idempotency_key=idempotency_key,
            description=fit(Transfer, "description", description),
            created_by=acting_user,
            reverses=reverses,
        )
        Entry.objects.bulk_create(
            [Entry(transfer=transfer, account_id=leg.account.pk, amount_yen=leg.amount_yen, created_at=transfer.created_at) for leg in legs]
        )
        for account_id, delta in deltas.items():
            if delta:
                LedgerAccount.objects.filter(pk=account_id).update(balance_yen=(wallets[account_id].balance_yen or 0) + delta)
    return transfer


def transfer_reverse(*, transfer: Transfer, reason: str, acting_user: User | None = None, honour_freezes: bool = False) -> Transfer:
    """A new transfer with every entry negated. A transfer is reversed at most once
    (the one-to-one ``reverses`` link); a reversal cannot take a wallet below zero."""
    if transfer.kind == Transfer.Kind.REVERSAL:
        raise AlreadyReversed(_("A reversal cannot itself be reversed; post a new transfer instead."))
    legs = [Leg(entry.account, -entry.amount_yen) for entry in transfer.entries.select_related("account")]
    try:
        with transaction.atomic():
            # A store payment's refunds and its reversal exclude each other: both would return the money.
            payment = Payment.objects.select_for_update().filter(transfer=transfer).first()
            if payment is not None and payment.refunded_yen > 0:
                raise MoneyError(_("Part of this payment was refunded; refund the rest instead of reversing it."))
            if Transfer.objects.filter(reverses=transfer).exists():
                raise AlreadyReversed()
            return transfer_post(
                kind=Transfer.Kind.REVERSAL,
                legs=legs,
                idempotency_key=f"reversal:{transfer.pk}",
                description=reason or f"Reversal of {transfer.public_id}",
                acting_user=acting_user,
                reverses=transfer,
                honour_freezes=honour_freezes,
            )
    except IntegrityError as exc:
        raise AlreadyReversed() from exc
