"""Set-based password reset of a batch of customer accounts (the SQL behind the back office's mass reset).

The wallet owns its tables: this is the only code that changes users, sessions,
API tokens, second factors and the outbox in bulk for a reset. The back office's
mass-reset job (``backoffice.services.mass_reset``) decides which batch comes next,
runs the lanes and records progress; it calls ``accounts_reset_batch`` for the work.

One statement per batch, never one ``save()`` per row and never a hash: it sets an
unusable password (Django's ``!`` prefix and a random suffix made by PostgreSQL), the
must-reset flag and ``credentials_changed_at`` (which kills any session the index
missed, S02), deletes the accounts' API tokens and live sessions (both the
``django_session`` rows and their ``UserSession`` index rows), optionally removes
second factors enrolled after a given time (recording a ``factor_removed`` event for
each), and queues one notice per reachable customer in the outbox. Balances, the
ledger and history are not touched. Nobody chooses or sees a password (R07).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection, transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from ..models import ApiToken, AuthEvent, BackupCode, BackupCodeDevice, Notification, User, UserSession

# The population condition is written on this alias of the user table.
USER_ALIAS = "u"


@dataclass(frozen=True)
class ResetNotice:
    """The notice queued for each reset customer, spaced so only a trickle is ever due.

    Customer ``n`` of the batch (in id order) gets ``send_after = slots_from + (slot_offset + n) / per_second``
    (never before ``now``).
    """

    kind: str
    context: Mapping[str, Any]
    slots_from: datetime
    slot_offset: int
    per_second: float


@dataclass(frozen=True)
class AccountsReset:
    """What one batch changed."""

    accounts: int
    sessions: int
    tokens: int
    factors: int
    notices: int


def _tables() -> dict[str, str]:
    return {
        "users": User._meta.db_table,
        "user_sessions": UserSession._meta.db_table,
        "sessions": Session._meta.db_table,
        "tokens": ApiToken._meta.db_table,
        "totp": TOTPDevice._meta.db_table,
        "backup_sets": BackupCodeDevice._meta.db_table,
        "backup_codes": BackupCode._meta.db_table,
        "notices": Notification._meta.db_table,
        "events": AuthEvent._meta.db_table,
    }


def _batch_sql(population: str, *, remove_factors: bool) -> str:
    """One statement for one batch (its counts come back as one row)."""
    t = _tables()
    factors = ""
    factor_counts = "0"
    if remove_factors:
        factors = f"""
        totp_removed AS (
            DELETE FROM {t["totp"]} d USING reset WHERE d.user_id = reset.id AND d.created_at > %(factors_after)s RETURNING d.user_id
        ), backup_sets AS (
            SELECT d.id, d.user_id FROM {t["backup_sets"]} d JOIN reset ON d.user_id = reset.id
            WHERE EXISTS (SELECT 1 FROM {t["events"]} e WHERE e.user_id = d.user_id AND e.kind = %(factor_added)s
                          AND e.detail ->> 'device' = 'backup' AND e.created_at > %(factors_after)s)
        ), backup_codes_removed AS (
            DELETE FROM {t["backup_codes"]} c USING backup_sets b WHERE c.device_id = b.id RETURNING 1
        ), backup_removed AS (
            DELETE FROM {t["backup_sets"]} d USING backup_sets b WHERE d.id = b.id RETURNING d.user_id
        ), factor_events AS (
            INSERT INTO {t["events"]} (user_id, kind, claimed_identifier, ip, user_agent, channel, detail, created_at)
            SELECT removed.user_id, %(factor_removed)s, '', NULL, '', 'staff',
                   jsonb_build_object('device', removed.device) || %(event_detail)s::jsonb, %(now)s
            FROM (SELECT user_id, 'totp' AS device FROM totp_removed
                  UNION ALL SELECT user_id, 'backup' FROM backup_removed) removed
            RETURNING 1
        ),"""  # noqa: S608 - our table names; values are parameters
        factor_counts = "(SELECT count(*) FROM totp_removed) + (SELECT count(*) FROM backup_removed)"
    # The random suffix is only there so no two unusable passwords are equal, as in
    # Django's make_password(None); the "!" prefix is what makes it unusable. Every
    # data-modifying part runs to completion whether or not the final SELECT reads it.
    return f"""
    WITH reset AS (
        UPDATE {t["users"]} {USER_ALIAS}
        SET password = '!' || left(md5(random()::text) || md5(random()::text), 40),
            must_reset_password = TRUE,
            credentials_changed_at = %(now)s
        WHERE {USER_ALIAS}.id > %(start)s AND {USER_ALIAS}.id <= %(end)s AND {population}
        RETURNING {USER_ALIAS}.id, {USER_ALIAS}.email, {USER_ALIAS}.preferred_language, {USER_ALIAS}.status,
                  {USER_ALIAS}.is_active, {USER_ALIAS}.email_verified_at
    ), web_sessions AS (
        DELETE FROM {t["user_sessions"]} s
        WHERE s.user_id > %(start)s AND s.user_id <= %(end)s AND s.ended_at IS NULL AND s.user_id IN (SELECT id FROM reset)
        RETURNING s.session_key
    ), django_sessions AS (
        DELETE FROM {t["sessions"]} d USING web_sessions w WHERE d.session_key = w.session_key RETURNING 1
    ), tokens AS (
        DELETE FROM {t["tokens"]} k
        WHERE k.user_id > %(start)s AND k.user_id <= %(end)s AND k.user_id IN (SELECT id FROM reset)
        RETURNING 1
    ),{factors} notices AS (
        INSERT INTO {t["notices"]} (user_id, to_address, kind, language, context, status, attempts, last_error, created_at, send_after)
        SELECT r.id, r.email, %(kind)s, coalesce(nullif(r.preferred_language, ''), %(language)s), %(context)s::jsonb,
               %(pending)s, 0, '', %(now)s,
               greatest(%(now)s, %(slots_from)s + (%(slot_offset)s + row_number() OVER (ORDER BY r.id)) * %(slot)s::interval)
        FROM reset r
        WHERE r.is_active AND r.status <> %(closed)s AND r.email_verified_at IS NOT NULL
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM reset), (SELECT count(*) FROM web_sessions),
           (SELECT count(*) FROM tokens), {factor_counts}, (SELECT count(*) FROM notices)
    """  # noqa: S608 - our table names; values are parameters


def accounts_reset_batch(
    *,
    after_id: int,
    through_id: int,
    population: str,
    population_params: Mapping[str, Any],
    now: datetime,
    notice: ResetNotice,
    factors_enrolled_after: datetime | None = None,
    event_detail: Mapping[str, Any] | None = None,
) -> AccountsReset:
    """Reset every account with ``after_id < id <= through_id`` that matches ``population``, in one statement.

    ``population`` is a SQL condition on the user table aliased ``u`` (``USER_ALIAS``) and
    ``population_params`` its named parameters (names must not clash with this statement's own:
    prefix them, e.g. ``p_``). ``factors_enrolled_after``: also remove second factors enrolled
    after that time; ``event_detail`` is added to the detail of each ``factor_removed`` event.

    Runs in the caller's transaction when there is one (a savepoint), so the caller can commit
    its own progress row together with the batch; the rows a batch changes are locked by the
    statement itself, users first. An error changes nothing.
    """
    if through_id < after_id:
        raise ValueError(f"The batch ends ({through_id}) before it starts ({after_id}).")
    if notice.per_second <= 0:
        raise ValueError(f"Notices must be spaced at a positive rate, not {notice.per_second}.")
    own: dict[str, Any] = {
        "start": after_id,
        "end": through_id,
        "now": now,
        "kind": notice.kind,
        "language": settings.LANGUAGE_CODE,
        "context": json.dumps(dict(notice.context)),
        "pending": Notification.Status.PENDING.value,
        "closed": User.Status.CLOSED.value,
        "slots_from": notice.slots_from,
        "slot_offset": notice.slot_offset,
        "slot": f"{1 / notice.per_second:.6f} seconds",
        "factors_after": factors_enrolled_after,
        "event_detail": json.dumps(dict(event_detail or {})),
        "factor_added": AuthEvent.Kind.FACTOR_ADDED.value,
        "factor_removed": AuthEvent.Kind.FACTOR_REMOVED.value,
    }
    clash = sorted(set(own) & set(population_params))
    if clash:
        raise ValueError(f"The population's parameters reuse the statement's names: {', '.join(clash)}.")
    params = {**population_params, **own}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_batch_sql(population, remove_factors=factors_enrolled_after is not None), params)
        row = cursor.fetchone()
    assert row is not None
    accounts, sessions, tokens, factors, notices = (int(value) for value in row)
    return AccountsReset(accounts=accounts, sessions=sessions, tokens=tokens, factors=factors, notices=notices)
