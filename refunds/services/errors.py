from __future__ import annotations

from enum import StrEnum

from wallet.errors import Refused


class RefundRefused(Refused):
    """A refusal shown to the person: ``code`` for machines and tests, ``message`` for people. Nothing was changed."""

    class Code(StrEnum):
        ALREADY_CLAIMED = "already_claimed"
        ALREADY_DECIDED = "already_decided"
        ALREADY_EXISTS = "already_exists"
        ALREADY_REQUESTED = "already_requested"
        ANNOUNCED = "announced"
        BAD_TRANSITION = "bad_transition"
        BALANCE_CHANGED = "balance_changed"
        CLOSED = "closed"
        DEADLINE_PASSED = "deadline_passed"
        DETAILS_MISSING = "details_missing"
        INCONSISTENT = "inconsistent"
        INVALID = "invalid"
        INVALID_DATES = "invalid_dates"
        INVALID_METHOD = "invalid_method"
        LATE_NEEDS_APPROVAL = "late_needs_approval"
        NO_NOTE = "no_note"
        NO_REASON = "no_reason"
        NOT_ALLOWED = "not_allowed"
        NOT_AWAITING_RELEASE = "not_awaiting_release"
        NOT_BUSINESS_DAY = "not_business_day"
        NOT_DRAFT = "not_draft"
        NOT_FOUND = "not_found"
        NOT_IN_REVIEW = "not_in_review"
        NOT_LATE = "not_late"
        NOT_OPEN = "not_open"
        NOT_RETURNED = "not_returned"
        NOT_YOURS = "not_yours"
        NOTHING_TO_REFUND = "nothing_to_refund"
        ORIGINATOR_INVALID = "originator_invalid"
        PROOF_EXPIRED = "proof_expired"
        SECOND_FACTOR_REQUIRED = "second_factor_required"
        STEP_UP_REQUIRED = "step_up_required"
        TOO_MANY_REFUSED_RECORDS = "too_many_refused_records"
