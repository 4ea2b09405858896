from .cards import Card, CardRegistration, CardReversal, GatewayCard, GatewayCharge, GatewaySession
from .credentials import ApiToken, BackupCode, BackupCodeDevice, ContactProof, PhoneVerification, secret_digest
from .holds import AccountFreeze, TransactionReport
from .ledger import Entry, LedgerAccount, Transfer
from .notifications import DevInboxMessage, Notification
from .payments import IdempotencyRecord, Merchant, Payment, PaymentCode, PaymentRefund, Terminal, TopUp
from .risk import LimitPolicy, RiskDecision, RiskEvent, RiskOutcome, RiskRule, RiskRuleChange
from .switches import ChannelSwitch, ChannelSwitchChange
from .users import AuthEvent, KnownDevice, User, UserManager, UserSession, normalize_email, validate_ascii_email

__all__ = [
    "AccountFreeze",
    "ApiToken",
    "AuthEvent",
    "BackupCode",
    "BackupCodeDevice",
    "Card",
    "CardRegistration",
    "CardReversal",
    "ChannelSwitch",
    "ChannelSwitchChange",
    "ContactProof",
    "DevInboxMessage",
    "Entry",
    "GatewayCard",
    "GatewayCharge",
    "GatewaySession",
    "IdempotencyRecord",
    "KnownDevice",
    "LedgerAccount",
    "LimitPolicy",
    "Merchant",
    "Notification",
    "Payment",
    "PaymentCode",
    "PaymentRefund",
    "PhoneVerification",
    "RiskDecision",
    "RiskEvent",
    "RiskOutcome",
    "RiskRule",
    "RiskRuleChange",
    "Terminal",
    "TopUp",
    "TransactionReport",
    "Transfer",
    "User",
    "UserManager",
    "UserSession",
    "normalize_email",
    "secret_digest",
    "validate_ascii_email",
]
