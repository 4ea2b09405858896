"""The job: keyset batches in lanes, each committed with its cursor (see the package docstring)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from wallet.services.bulk_reset import ResetNotice, accounts_reset_batch
from wallet.services.login import RESET_NOTICE_CACHE_KEY, security_reset_notice_refresh

from ...models import MassReset
from ...selectors.mass_reset import NOTICE_KIND, USER_TABLE, population_condition
from ..audit import staff_action_record
from .tuning import CLIENT_CHECK, LANES, LOCK_WAIT, NOTICES_PER_SECOND, SAME_PLACE, STALE_AFTER

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
    cursor.execute("SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))", [SAME_PLACE % (job_id, start)])
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
                done = accounts_reset_batch(
                    after_id=start,
                    through_id=end,
                    population=population,
                    population_params=params,
                    now=now,
                    notice=ResetNotice(
                        kind=NOTICE_KIND,
                        context=context,
                        slots_from=job.started_at or now,
                        # Every batch before this one in the job holds exactly batch_size accounts.
                        slot_offset=job.accounts_reset + position * job.batch_size,
                        per_second=NOTICES_PER_SECOND,
                    ),
                    factors_enrolled_after=factors_after,
                    event_detail={"mass_reset": job.pk},
                )
                if predecessor is not None:
                    # Commit order = batch order: wait for the lane of the batch just before this one.
                    cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [SAME_PLACE % (mass_reset_id, predecessor)])
            locked = MassReset.objects.select_for_update().get(pk=mass_reset_id)
            if locked.state != MassReset.State.RUNNING:
                raise _Abandon("stopped")
            if locked.last_user_id != start:
                raise _Abandon("conflict")
            locked.last_user_id = end
            locked.accounts_reset += done.accounts
            locked.sessions_ended += done.sessions
            locked.tokens_deleted += done.tokens
            locked.factors_removed += done.factors
            locked.notices_queued += done.notices
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
    if done.accounts and (start == 0 or finished):
        # The login's "did AnzenPay reset your password?" notice shows from the first batch on.
        security_reset_notice_refresh()
    return BatchResult("finished" if finished else "reset", accounts=done.accounts, start=start)


def _batch_released(mass_reset_id: int, start: int) -> bool:
    """Wait until no lane holds the batch at ``start``. True if the cursor has moved meanwhile
    (a live lane is at work), False if it has not (the holder gave up or died)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'")
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [SAME_PLACE % (mass_reset_id, start)])
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
    from ...tasks.mass_reset import notices_sender_start

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
