"""Compensation for fraudulent transactions (issue 4 §7), always with a second person (B04).

- ``request``: ``compensation_request`` records one ``Compensation`` per fraudulent
  transaction (state "requested") and one approval listing them. How much and how
  each transaction is paid is the plan (``plan``, read its docstring).
- ``approve``: the approval's executor. Inside the approval's transaction it pays
  the wallet credits and leaves each card refund "requested" under an approved
  approval, which is what "refund sent to the gateway" means (``refunds_pending_q``);
  rows of rejected or expired approvals are released by ``compensations_release_stale``.
- ``execute``: after that commit, each card refund is sent to the gateway outside any
  transaction (a network call must not hold row locks), then its answer is posted in
  a short transaction of its own; a gateway that does not answer leaves the row
  pending and the sweep (``compensation_refunds_retry``) asks again with the same key.
- ``report``: the audit row of an export.

At most once per fraudulent transaction, however requests, approvals and retries race:

- the partial unique constraint ``compensation_once_per_transaction`` allows one
  requested-or-paid row per fraudulent transfer; a row that loses the race is
  skipped, not paid;
- the approval row is locked while it is decided, so two checkers cannot both
  carry it out, and only rows still "requested" are paid;
- the ledger posting's idempotency key is ``compensation:<id>`` (unique on
  ``Transfer``), and an answer is posted only to a row still pending;
- the gateway refund's idempotency key is ``compensation-refund:<fraudulent
  transfer id>`` (per fraudulent transaction rather than per row), so a retry after
  a timeout, a crash or a lost answer replays the refund instead of making another;
- one sender at a time per row: a PostgreSQL session advisory lock on the row's id
  (no row lock) is held while its refund is sent; another sender skips the row.

Ledger postings (signs as everywhere in the ledger: a wallet's positive
balance is what we owe the customer; ``card_clearing`` is debited by a card
top-up, since the acquirer owes us that money):

- wallet credit: ``compensation_expense −X``, ``wallet +X``;
- card refund of X: ``card_clearing +X`` (the acquirer nets the refund out of
  what it pays us, undoing the top-up's debit), ``wallet −W`` for the part W of
  the top-up still unspent when the refund is posted (at most the balance),
  ``compensation_expense −(X−W)`` for the rest, which is what the fraud cost us.

Both ignore freezes: a freeze stops the attacker moving money, and this is
money two staff members agreed to return; a debit freeze still stops it being
spent.
"""

from .approve import compensation_execute, compensation_validate, compensations_release_stale
from .execute import (
    REFUND_RETRY_AFTER,
    compensation_refund_post,
    compensation_refund_send,
    compensation_refunds_retry,
    compensation_refunds_send,
)
from .plan import METHOD_AUTO, METHOD_CHOICES, METHODS, CompensationPlan, PlanLine, compensation_plan, unspent_card_topup_yen
from .report import compensation_export_record
from .request import COMPENSATION_REQUEST_PERMISSION, CompensationRefused, CompensationRequested, compensation_request

__all__ = [
    "COMPENSATION_REQUEST_PERMISSION",
    "METHODS",
    "METHOD_AUTO",
    "METHOD_CHOICES",
    "REFUND_RETRY_AFTER",
    "CompensationPlan",
    "CompensationRefused",
    "CompensationRequested",
    "PlanLine",
    "compensation_execute",
    "compensation_export_record",
    "compensation_plan",
    "compensation_refund_post",
    "compensation_refund_send",
    "compensation_refunds_retry",
    "compensation_refunds_send",
    "compensation_request",
    "compensation_validate",
    "compensations_release_stale",
    "unspent_card_topup_yen",
]
