"""Mass password reset (issue 4 §8; B04, R07, S02, T12).

Request and approval
    A supervisor (``backoffice.run_massreset``) asks for a reset of the whole
    customer base or of a filtered part (``selectors.mass_reset.population_condition``)
    with a reason and, optionally, "remove second factors enrolled after <time>"
    (an attacker may have enrolled their own). ``mass_reset_request`` creates the
    job (state ``awaiting``) and an ``Approval``; a second supervisor approves it
    (``approvals.approval_approve`` → ``mass_reset_execute``): the population is
    fixed (``cutoff_user_id``: later sign-ups are never reset; ``as_of``: later
    logins cannot add anyone), counted exactly, the job is queued and its lanes
    start once that commits. Staff accounts are never in the population, and
    nobody chooses or sees a password (R07).

The job
    Set-based SQL in keyset batches over the user id, never one ``save()`` per row
    and never a hash: one statement per batch sets an unusable password (Django's
    ``!`` prefix and a random suffix made by PostgreSQL), the must-reset flag and
    ``credentials_changed_at`` (which kills any session the index missed, S02),
    deletes the users' API tokens and live sessions (both the ``django_session``
    rows and their ``UserSession`` index rows), removes second factors enrolled
    after the given time, and queues one notice per customer in the outbox. The
    cursor (``last_user_id``), counters and heartbeat are updated in the same
    transaction, so a batch is either entirely done and recorded or not at all.
    Balances, the ledger and history are not touched.

Lanes: parallel batches, one cursor
    ``MASS_RESET_LANES`` Celery tasks (queue ``bulk``) work on the same job at once.
    A lane claims the next batch that no other lane holds (a transaction-scoped
    advisory lock on the batch's first id; the batch ends at the
    ``batch_size``-th customer after it), does the work, then waits for the lane
    of the batch just before its own to finish and commits only if the committed
    cursor is exactly where its batch starts; otherwise it rolls back and tries
    again. So the batches that commit are contiguous and disjoint whatever the
    timing: no account is reset twice and none is skipped, while the heavy work
    of two batches overlaps on two cores. A lane that finds every batch within
    reach taken waits for the earliest one: if the cursor then moves, enough
    lanes are at work and it leaves (extra lanes from a re-delivery collapse);
    if not, the holder was a dead worker and it carries on in its place.

Pause, resume, cancel
    Compare-and-set on the state. A lane commits a batch only while the job is
    ``running`` and checks the state before each batch, so a pause or a cancel
    takes effect within one batch and nothing is reset after it. Resume queues
    the lanes again; they continue from the cursor.

A killed worker (T12)
    Tasks are acknowledged late, so the broker redelivers a lost one; a lane's
    batch dies with its database connection (``client_connection_check_interval``
    makes PostgreSQL notice a dead client during a long statement) and nothing of
    it is kept. ``backoffice.tasks.mass_reset_watchdog`` (on the beat, and once
    whenever a worker starts, see ``backoffice.tasks.mass_reset``) starts lanes
    for every queued or running job whose heartbeat is stale, and a starting
    worker does it for every queued or running job at once; duplicate lanes are
    harmless (above). Running the task twice is therefore safe.

Notices
    Inserted per batch with ``send_after`` spaced at ``MASS_RESET_NOTICES_PER_SECOND``
    from the job's start (the slot is the customer's position in the job), so
    only a trickle is ever due and password-reset links and receipts are not
    stuck behind a million notices. ``mass_reset_notices_send`` (a paced task on
    the ``notifications`` queue, one at a time) delivers them as they fall due
    through the outbox's own ``notification_deliver``; the outbox relay also
    sends any that are due. The notice has no link with a token: the customer
    goes to the login, which guides them to a reset link mailed to the address
    on record.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext
from django_otp.plugins.otp_totp.models import TOTPDevice

from wallet.models import ApiToken, AuthEvent, BackupCode, BackupCodeDevice, Notification, User, UserSession
from wallet.services.login import RESET_NOTICE_CACHE_KEY, security_reset_notice_refresh
from wallet.services.notifications import notification_deliver

from ..models import Approval, Case, Hunt, MassReset
from ..selectors.mass_reset import NOTICE_KIND, USER_TABLE, customers_max_id, population_condition, population_count
from .audit import staff_action_record

MASS_RESET_REQUEST_PERMISSION = "backoffice.run_massreset"
MASS_RESET_RUN_PERMISSION = "backoffice.run_massreset"
# Lanes working on one job at once (and how far ahead a lane looks for a free batch).
LANES = int(getattr(settings, "MASS_RESET_LANES", 2))
# Notices fall due at this rate; kept below NOTIFICATIONS_PER_SECOND so other mail still flows.
NOTICES_PER_SECOND = float(getattr(settings, "MASS_RESET_NOTICES_PER_SECOND", 20))
# A lane waits this long for a lock (the batch before it, the job row) before giving up and retrying.
LOCK_WAIT = "60s"
# PostgreSQL checks this often whether the lane's client is still there during a statement.
CLIENT_CHECK = "2s"
# With no committed batch for this long, the watchdog starts lanes again.
STALE_AFTER = timedelta(seconds=int(getattr(settings, "MASS_RESET_STALE_SECONDS", 120)))
BATCH_SIZE_MIN, BATCH_SIZE_MAX = 1, 50_000
_SAME_PLACE = "anzenpay.mass_reset:%s:%s"


class MassResetRefused(Exception):
    """The request or the change is not allowed; ``code`` says why, the message says it to a person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- Request ---------------------------------------------------------------------------


def _moment(value: object, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    moment = value if isinstance(value, datetime) else parse_datetime(str(value))
    if moment is None:
        raise MassResetRefused("invalid_date", gettext("“%(field)s” is not a date and time.") % {"field": field})
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def mass_reset_filters_clean(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Check and normalise who is to be reset; returns the JSON stored on the job.

    ``{"all": True}`` for the whole customer base, or any of ``joined_from`` /
    ``joined_until``, ``active_from`` / ``active_until`` (datetimes or ISO text),
    ``case_ids`` (ids of cases) and ``hunt_id`` (a finished hunt), combined with AND.
    """
    unknown = set(raw) - {"all", "joined_from", "joined_until", "active_from", "active_until", "case_ids", "hunt_id"}
    if unknown:
        raise MassResetRefused("invalid_filters", gettext("Unknown criteria: %(names)s.") % {"names": ", ".join(sorted(unknown))})
    if raw.get("all"):
        if any(value not in (None, "", [], False) for key, value in raw.items() if key != "all"):
            raise MassResetRefused("all_and_filters", gettext("Choose either the whole customer base or criteria, not both."))
        return {"all": True}
    now = timezone.now()
    cleaned: dict[str, Any] = {}
    for start_key, end_key in (("joined_from", "joined_until"), ("active_from", "active_until")):
        start, end = _moment(raw.get(start_key), start_key), _moment(raw.get(end_key), end_key)
        if start is not None and end is not None and start >= end:
            raise MassResetRefused("period_order", gettext("Each period must start before it ends."))
        if start is not None and start > now:
            raise MassResetRefused("period_future", gettext("A period cannot start in the future: nobody would match."))
        if start is not None:
            cleaned[start_key] = start.isoformat()
        if end is not None:
            cleaned[end_key] = end.isoformat()
    case_ids = raw.get("case_ids") or []
    if case_ids:
        try:
            ids = sorted({int(case_id) for case_id in case_ids})
        except (TypeError, ValueError):
            raise MassResetRefused("invalid_cases", gettext("Case numbers must be whole numbers.")) from None
        found = set(Case.objects.filter(pk__in=ids).values_list("pk", flat=True))
        if found != set(ids):
            missing = ", ".join(f"#{case_id}" for case_id in ids if case_id not in found)
            raise MassResetRefused("unknown_cases", gettext("There is no case %(ids)s.") % {"ids": missing})
        cleaned["case_ids"] = ids
    hunt_id = raw.get("hunt_id")
    if hunt_id not in (None, ""):
        try:
            hunt = Hunt.objects.filter(pk=int(str(hunt_id))).first()
        except ValueError:
            hunt = None
        if hunt is None:
            raise MassResetRefused("unknown_hunt", gettext("There is no such look-back hunt."))
        if hunt.state != Hunt.State.DONE:
            raise MassResetRefused("hunt_not_finished", gettext("Choose a hunt that has finished: its hits are not final yet."))
        cleaned["hunt_id"] = hunt.pk
    if not cleaned:
        raise MassResetRefused("no_population", gettext("Choose the whole customer base or at least one criterion."))
    return cleaned


def mass_reset_estimate(filters: Mapping[str, Any]) -> int:
    """How many customer accounts a request with these criteria would reset now."""
    return population_count(mass_reset_filters_clean(filters), cutoff_user_id=customers_max_id())


def _payload(job: MassReset) -> dict[str, Any]:
    return {
        "mass_reset_id": job.pk,
        "accounts_estimated": job.accounts_estimated,
        "filters": job.filters,
        "remove_factors_enrolled_after": job.remove_factors_enrolled_after.isoformat() if job.remove_factors_enrolled_after else None,
    }


def mass_reset_request(
    *,
    filters: Mapping[str, Any],
    reason: str,
    acting_user: User,
    remove_factors_enrolled_after: datetime | None = None,
    batch_size: int | None = None,
    ip: str | None = None,
) -> MassReset:
    """Create the job (waiting for approval) and its approval request, in one transaction.

    Raises ``MassResetRefused`` for bad input or a missing permission, and
    ``ApprovalRefused`` from the approval request; nothing is kept then.
    """
    from .approvals import approval_request

    if not acting_user.has_perm(MASS_RESET_REQUEST_PERMISSION):
        raise MassResetRefused("not_allowed", gettext("You are not allowed to request a mass password reset."))
    reason = reason.strip()
    if not reason:
        raise MassResetRefused("no_reason", gettext("A reason is required."))
    cleaned = mass_reset_filters_clean(filters)
    if remove_factors_enrolled_after is not None and remove_factors_enrolled_after > timezone.now():
        raise MassResetRefused("factors_future", gettext("The time for removing second factors must be in the past."))
    size = batch_size or MassReset._meta.get_field("batch_size").get_default()
    if not BATCH_SIZE_MIN <= size <= BATCH_SIZE_MAX:
        raise MassResetRefused("batch_size", gettext("The batch size is out of range."))
    with transaction.atomic():
        estimate = population_count(cleaned, cutoff_user_id=customers_max_id())
        if estimate == 0:
            raise MassResetRefused("empty", gettext("No customer account matches these criteria. Nothing was requested."))
        job = MassReset.objects.create(
            reason=reason,
            filters=cleaned,
            remove_factors_enrolled_after=remove_factors_enrolled_after,
            accounts_estimated=estimate,
            batch_size=size,
            created_by=acting_user,
        )
        approval = approval_request(kind=Approval.Kind.MASS_RESET, payload=_payload(job), reason=reason, maker=acting_user, ip=ip)
        job.approval = approval
        job.save(update_fields=["approval"])
        staff_action_record(
            acting_user=acting_user,
            action="mass_reset.request",
            target=job,
            after={**_payload(job), "approval": approval.pk},
            reason=reason,
            ip=ip,
        )
    return job


def mass_reset_validate(payload: dict[str, Any]) -> None:
    """Approval executor check at request time: the payload is this job's, and the job waits for its first approval."""
    from .approvals import ApprovalRefused

    job_id = payload.get("mass_reset_id")
    if set(payload) != {"mass_reset_id", "accounts_estimated", "filters", "remove_factors_enrolled_after"} or not isinstance(job_id, int):
        raise ApprovalRefused("invalid_payload", gettext("The request must name one mass reset."))
    job = MassReset.objects.filter(pk=job_id).first()
    if job is None or job.state != MassReset.State.AWAITING_APPROVAL or job.approval_id is not None or payload != _payload(job):
        raise ApprovalRefused("invalid_payload", gettext("There is no such mass reset waiting for approval."))


def mass_reset_execute(approval: Approval, checker: User, ip: str | None) -> None:
    """Approval executor, inside the approval's transaction: fix the population, count it, queue the job."""
    from .approvals import ApprovalRefused

    job = MassReset.objects.select_for_update().get(pk=approval.payload["mass_reset_id"])
    if job.approval_id != approval.pk or job.state != MassReset.State.AWAITING_APPROVAL:
        raise ApprovalRefused(
            "not_awaiting", gettext("This mass reset is no longer waiting for approval (%(state)s).") % {"state": job.get_state_display()}
        )
    now = timezone.now()
    job.cutoff_user_id = customers_max_id()
    job.filters = {**job.filters, "as_of": now.isoformat()}
    job.accounts_estimated = population_count(job.filters, cutoff_user_id=job.cutoff_user_id)
    job.state = MassReset.State.QUEUED
    job.heartbeat_at = now
    job.save(update_fields=["cutoff_user_id", "filters", "accounts_estimated", "state", "heartbeat_at"])
    staff_action_record(
        acting_user=checker,
        action="mass_reset.approve",
        target=job,
        before={"state": MassReset.State.AWAITING_APPROVAL},
        after={
            "state": job.state,
            "approval": approval.pk,
            "maker": approval.maker.email,
            "cutoff_user_id": job.cutoff_user_id,
            "accounts": job.accounts_estimated,
        },
        reason=approval.reason,
        ip=ip,
    )
    job_id = job.pk
    transaction.on_commit(lambda: _lanes_start(job_id))


def _lanes_start(job_id: int) -> None:
    from ..tasks.mass_reset import mass_reset_lanes_start

    mass_reset_lanes_start(job_id)


# --- Pause, resume, cancel ------------------------------------------------------------------

_CONTROL: dict[str, tuple[tuple[str, ...], str]] = {
    "pause": ((MassReset.State.QUEUED, MassReset.State.RUNNING), MassReset.State.PAUSED),
    "resume": ((MassReset.State.PAUSED,), MassReset.State.QUEUED),
    "cancel": (
        (MassReset.State.AWAITING_APPROVAL, MassReset.State.QUEUED, MassReset.State.RUNNING, MassReset.State.PAUSED),
        MassReset.State.CANCELLED,
    ),
}


def mass_reset_control(*, mass_reset: MassReset, action: str, acting_user: User, reason: str = "", ip: str | None = None) -> MassReset:
    """Pause, resume or cancel: a compare-and-set on the state, audited. Lanes see it before their next batch."""
    if action not in _CONTROL:
        raise MassResetRefused("invalid_action", gettext("Unknown action."))
    if not acting_user.has_perm(MASS_RESET_RUN_PERMISSION):
        raise MassResetRefused("not_allowed", gettext("You are not allowed to pause, resume or cancel a mass password reset."))
    allowed, target = _CONTROL[action]
    now = timezone.now()
    changes: dict[str, Any] = {"state": target}
    if target == MassReset.State.CANCELLED:
        changes["finished_at"] = now
    if target == MassReset.State.QUEUED:
        changes["heartbeat_at"] = now
    with transaction.atomic():
        before = MassReset.objects.filter(pk=mass_reset.pk).values_list("state", flat=True).first()
        updated = MassReset.objects.filter(pk=mass_reset.pk, state__in=allowed).update(**changes)
        job = MassReset.objects.get(pk=mass_reset.pk)
        if not updated:
            raise MassResetRefused(
                "state_changed",
                gettext("This mass reset is %(state)s now, so it cannot be changed that way.") % {"state": job.get_state_display()},
            )
        staff_action_record(
            acting_user=acting_user,
            action=f"mass_reset.{action}",
            target=job,
            before={"state": before},
            after={"state": job.state, "accounts_reset": job.accounts_reset, "last_user_id": job.last_user_id},
            reason=reason.strip(),
            ip=ip,
        )
        if target == MassReset.State.QUEUED:
            job_id = job.pk
            transaction.on_commit(lambda: _lanes_start(job_id))
    return job


def mass_resets_decisions_reconcile() -> int:
    """Jobs whose approval was rejected or expired will never run: mark them rejected."""
    now = timezone.now()
    waiting = MassReset.objects.filter(state=MassReset.State.AWAITING_APPROVAL, approval__isnull=False).select_related("approval")
    ended = 0
    for job in waiting:
        approval = job.approval
        assert approval is not None
        if approval.state in (Approval.State.REJECTED, Approval.State.EXPIRED) or (
            approval.state == Approval.State.PENDING and approval.expires_at <= now
        ):
            with transaction.atomic():
                if MassReset.objects.filter(pk=job.pk, state=MassReset.State.AWAITING_APPROVAL).update(
                    state=MassReset.State.REJECTED, finished_at=now
                ):
                    staff_action_record(
                        acting_user=None,
                        action="mass_reset.rejected",
                        target=job,
                        before={"state": MassReset.State.AWAITING_APPROVAL},
                        after={"state": MassReset.State.REJECTED, "approval": approval.pk, "approval_state": approval.state},
                    )
                    ended += 1
    return ended


# --- The job ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchResult:
    """``reset``: a batch was committed; ``finished``: the job is done; ``stopped``: not running;
    ``busy``: every batch within reach is held by another lane; ``conflict``: rolled back, try again."""

    outcome: str
    accounts: int = 0
    start: int = 0


class _Abandon(Exception):
    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


def _tables() -> dict[str, str]:
    return {
        "users": USER_TABLE,
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
                   jsonb_build_object('device', removed.device, 'mass_reset', %(job)s), %(now)s
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
        UPDATE {t["users"]} u
        SET password = '!' || left(md5(random()::text) || md5(random()::text), 40),
            must_reset_password = TRUE,
            credentials_changed_at = %(now)s
        WHERE u.id > %(start)s AND u.id <= %(end)s AND {population}
        RETURNING u.id, u.email, u.preferred_language, u.status, u.is_active, u.email_verified_at
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


def _statement_settings(cursor: Any) -> None:
    # JIT compiling the batch statement costs more than running it; a dead client is noticed within
    # CLIENT_CHECK. The commit does not wait for the WAL flush: a batch lost in a database crash is
    # lost together with its cursor, so the job simply does it again.
    cursor.execute(
        f"SET LOCAL jit = off; SET LOCAL lock_timeout = '{LOCK_WAIT}'; "
        f"SET LOCAL client_connection_check_interval = '{CLIENT_CHECK}'; SET LOCAL synchronous_commit = off"
    )


def _boundary(cursor: Any, job: MassReset, population: str, params: dict[str, Any], start: int) -> int:
    """The last id of the batch that starts after ``start``: the ``batch_size``-th customer, or the cutoff."""
    assert job.cutoff_user_id is not None
    cursor.execute(
        f"SELECT u.id FROM {USER_TABLE} u WHERE u.id > %(b_start)s AND u.id <= %(b_cutoff)s AND {population} "  # noqa: S608
        "ORDER BY u.id OFFSET %(b_skip)s LIMIT 1",
        {**params, "b_start": start, "b_cutoff": job.cutoff_user_id, "b_skip": job.batch_size - 1},
    )
    row = cursor.fetchone()
    return int(row[0]) if row else job.cutoff_user_id


def _try_claim(cursor: Any, job_id: int, start: int) -> bool:
    cursor.execute("SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))", [_SAME_PLACE % (job_id, start)])
    row = cursor.fetchone()
    return bool(row and row[0])


def _lock_wait_timed_out(exc: OperationalError) -> bool:
    return getattr(getattr(exc, "__cause__", None), "sqlstate", None) == "55P03"


def _finish(job: MassReset, now: datetime) -> None:
    job.state = MassReset.State.DONE
    job.finished_at = now
    staff_action_record(
        acting_user=None,
        action="mass_reset.finish",
        target=job,
        before={"state": MassReset.State.RUNNING},
        after={
            "state": job.state,
            "accounts_reset": job.accounts_reset,
            "sessions_ended": job.sessions_ended,
            "tokens_deleted": job.tokens_deleted,
            "factors_removed": job.factors_removed,
            "notices_queued": job.notices_queued,
        },
    )


def mass_reset_batch(*, mass_reset_id: int, lanes: int = LANES) -> BatchResult:
    """Claim, reset and record one batch, in one transaction (see the module docstring)."""
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                _statement_settings(cursor)
                job = MassReset.objects.filter(pk=mass_reset_id).first()
                if job is None or job.state != MassReset.State.RUNNING or job.cutoff_user_id is None:
                    return BatchResult("stopped")
                now = timezone.now()
                committed = job.last_user_id
                if committed >= job.cutoff_user_id:
                    locked = MassReset.objects.select_for_update().get(pk=mass_reset_id)
                    if locked.state != MassReset.State.RUNNING:
                        return BatchResult("stopped")
                    _finish(locked, now)
                    locked.save(update_fields=["state", "finished_at"])
                    return BatchResult("finished")
                population, params = population_condition(job.filters)
                start, predecessor, position = committed, None, 0
                while True:
                    end = _boundary(cursor, job, population, params, start)
                    if _try_claim(cursor, mass_reset_id, start):
                        break
                    position += 1
                    if position >= lanes or end >= job.cutoff_user_id:
                        return BatchResult("busy", start=committed)
                    predecessor, start = start, end
                factors_after = job.remove_factors_enrolled_after
                local = timezone.localtime(now)
                context = {
                    "mass_reset": job.pk,
                    "reset_date": local.strftime("%Y-%m-%d"),
                    "reset_time": local.strftime("%H:%M"),
                    "factors_removed_after": timezone.localtime(factors_after).strftime("%Y-%m-%d %H:%M") if factors_after else "",
                }
                cursor.execute(
                    _batch_sql(population, remove_factors=factors_after is not None),
                    {
                        **params,
                        "start": start,
                        "end": end,
                        "now": now,
                        "job": job.pk,
                        "kind": NOTICE_KIND,
                        "language": settings.LANGUAGE_CODE,
                        "context": json.dumps(context),
                        "pending": Notification.Status.PENDING.value,
                        "closed": User.Status.CLOSED.value,
                        "slots_from": job.started_at or now,
                        # Every batch before this one in the job holds exactly batch_size accounts.
                        "slot_offset": job.accounts_reset + position * job.batch_size,
                        "slot": f"{1 / NOTICES_PER_SECOND:.6f} seconds",
                        "factors_after": factors_after,
                        "factor_added": AuthEvent.Kind.FACTOR_ADDED.value,
                        "factor_removed": AuthEvent.Kind.FACTOR_REMOVED.value,
                    },
                )
                row = cursor.fetchone()
                assert row is not None
                accounts, sessions, tokens, factors, notices = (int(value) for value in row)
                if predecessor is not None:
                    # Commit order = batch order: wait for the lane of the batch just before this one.
                    cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [_SAME_PLACE % (mass_reset_id, predecessor)])
            locked = MassReset.objects.select_for_update().get(pk=mass_reset_id)
            if locked.state != MassReset.State.RUNNING:
                raise _Abandon("stopped")
            if locked.last_user_id != start:
                raise _Abandon("conflict")
            locked.last_user_id = end
            locked.accounts_reset += accounts
            locked.sessions_ended += sessions
            locked.tokens_deleted += tokens
            locked.factors_removed += factors
            locked.notices_queued += notices
            locked.heartbeat_at = timezone.now()
            fields = [
                "last_user_id",
                "accounts_reset",
                "sessions_ended",
                "tokens_deleted",
                "factors_removed",
                "notices_queued",
                "heartbeat_at",
            ]
            if end >= job.cutoff_user_id:
                _finish(locked, locked.heartbeat_at)
                fields += ["state", "finished_at"]
            locked.save(update_fields=fields)
    except _Abandon as abandoned:
        return BatchResult(abandoned.outcome)
    except OperationalError as exc:
        if _lock_wait_timed_out(exc):
            return BatchResult("conflict")
        raise
    finished = end >= job.cutoff_user_id
    if accounts and (start == 0 or finished):
        # The login's "did AnzenPay reset your password?" notice shows from the first batch on.
        security_reset_notice_refresh()
    return BatchResult("finished" if finished else "reset", accounts=accounts, start=start)


def _batch_released(mass_reset_id: int, start: int) -> bool:
    """Wait until no lane holds the batch at ``start``. True if the cursor has moved meanwhile
    (a live lane is at work), False if it has not (the holder gave up or died)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'")
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [_SAME_PLACE % (mass_reset_id, start)])
    except OperationalError as exc:
        if not _lock_wait_timed_out(exc):
            raise
        return True
    cursor_now = MassReset.objects.filter(pk=mass_reset_id).values_list("last_user_id", flat=True).first()
    return cursor_now != start


def mass_reset_start(*, mass_reset_id: int) -> bool:
    """A lane is about to work: a queued job becomes running (the first time, audited). True if it runs."""
    state = MassReset.objects.filter(pk=mass_reset_id).values_list("state", flat=True).first()
    if state == MassReset.State.RUNNING:
        return True
    if state != MassReset.State.QUEUED:
        return False
    with transaction.atomic():
        job = MassReset.objects.select_for_update().get(pk=mass_reset_id)
        if job.state != MassReset.State.QUEUED:
            return job.state == MassReset.State.RUNNING
        now = timezone.now()
        first = job.started_at is None
        job.state = MassReset.State.RUNNING
        job.started_at = job.started_at or now
        job.heartbeat_at = now
        job.save(update_fields=["state", "started_at", "heartbeat_at"])
        if first:
            staff_action_record(
                acting_user=None,
                action="mass_reset.start",
                target=job,
                before={"state": MassReset.State.QUEUED},
                after={"state": job.state, "cutoff_user_id": job.cutoff_user_id, "accounts": job.accounts_estimated},
            )
        transaction.on_commit(_notices_pump_start)
    return True


def _notices_pump_start() -> None:
    from ..tasks.mass_reset import notices_sender_start

    notices_sender_start()


def mass_reset_run(*, mass_reset_id: int, seconds: float, lanes: int = LANES) -> str:
    """One lane for up to ``seconds``: batches until the job stops or finishes.

    Returns ``continue`` (time is up, more to do), ``finished``, ``stopped`` (paused,
    cancelled or not running) or ``redundant`` (enough other lanes are at work).
    """
    if not mass_reset_start(mass_reset_id=mass_reset_id):
        return "stopped"
    deadline = time.monotonic() + seconds
    conflicts = 0
    while True:
        result = mass_reset_batch(mass_reset_id=mass_reset_id, lanes=lanes)
        if result.outcome in ("stopped", "finished"):
            return result.outcome
        if result.outcome == "busy":
            if _batch_released(mass_reset_id, result.start):
                return "redundant"
            continue
        if result.outcome == "conflict":
            conflicts += 1
            # The batch before ours was rolled back; the next round starts from the committed cursor.
            time.sleep(min(0.05 * conflicts, 1.0))
            continue
        conflicts = 0
        if time.monotonic() >= deadline:
            return "continue"


def mass_reset_login_notice_keep() -> None:
    """Recompute the login's reset notice when the cache has lost it (a restart, its expiry)."""
    if cache.get(RESET_NOTICE_CACHE_KEY) is None:
        security_reset_notice_refresh()


def mass_resets_stalled(*, stale_after: timedelta = STALE_AFTER) -> list[int]:
    """Queued or running jobs without a committed batch for ``stale_after``: their lanes are gone."""
    threshold = timezone.now() - stale_after
    active = MassReset.objects.filter(state__in=(MassReset.State.QUEUED, MassReset.State.RUNNING))
    if stale_after > timedelta(0):
        active = active.filter(Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=threshold))
    return list(active.order_by("pk").values_list("pk", flat=True))


# --- Notices ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticesSent:
    sent: int
    # Seconds until the next pending notice falls due; None when none is pending.
    next_due_in: float | None


def _notices_due() -> list[int]:
    return list(
        Notification.objects.filter(kind=NOTICE_KIND, status=Notification.Status.PENDING, send_after__lte=timezone.now())
        .order_by("send_after", "id")
        .values_list("id", flat=True)[:100]
    )


def _next_notice_due_in() -> float | None:
    upcoming = (
        Notification.objects.filter(kind=NOTICE_KIND, status=Notification.Status.PENDING)
        .order_by("send_after", "id")
        .values_list("send_after", flat=True)
        .first()
    )
    return None if upcoming is None else max((upcoming - timezone.now()).total_seconds(), 0.0)


def mass_reset_notices_send(*, seconds: float, per_second: float | None = None) -> NoticesSent:
    """Deliver mass-reset notices as they fall due, for up to ``seconds`` (0: what is due now, no waiting).

    Never faster than ``per_second`` (default twice the schedule's rate, so a
    backlog after an outage drains, but paced).
    """
    interval = 1.0 / (per_second or 2 * NOTICES_PER_SECOND)
    deadline = time.monotonic() + seconds
    sent = 0
    while True:
        due = _notices_due()
        if not due:
            wait = _next_notice_due_in()
            left = deadline - time.monotonic()
            if wait is None or wait > left or left <= 0:
                return NoticesSent(sent=sent, next_due_in=wait)
            time.sleep(max(wait, 0.05))
            continue
        for notification_id in due:
            began = time.monotonic()
            if notification_deliver(notification_id=notification_id):
                sent += 1
            pause = interval - (time.monotonic() - began)
            if pause > 0:
                time.sleep(pause)
            if seconds and time.monotonic() >= deadline:
                return NoticesSent(sent=sent, next_due_in=_next_notice_due_in())


def mass_reset_notices_pending() -> bool:
    return Notification.objects.filter(kind=NOTICE_KIND, status=Notification.Status.PENDING).exists()
