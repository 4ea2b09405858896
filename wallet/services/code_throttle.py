"""Throttling wrong second-factor codes without handing an attacker the owner's lock (A15).

django-otp throttles a *device*: every wrong code, from anyone, delays the next
check of that authenticator or backup-code set, so whoever knows the password can
keep the owner's correct code refused. Here failures are counted per source
instead, in Redis:

- per account and client address, and per account and browser/app device id:
  an attacker's guesses slow down that attacker only;
- per account across every device that has never completed a login on it (an
  attacker rotating addresses and devices): past the cap, unknown devices are
  refused for the window, while
- a known device (one that has logged in with the second factor before) is
  exempt, and a session that has just proven a contact on record (an SMS code to
  the verified phone or a link to the verified email) is exempt from the
  per-account cap. That is the recovery path: the owner always keeps a way to
  type their code, and the code is still required.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from ..devices import device_digest, device_is_known
from ..models import User
from ..request_meta import RequestMeta


@dataclass(frozen=True)
class CodeSource:
    """Where a code comes from: the client address, the browser/app device id, and
    whether this session or token has just proven a contact on record."""

    ip: str | None
    device_id: str | None = None
    contact_proven: bool = False
    # Set when the caller already knows the device is one of the account's (an app token bound to one).
    known_device: bool = False

    @classmethod
    def of(cls, meta: RequestMeta, device_id: str | None = None, *, contact_proven: bool = False) -> CodeSource:
        return cls(ip=meta.ip, device_id=device_id or None, contact_proven=contact_proven)


def _keys(user: User, source: CodeSource) -> tuple[list[str], str]:
    per_source = [f"codes:ip:{user.pk}:{source.ip or 'unknown'}"]
    if source.device_id:
        per_source.append(f"codes:dev:{user.pk}:{device_digest(source.device_id)}")
    return per_source, f"codes:unknown-devices:{user.pk}"


def _known(user: User, source: CodeSource) -> bool:
    return source.known_device or device_is_known(user, source.device_id)


def code_check_allowed(*, user: User, source: CodeSource) -> bool:
    """Whether a code from ``source`` may be checked now. A known device always may."""
    if _known(user, source):
        return True
    per_source, account_wide = _keys(user, source)
    counts = cache.get_many([*per_source, account_wide])
    if any(int(counts.get(key) or 0) >= settings.CODE_FAILURES_PER_SOURCE for key in per_source):
        return False
    return source.contact_proven or int(counts.get(account_wide) or 0) < settings.CODE_FAILURES_UNKNOWN_DEVICES


def code_failure_record(*, user: User, source: CodeSource) -> None:
    """Count one wrong code against its source (a known device's own mistakes are not counted)."""
    if _known(user, source):
        return
    per_source, account_wide = _keys(user, source)
    timeout = int(settings.CODE_THROTTLE_WINDOW.total_seconds())
    for key in [*per_source, account_wide]:
        cache.add(key, 0, timeout)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout)


def code_source_blocked_by_account_cap(*, user: User, source: CodeSource) -> bool:
    """True when only the per-account cap refuses ``source``: proving a contact on record lifts it."""
    if _known(user, source) or source.contact_proven:
        return False
    per_source, account_wide = _keys(user, source)
    counts = cache.get_many([*per_source, account_wide])
    source_ok = all(int(counts.get(key) or 0) < settings.CODE_FAILURES_PER_SOURCE for key in per_source)
    return source_ok and int(counts.get(account_wide) or 0) >= settings.CODE_FAILURES_UNKNOWN_DEVICES
