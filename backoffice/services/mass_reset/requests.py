"""Asking for a mass reset, approving it, and pausing, resuming or cancelling it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext

from wallet.errors import Refused
from wallet.models import User

from ...errors import ApprovalRefused
from ...models import Approval, Case, Hunt, MassReset
from ...selectors.mass_reset import customers_max_id, population_count
from ..audit import staff_action_record
from .tuning import BATCH_SIZE_MAX, BATCH_SIZE_MIN

MASS_RESET_REQUEST_PERMISSION = "backoffice.run_massreset"
MASS_RESET_RUN_PERMISSION = "backoffice.run_massreset"


# Lanes working on one job at once (and how far ahead a lane looks for a free batch).
class MassResetRefused(Refused):
    """The request or the change is not allowed; ``code`` says why, the message says it to a person."""

    class Code(StrEnum):
        ALL_AND_FILTERS = "all_and_filters"
        BATCH_SIZE = "batch_size"
        EMPTY = "empty"
        FACTORS_FUTURE = "factors_future"
        HUNT_NOT_FINISHED = "hunt_not_finished"
        INVALID_ACTION = "invalid_action"
        INVALID_CASES = "invalid_cases"
        INVALID_DATE = "invalid_date"
        INVALID_FILTERS = "invalid_filters"
        NO_POPULATION = "no_population"
        NO_REASON = "no_reason"
        NOT_ALLOWED = "not_allowed"
        PERIOD_FUTURE = "period_future"
        PERIOD_ORDER = "period_order"
        STATE_CHANGED = "state_changed"
        UNKNOWN_CASES = "unknown_cases"
        UNKNOWN_HUNT = "unknown_hunt"


# --- Request ---------------------------------------------------------------------------


def _moment(value: object, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    moment = value if isinstance(value, datetime) else parse_datetime(str(value))
    if moment is None:
        raise MassResetRefused(MassResetRefused.Code.INVALID_DATE, gettext("“%(field)s” is not a date and time.") % {"field": field})
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def mass_reset_filters_clean(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Check and normalise who is to be reset; returns the JSON stored on the job.

    ``{"all": True}`` for the whole customer base, or any of ``joined_from`` /
    ``joined_until``, ``active_from`` / ``active_until`` (datetimes or ISO text),
    ``case_ids`` (ids of cases) and ``hunt_id`` (a finished hunt), combined with AND.
    """
    unknown = set(raw) - {"all", "joined_from", "joined_until", "active_from", "active_until", "case_ids", "hunt_id"}
    if unknown:
        raise MassResetRefused(
            MassResetRefused.Code.INVALID_FILTERS, gettext("Unknown criteria: %(names)s.") % {"names": ", ".join(sorted(unknown))}
        )
    if raw.get("all"):
        if any(value not in (None, "", [], False) for key, value in raw.items() if key != "all"):
            raise MassResetRefused(
                MassResetRefused.Code.ALL_AND_FILTERS, gettext("Choose either the whole customer base or criteria, not both.")
            )
        return {"all": True}
    now = timezone.now()
    cleaned: dict[str, Any] = {}
    for start_key, end_key in (("joined_from", "joined_until"), ("active_from", "active_until")):
        start, end = _moment(raw.get(start_key), start_key), _moment(raw.get(end_key), end_key)
        if start is not None and end is not None and start >= end:
            raise MassResetRefused(MassResetRefused.Code.PERIOD_ORDER, gettext("Each period must start before it ends."))
        if start is not None and start > now:
            raise MassResetRefused(MassResetRefused.Code.PERIOD_FUTURE, gettext("A period cannot start in the future: nobody would match."))
        if start is not None:
            cleaned[start_key] = start.isoformat()
        if end is not None:
            cleaned[end_key] = end.isoformat()
    case_ids = raw.get("case_ids") or []
    if case_ids:
        try:
            ids = sorted({int(case_id) for case_id in case_ids})
        except (TypeError, ValueError):
            raise MassResetRefused(MassResetRefused.Code.INVALID_CASES, gettext("Case numbers must be whole numbers.")) from None
        found = set(Case.objects.filter(pk__in=ids).values_list("pk", flat=True))
        if found != set(ids):
            missing = ", ".join(f"#{case_id}" for case_id in ids if case_id not in found)
            raise MassResetRefused(MassResetRefused.Code.UNKNOWN_CASES, gettext("There is no case %(ids)s.") % {"ids": missing})
        cleaned["case_ids"] = ids
    hunt_id = raw.get("hunt_id")
    if hunt_id not in (None, ""):
        try:
            hunt = Hunt.objects.filter(pk=int(str(hunt_id))).first()
        except ValueError:
            hunt = None
        if hunt is None:
            raise MassResetRefused(MassResetRefused.Code.UNKNOWN_HUNT, gettext("There is no such look-back hunt."))
        if hunt.state != Hunt.State.DONE:
            raise MassResetRefused(
                MassResetRefused.Code.HUNT_NOT_FINISHED, gettext("Choose a hunt that has finished: its hits are not final yet.")
            )
        cleaned["hunt_id"] = hunt.pk
    if not cleaned:
        raise MassResetRefused(MassResetRefused.Code.NO_POPULATION, gettext("Choose the whole customer base or at least one criterion."))
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
    from ..approvals import approval_request

    if not acting_user.has_perm(MASS_RESET_REQUEST_PERMISSION):
        raise MassResetRefused(MassResetRefused.Code.NOT_ALLOWED, gettext("You are not allowed to request a mass password reset."))
    reason = reason.strip()
    if not reason:
        raise MassResetRefused(MassResetRefused.Code.NO_REASON, gettext("A reason is required."))
    cleaned = mass_reset_filters_clean(filters)
    if remove_factors_enrolled_after is not None and remove_factors_enrolled_after > timezone.now():
        raise MassResetRefused(MassResetRefused.Code.FACTORS_FUTURE, gettext("The time for removing second factors must be in the past."))
    size = batch_size or MassReset._meta.get_field("batch_size").get_default()
    if not BATCH_SIZE_MIN <= size <= BATCH_SIZE_MAX:
        raise MassResetRefused(MassResetRefused.Code.BATCH_SIZE, gettext("The batch size is out of range."))
    with transaction.atomic():
        estimate = population_count(cleaned, cutoff_user_id=customers_max_id())
        if estimate == 0:
            raise MassResetRefused(
                MassResetRefused.Code.EMPTY, gettext("No customer account matches these criteria. Nothing was requested.")
            )
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
    job_id = payload.get("mass_reset_id")
    if set(payload) != {"mass_reset_id", "accounts_estimated", "filters", "remove_factors_enrolled_after"} or not isinstance(job_id, int):
        raise ApprovalRefused(ApprovalRefused.Code.INVALID_PAYLOAD, gettext("The request must name one mass reset."))
    job = MassReset.objects.filter(pk=job_id).first()
    if job is None or job.state != MassReset.State.AWAITING_APPROVAL or job.approval_id is not None or payload != _payload(job):
        raise ApprovalRefused(ApprovalRefused.Code.INVALID_PAYLOAD, gettext("There is no such mass reset waiting for approval."))


def mass_reset_execute(approval: Approval, checker: User, ip: str | None) -> None:
    """Approval executor, inside the approval's transaction: fix the population, count it, queue the job."""
    job = MassReset.objects.select_for_update().get(pk=approval.payload["mass_reset_id"])
    if job.approval_id != approval.pk or job.state != MassReset.State.AWAITING_APPROVAL:
        raise ApprovalRefused(
            ApprovalRefused.Code.NOT_AWAITING,
            gettext("This mass reset is no longer waiting for approval (%(state)s).") % {"state": job.get_state_display()},
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
    from ...tasks.mass_reset import mass_reset_lanes_start

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
        raise MassResetRefused(MassResetRefused.Code.INVALID_ACTION, gettext("Unknown action."))
    if not acting_user.has_perm(MASS_RESET_RUN_PERMISSION):
        raise MassResetRefused(
            MassResetRefused.Code.NOT_ALLOWED, gettext("You are not allowed to pause, resume or cancel a mass password reset.")
        )
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
                MassResetRefused.Code.STATE_CHANGED,
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
