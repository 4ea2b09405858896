"""Refund programme models: the shutdown programme, claims with their history and
payee details, payout batches and payouts, and the contact proof of the no-login route."""

from .claims import BankDetails, ClaimEvent, PostalDetails, RefundClaim, bank_account_fingerprint
from .contact import CONTACT_CODE_ATTEMPTS_MAX, CONTACT_PROOF_LIFETIME, ContactProof
from .payouts import BankMasterOverride, Payout, PayoutBatch, PayoutResultImport
from .programme import MINIMUM_CLAIM_WINDOW, ShutdownProgramme

__all__ = [
    "CONTACT_CODE_ATTEMPTS_MAX",
    "CONTACT_PROOF_LIFETIME",
    "MINIMUM_CLAIM_WINDOW",
    "BankDetails",
    "BankMasterOverride",
    "ClaimEvent",
    "ContactProof",
    "Payout",
    "PayoutBatch",
    "PayoutResultImport",
    "PostalDetails",
    "RefundClaim",
    "ShutdownProgramme",
    "bank_account_fingerprint",
]
