from .credentials import ApiToken, BackupCode, BackupCodeDevice, PhoneVerification, secret_digest
from .notifications import DevInboxMessage, Notification
from .switches import ChannelSwitch, ChannelSwitchChange
from .users import AuthEvent, KnownDevice, User, UserManager, UserSession, normalize_email, validate_ascii_email

__all__ = [
    "ApiToken",
    "AuthEvent",
    "BackupCode",
    "BackupCodeDevice",
    "ChannelSwitch",
    "ChannelSwitchChange",
    "DevInboxMessage",
    "KnownDevice",
    "Notification",
    "PhoneVerification",
    "User",
    "UserManager",
    "UserSession",
    "normalize_email",
    "secret_digest",
    "validate_ascii_email",
]
