"""Tokens that die when the state they hash changes (django.contrib.auth.tokens)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import signing
from django.utils.crypto import constant_time_compare
from django.utils.encoding import force_bytes, force_str
from django.utils.http import base36_to_int, urlsafe_base64_decode, urlsafe_base64_encode

from .models import User


class PasswordResetTokens(PasswordResetTokenGenerator):
    """R03: HMAC, expires after PASSWORD_RESET_TIMEOUT, and is dead once the password,
    the email or the credentials-changed time moves, which every reset does: single use."""

    key_salt = "anzenpay.password-reset"

    def _make_hash_value(self, user: User, timestamp: int) -> str:  # type: ignore[override]
        return f"{user.pk}{user.password}{user.email}{user.credentials_changed_at.isoformat()}{timestamp}"


class EmailVerificationTokens(PasswordResetTokenGenerator):
    key_salt = "anzenpay.email-verification"

    def _make_hash_value(self, user: User, timestamp: int) -> str:  # type: ignore[override]
        verified = user.email_verified_at.isoformat() if user.email_verified_at else ""
        return f"{user.pk}{user.email}{verified}{user.password}{timestamp}"

    def check_token(self, user: User | None, token: str | None) -> bool:  # type: ignore[override]
        # The parent checks against PASSWORD_RESET_TIMEOUT; a verification link lives longer.
        if not (user and token) or "-" not in token:
            return False
        try:
            issued = base36_to_int(token.split("-")[0])
        except ValueError:
            return False
        if self._num_seconds(self._now()) - issued > settings.EMAIL_VERIFICATION_TIMEOUT:
            return False
        return constant_time_compare(self._make_token_with_timestamp(user, issued, self.secret), token)


password_reset_tokens = PasswordResetTokens()
email_verification_tokens = EmailVerificationTokens()


def uid_encode(user: User) -> str:
    return urlsafe_base64_encode(force_bytes(user.pk))


def uid_decode(uidb64: str) -> User | None:
    try:
        pk = int(force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError):
        return None
    return User.objects.filter(pk=pk).first()


def signed_payload_make(payload: dict[str, object], *, salt: str) -> str:
    return signing.dumps(payload, salt=salt, compress=True)


def signed_payload_read(value: str, *, salt: str, max_age_seconds: int) -> dict[str, object] | None:
    try:
        data = signing.loads(value, salt=salt, max_age=max_age_seconds)
    except signing.BadSignature:
        return None
    return data if isinstance(data, dict) else None
