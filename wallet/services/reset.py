"""Password reset (R01–R07): the link goes only to the verified address on record."""

from __future__ import annotations

from django.db import transaction

from ..models import AuthEvent, User, normalize_email
from ..request_meta import RequestMeta
from ..tokens import password_reset_tokens, uid_decode
from .auth_events import auth_event_record
from .notifications import after_response, notification_enqueue
from .sessions import credentials_revoke


def password_reset_request(*, email: str, meta: RequestMeta, send: bool = True) -> None:
    """Accept a reset request without looking at the account: the lookup and the mail
    happen in ``password_reset_mail``, run by a Celery task after this returns. The
    request path therefore does exactly the same work for known and unknown
    addresses, so neither its answer nor its timing tells them apart (R02, A12).
    ``send`` is False when the caller's per-address rate limit is spent: the request
    is still recorded, no mail leaves.
    """
    from ..tasks import password_reset_mail_queue

    normalized = normalize_email(email)
    # after_response: with eager Celery (the test suite) the lookup and the mail would otherwise run before the answer.
    transaction.on_commit(lambda: after_response(lambda: password_reset_mail_queue(email=normalized, send=send, meta=meta)))


def password_reset_mail(*, email: str, send: bool, meta: RequestMeta) -> bool:
    """Look the account up by the typed address and mail a reset link to the address
    ON RECORD (R01), never to anything taken from the request. Only a verified,
    active account gets a mail, queued in the outbox. Nothing on the account
    changes (R06). Returns whether a mail was queued."""
    normalized = normalize_email(email)
    with transaction.atomic():
        user = User.objects.filter(email=normalized).first()
        eligible = send and user is not None and user.is_active and user.status == User.Status.ACTIVE and user.email_verified_at is not None
        auth_event_record(
            kind=AuthEvent.Kind.PASSWORD_RESET_REQUESTED,
            meta=meta,
            user=user,
            claimed_identifier=normalized,
            detail={"mailed": bool(eligible)},
        )
        if eligible and user is not None:
            # to_address left at its default: user.email as stored.
            notification_enqueue(user=user, kind="password_reset")
    return bool(eligible)


def password_reset_user(*, uidb64: str, token: str) -> User | None:
    """The account a reset link is for, if the token is valid for its current state (R03)."""
    user = uid_decode(uidb64)
    if user is None or not password_reset_tokens.check_token(user, token):
        return None
    if not user.is_active or user.status != User.Status.ACTIVE:
        return None
    return user


def password_reset_complete(*, user: User, token: str, new_password: str, meta: RequestMeta) -> bool:
    """Set the new password; every session and API token ends (S02); the owner is told (A11).

    Does not log anyone in (R04): the user logs in again, second factor included.
    Re-checks the token under a row lock so two submissions cannot both pass.
    """
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if not password_reset_tokens.check_token(locked, token):
            return False
        locked.set_password(new_password)
        locked.must_reset_password = False
        locked.save(update_fields=["password", "must_reset_password"])
        credentials_revoke(user=locked, keep_session_key=None)
        auth_event_record(kind=AuthEvent.Kind.PASSWORD_RESET_COMPLETED, meta=meta, user=locked)
        notification_enqueue(user=locked, kind="password_reset_completed", context={"ip": meta.ip or ""})
    user.password = locked.password
    user.credentials_changed_at = locked.credentials_changed_at
    return True
