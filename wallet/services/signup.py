"""Sign-up: email proved by a link, phone by an SMS code (wallet.services.phone).

A12: the caller answers the same for a new address and a taken one. Every branch
hashes the password and runs the same number of queries; what differs is only
which mail the address receives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import AuthEvent, Notification, User, normalize_email, validate_ascii_email
from ..request_meta import RequestMeta
from ..tokens import email_verification_tokens, uid_decode
from .auth_events import auth_event_record
from .notifications import notification_enqueue
from .switches import channel_check

# The owner of a verified address hears about a sign-up attempt at most this often.
EXISTING_ACCOUNT_NOTICE_INTERVAL = timedelta(hours=1)


@dataclass(frozen=True)
class SignupDetails:
    email: str
    password: str
    full_name: str
    name_kana: str
    phone: str  # E.164
    birth_date: date | None = None


class InvalidVerificationLink(Exception):
    """Expired, already used, or not ours."""


def signup_submit(*, details: SignupDetails, meta: RequestMeta, language: str = "ja") -> None:
    """Register ``details`` or, if the address is taken, tell its owner. Raises
    ``ChannelDisabled`` (before anything is written) when sign-up is switched off.

    - new address: an unverified user and an ``email_verify`` mail;
    - unverified account: nobody proved they own it, so its details and password
      are replaced and a new link is sent (older links die with the old password);
    - verified account: nothing changes; ``signup_existing_account`` tells the owner.
    """
    channel_check("signup")
    email = normalize_email(details.email)
    validate_ascii_email(email)
    password_hash = make_password(details.password)
    fields: dict[str, Any] = {
        "full_name": details.full_name,
        "name_kana": details.name_kana,
        "phone": details.phone,
        "birth_date": details.birth_date,
        "password": password_hash,
        "preferred_language": language,
    }
    try:
        with transaction.atomic():
            _signup_write(email=email, fields=fields, meta=meta)
    except IntegrityError:
        # Two sign-ups for the same new address at once: the loser acts as the second one.
        with transaction.atomic():
            _signup_write(email=email, fields=fields, meta=meta)


def _signup_write(*, email: str, fields: dict[str, Any], meta: RequestMeta) -> None:
    existing = User.objects.select_for_update().filter(email=email).first()
    if existing is None:
        user = User.objects.create(email=email, **fields)
        auth_event_record(kind=AuthEvent.Kind.SIGNUP, meta=meta, user=user, detail={"outcome": "new"})
        notification_enqueue(user=user, kind="email_verify")
        return
    if existing.email_verified_at is None:
        for name, value in fields.items():
            setattr(existing, name, value)
        existing.save(update_fields=list(fields))
        auth_event_record(kind=AuthEvent.Kind.SIGNUP, meta=meta, user=existing, detail={"outcome": "replaced_unverified"})
        notification_enqueue(user=existing, kind="email_verify")
        return
    # Verified: change nothing. One notice per interval so sign-up cannot be used to flood the owner.
    recently_told = Notification.objects.filter(
        user=existing, kind="signup_existing_account", created_at__gte=timezone.now() - EXISTING_ACCOUNT_NOTICE_INTERVAL
    ).exists()
    auth_event_record(kind=AuthEvent.Kind.SIGNUP, meta=meta, user=existing, detail={"outcome": "existing_verified"})
    if not recently_told:
        notification_enqueue(user=existing, kind="signup_existing_account")


def signup_link_check(*, uidb64: str, token: str) -> User | None:
    """The user a verification link belongs to, if the link is still good (read only)."""
    user = uid_decode(uidb64)
    if user is None or user.email_verified_at is not None or not user.is_active:
        return None
    return user if email_verification_tokens.check_token(user, token) else None


def signup_email_verify(*, uidb64: str, token: str, meta: RequestMeta) -> User:
    """Mark the address verified. The token hashes ``email_verified_at``, so it works
    once; the row lock makes two parallel clicks verify once."""
    user = uid_decode(uidb64)
    if user is None:
        raise InvalidVerificationLink
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.email_verified_at is not None or not locked.is_active or not email_verification_tokens.check_token(locked, token):
            raise InvalidVerificationLink
        locked.email_verified_at = timezone.now()
        locked.save(update_fields=["email_verified_at"])
        auth_event_record(kind=AuthEvent.Kind.EMAIL_VERIFIED, meta=meta, user=locked)
    return locked


def signup_link_resend(*, email: str, meta: RequestMeta) -> None:
    """A new link for an account still waiting for email verification; for any other
    address nothing happens (the caller answers the same either way)."""
    email = normalize_email(email)
    with transaction.atomic():
        user = User.objects.select_for_update().filter(email=email, email_verified_at__isnull=True, is_active=True).first()
        if user is not None:
            notification_enqueue(user=user, kind="email_verify")
