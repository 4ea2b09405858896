"""The customer's own changes to password and email (phone: wallet.services.phone).

A03: the current password is required and passwords are never truncated.
A11: every change is mailed, an email change to the old address too.
S02: a password or email change ends every other session and API token.
"""

from __future__ import annotations

from enum import StrEnum

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..errors import Refused
from ..models import AuthEvent, User, normalize_email, validate_ascii_email
from ..request_meta import RequestMeta
from ..tokens import signed_payload_read
from .auth_events import auth_event_record
from .notifications import EMAIL_CHANGE_SALT, notification_enqueue
from .sessions import credentials_revoke

EMAIL_CHANGE_MAX_AGE_SECONDS = 60 * 60

# One wording for every refusal, so a link cannot be used to learn whether an address has an account.
EMAIL_CHANGE_REFUSED = _(
    "This link cannot be used. It may have expired or been used already, or the address cannot be used for your account. "
    "Start the change again from your profile."
)


class EmailChangeRefused(Refused):
    """The email change link cannot be used; one wording for every reason (``EMAIL_CHANGE_REFUSED``)."""

    class Code(StrEnum):
        LINK_INVALID = "link_invalid"


def password_change(*, user: User, current_password: str, new_password: str, meta: RequestMeta, keep_session_key: str | None) -> None:
    """Raises ``ValidationError`` keyed by field (``current_password``, ``new_password``)."""
    if not user.check_password(current_password):
        raise ValidationError({"current_password": [_("Your current password is not correct.")]})
    if new_password == current_password:
        raise ValidationError({"new_password": [_("Choose a password different from your current one.")]})
    try:
        password_validation.validate_password(new_password, user)
    except ValidationError as exc:
        raise ValidationError({"new_password": exc.error_list}) from exc
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        locked.set_password(new_password)
        locked.save(update_fields=["password"])
        user.password = locked.password
        auth_event_record(kind=AuthEvent.Kind.PASSWORD_CHANGED, meta=meta, user=locked)
        notification_enqueue(user=locked, kind="password_changed")
        credentials_revoke(user=user, keep_session_key=keep_session_key)


def email_change_request(*, user: User, new_email: str, meta: RequestMeta) -> str:
    """Mail a confirmation link to ``new_email``; returns the normalised address.

    Raises ``ValidationError`` for a malformed address or the current one. An
    address that belongs to another account gets no mail, and the caller answers
    exactly as if it had (no account enumeration)."""
    email = normalize_email(new_email)
    validate_ascii_email(email)
    if email == user.email:
        raise ValidationError(_("This is already the email address on your account."), code="same")
    with transaction.atomic():
        if not User.objects.filter(email=email).exists():
            notification_enqueue(user=user, kind="email_change_verify", context={"new_email": email}, to_address=email)
    return email


def email_change_payload(*, token: str) -> dict[str, object] | None:
    return signed_payload_read(token, salt=EMAIL_CHANGE_SALT, max_age_seconds=EMAIL_CHANGE_MAX_AGE_SECONDS)


def email_change_confirm(*, user: User, token: str, meta: RequestMeta, keep_session_key: str | None) -> str:
    """Make the proved address the one on record. The link names the old address,
    so it works once. Raises ``EmailChangeRefused`` (one wording) otherwise."""
    payload = email_change_payload(token=token)
    if payload is None or payload.get("uid") != user.pk:
        raise EmailChangeRefused(EmailChangeRefused.Code.LINK_INVALID, EMAIL_CHANGE_REFUSED)
    old, new = str(payload.get("old") or ""), normalize_email(str(payload.get("new") or ""))
    try:
        validate_ascii_email(new)
    except ValidationError as exc:
        raise EmailChangeRefused(EmailChangeRefused.Code.LINK_INVALID, EMAIL_CHANGE_REFUSED) from exc
    try:
        with transaction.atomic():
            locked = User.objects.select_for_update().get(pk=user.pk)
            if locked.email != old or not new or User.objects.filter(email=new).exclude(pk=locked.pk).exists():
                raise EmailChangeRefused(EmailChangeRefused.Code.LINK_INVALID, EMAIL_CHANGE_REFUSED)
            locked.email = new
            locked.email_verified_at = timezone.now()
            locked.save(update_fields=["email", "email_verified_at"])
            user.email, user.email_verified_at = locked.email, locked.email_verified_at
            auth_event_record(kind=AuthEvent.Kind.EMAIL_CHANGED, meta=meta, user=locked, detail={"old": old, "new": new})
            notification_enqueue(user=locked, kind="email_changed", context={"old_email": old, "new_email": new}, to_address=old)
            credentials_revoke(user=user, keep_session_key=keep_session_key)
    except IntegrityError as exc:  # the address was taken between the check and the write
        raise EmailChangeRefused(EmailChangeRefused.Code.LINK_INVALID, EMAIL_CHANGE_REFUSED) from exc
    return new
