"""Ending sessions and API tokens (S02, S03)."""

from __future__ import annotations

from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from ..models import ApiToken, User, UserSession


def sessions_end(*, user: User, keep_session_key: str | None = None) -> int:
    """End every web session of ``user`` except ``keep_session_key``. Returns how many ended."""
    with transaction.atomic():
        live = UserSession.objects.select_for_update().filter(user=user, ended_at__isnull=True)
        if keep_session_key:
            live = live.exclude(session_key=keep_session_key)
        keys = list(live.values_list("session_key", flat=True))
        Session.objects.filter(session_key__in=keys).delete()
        UserSession.objects.filter(session_key__in=keys).update(ended_at=timezone.now())
    return len(keys)


def credentials_revoke(*, user: User, keep_session_key: str | None = None) -> None:
    """After a password, factor or status change: every other session and every API
    token of the user dies, now. ``credentials_changed_at`` moving also kills any
    session the index missed (checked by ``SessionTimeoutMiddleware``) and every
    outstanding reset or unlock link."""
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        locked.credentials_changed_at = timezone.now()
        locked.save(update_fields=["credentials_changed_at"])
        user.credentials_changed_at = locked.credentials_changed_at
        ApiToken.objects.filter(user=user).delete()
        sessions_end(user=user, keep_session_key=keep_session_key)
