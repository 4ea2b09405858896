"""Refusals shared across the back-office's services.

``ApprovalRefused`` lives here, not in ``services/approvals.py``: the approval executors
(freezes, compensation, ledger corrections, mass reset, and the refunds kinds registered
from above) raise it, and ``approvals.py`` imports those executors, so they could only reach
it through a function-local import.
"""

from __future__ import annotations

from enum import StrEnum

from wallet.errors import Refused


class ApprovalRefused(Refused):
    """The request or decision is not allowed; ``code`` says why, the message says it to a person.

    An executor may also pass on the code of a lower-level refusal (a ``MoneyError``, a corrupt
    payout file) unchanged."""

    class Code(StrEnum):
        # Requests and decisions (services/approvals.py).
        NO_EXECUTOR = "no_executor"
        NO_REASON = "no_reason"
        NOT_ALLOWED = "not_allowed"
        DUPLICATE = "duplicate"
        OWN_REQUEST = "own_request"
        NOT_PENDING = "not_pending"
        EXPIRED = "expired"
        NO_NOTE = "no_note"
        # Executors' checks, here and in the kinds registered from above.
        INVALID_PAYLOAD = "invalid_payload"
        ALREADY_ON = "already_on"
        NOT_ACTIVE = "not_active"
        NOTHING_DUE = "nothing_due"
        NOT_REVERSIBLE = "not_reversible"
        ALREADY_REVERSED = "already_reversed"
        INVALID_AMOUNT = "invalid_amount"
        NOT_AWAITING = "not_awaiting"
        NOT_LATE_CLAIM = "not_late_claim"
        NO_BATCH = "no_batch"
        NOT_AWAITING_RELEASE = "not_awaiting_release"
        NOT_THIS_REQUEST = "not_this_request"
        CHANNEL_OFF = "channel_off"
        BATCH_CHANGED = "batch_changed"
