"""Reads for mass password resets: who is in a reset (the population, as SQL shared
with the job), estimates, the list and the progress figures.

The population is written once, as a SQL condition on ``wallet_user u``, and used
by the estimate shown before a request, the exact count at approval, the job's
batches and the tests' "missed" count, so they can never disagree. Every criterion
is one that cannot stop holding once it holds (sign-up time, a login or a session in
a past period capped at the approval time, a case, a finished hunt's hits), so a
customer the job has walked past cannot become part of the population later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext

from wallet.models import AuthEvent, User, UserSession

from ..models import Approval, Case, HuntHit, MassReset, StaffAction

NOTICE_KIND = "mass_reset_notice"
USER_TABLE = User._meta.db_table
FILTER_KEYS = ("all", "joined_from", "joined_until", "active_from", "active_until", "case_ids", "hunt_id", "as_of")
ACTIVE_STATES = (MassReset.State.QUEUED, MassReset.State.RUNNING, MassReset.State.PAUSED)
LIST_STATES = [value for value, _label in MassReset.State.choices]


def _when(filters: dict[str, Any], key: str) -> datetime | None:
    raw = filters.get(key)
    if not raw:
        return None
    parsed = parse_datetime(str(raw))
    if parsed is None:
        raise ValueError(f"{key} is not a date and time: {raw!r}")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


def population_condition(filters: dict[str, Any], *, alias: str = "u") -> tuple[str, dict[str, Any]]:
    """SQL condition (on ``wallet_user {alias}``) and its named parameters for the customers ``filters`` select.

    Staff and superusers are never in it. ``as_of`` (set at approval) caps an open
    activity period, so a login after the approval cannot add anyone.
    """
    parts = [f"NOT {alias}.is_staff", f"NOT {alias}.is_superuser"]
    params: dict[str, Any] = {}
    joined_from, joined_until = _when(filters, "joined_from"), _when(filters, "joined_until")
    if joined_from is not None:
        parts.append(f"{alias}.date_joined >= %(p_joined_from)s")
        params["p_joined_from"] = joined_from
    if joined_until is not None:
        parts.append(f"{alias}.date_joined < %(p_joined_until)s")
        params["p_joined_until"] = joined_until
    active_from, active_until, as_of = _when(filters, "active_from"), _when(filters, "active_until"), _when(filters, "as_of")
    if active_from is not None or active_until is not None:
        ends = [moment for moment in (active_until, as_of) if moment is not None]
        params["p_active_until"] = min(ends) if ends else timezone.now()
        params["p_active_from"] = active_from or datetime(1970, 1, 1, tzinfo=UTC)
        # Active = logged in during the period, or used a session that overlapped it.
        parts.append(
            f"""(EXISTS (SELECT 1 FROM {AuthEvent._meta.db_table} e WHERE e.user_id = {alias}.id
                        AND e.kind = %(p_login_kind)s AND e.created_at >= %(p_active_from)s AND e.created_at < %(p_active_until)s)
                 OR EXISTS (SELECT 1 FROM {UserSession._meta.db_table} s WHERE s.user_id = {alias}.id
                        AND s.created_at < %(p_active_until)s AND s.last_seen_at >= %(p_active_from)s))"""  # noqa: S608 - our table names
        )
        params["p_login_kind"] = AuthEvent.Kind.LOGIN_SUCCEEDED.value
    case_ids = filters.get("case_ids")
    if case_ids:
        parts.append(f"EXISTS (SELECT 1 FROM {Case._meta.db_table} c WHERE c.customer_id = {alias}.id AND c.id = ANY(%(p_case_ids)s))")  # noqa: S608
        params["p_case_ids"] = [int(case_id) for case_id in case_ids]
    hunt_id = filters.get("hunt_id")
    if hunt_id:
        parts.append(f"EXISTS (SELECT 1 FROM {HuntHit._meta.db_table} h WHERE h.customer_id = {alias}.id AND h.hunt_id = %(p_hunt_id)s)")  # noqa: S608
        params["p_hunt_id"] = int(hunt_id)
    return " AND ".join(parts), params


def population_count(filters: dict[str, Any], *, cutoff_user_id: int | None = None) -> int:
    """How many customers ``filters`` selects now (up to ``cutoff_user_id`` when given)."""
    condition, params = population_condition(filters)
    if cutoff_user_id is not None:
        condition += " AND u.id <= %(p_cutoff)s"
        params["p_cutoff"] = cutoff_user_id
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {USER_TABLE} u WHERE {condition}", params)  # noqa: S608 - values are parameters
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def population_missed(mass_reset: MassReset) -> int:
    """Customers of a reset's population that it has not reset (0 once it is done).

    Reset means: unusable password, the must-reset flag, and credentials changed
    since the job started (a customer who finished their own reset since then keeps
    a usable password and no flag, so this is exact only until customers act).
    """
    if mass_reset.cutoff_user_id is None or mass_reset.started_at is None:
        return population_count(mass_reset.filters, cutoff_user_id=mass_reset.cutoff_user_id)
    condition, params = population_condition(mass_reset.filters)
    params.update({"p_cutoff": mass_reset.cutoff_user_id, "p_started": mass_reset.started_at})
    sql = f"""SELECT count(*) FROM {USER_TABLE} u WHERE u.id <= %(p_cutoff)s AND {condition}
              AND NOT (u.must_reset_password AND u.password LIKE '!%%' AND u.credentials_changed_at >= %(p_started)s)"""  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def customers_max_id() -> int:
    """The newest account id: accounts above it at approval are later sign-ups, never reset."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {USER_TABLE}")  # noqa: S608
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def filters_describe(filters: dict[str, Any]) -> list[str]:
    """The population in words, one line per criterion, for the pages and the approval."""
    if filters.get("all"):
        return [gettext("Every customer account (staff accounts are never included)")]
    lines: list[str] = []
    fmt = "%Y-%m-%d %H:%M"

    def local(key: str) -> str:
        moment = _when(filters, key)
        return timezone.localtime(moment).strftime(fmt) if moment else "…"

    if filters.get("joined_from") or filters.get("joined_until"):
        lines.append(gettext("Signed up from %(start)s until %(end)s") % {"start": local("joined_from"), "end": local("joined_until")})
    if filters.get("active_from") or filters.get("active_until"):
        lines.append(
            gettext("Logged in or used a session from %(start)s until %(end)s")
            % {"start": local("active_from"), "end": local("active_until")}
        )
    if filters.get("case_ids"):
        lines.append(gettext("Customers of cases %(ids)s") % {"ids": ", ".join(f"#{case_id}" for case_id in filters["case_ids"])})
    if filters.get("hunt_id"):
        lines.append(gettext("Customers hit by look-back hunt #%(id)s") % {"id": filters["hunt_id"]})
    if filters.get("as_of"):
        lines.append(gettext("Activity counted up to the approval, %(when)s") % {"when": local("as_of")})
    return lines


# --- Lists and progress ------------------------------------------------------------------


def mass_resets_list(*, state: str = "", search: str = "") -> QuerySet[MassReset]:
    queryset = MassReset.objects.select_related("created_by", "approval", "approval__checker")
    if state in LIST_STATES:
        queryset = queryset.filter(state=state)
    search = search.strip()
    if search:
        query = Q(reason__icontains=search) | Q(created_by__email__icontains=search)
        if search.lstrip("#").isdigit():
            query |= Q(pk=int(search.lstrip("#")))
        queryset = queryset.filter(query)
    return queryset.order_by("-created_at", "-id")


MASS_RESET_CSV_HEADER = [
    "id",
    "state",
    "requested_at",
    "requested_by",
    "approved_by",
    "reason",
    "who",
    "remove_factors_enrolled_after",
    "accounts_estimated",
    "accounts_reset",
    "sessions_ended",
    "tokens_deleted",
    "factors_removed",
    "notices_queued",
    "started_at",
    "finished_at",
]


def mass_reset_csv_rows(queryset: QuerySet[MassReset]) -> list[list[object]]:
    rows: list[list[object]] = [list(MASS_RESET_CSV_HEADER)]
    for job in queryset:
        checker = job.approval.checker if job.approval is not None and job.approval.checker is not None else None
        rows.append(
            [
                job.pk,
                job.state,
                job.created_at.isoformat(),
                job.created_by.email,
                checker.email if checker else "",
                job.reason,
                "; ".join(filters_describe(job.filters)),
                job.remove_factors_enrolled_after.isoformat() if job.remove_factors_enrolled_after else "",
                job.accounts_estimated,
                job.accounts_reset,
                job.sessions_ended,
                job.tokens_deleted,
                job.factors_removed,
                job.notices_queued,
                job.started_at.isoformat() if job.started_at else "",
                job.finished_at.isoformat() if job.finished_at else "",
            ]
        )
    return rows


def mass_reset_history(mass_reset: MassReset) -> list[StaffAction]:
    """The audit rows of a job and of its approval, oldest first."""
    query = Q(target_type=MassReset._meta.label_lower, target_id=str(mass_reset.pk))
    if mass_reset.approval_id is not None:
        query |= Q(target_type=Approval._meta.label_lower, target_id=str(mass_reset.approval_id))
    return list(StaffAction.objects.filter(query).select_related("actor").order_by("created_at", "id"))


@dataclass(frozen=True)
class Progress:
    state: str
    state_label: str
    accounts_reset: int
    accounts_estimated: int
    percent: int
    rate_per_second: float | None
    eta_seconds: int | None
    sessions_ended: int
    tokens_deleted: int
    factors_removed: int
    notices_queued: int
    heartbeat_at: datetime | None
    finished: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "state_label": self.state_label,
            "accounts_reset": self.accounts_reset,
            "accounts_estimated": self.accounts_estimated,
            "percent": self.percent,
            "rate_per_second": self.rate_per_second,
            "eta_seconds": self.eta_seconds,
            "sessions_ended": self.sessions_ended,
            "tokens_deleted": self.tokens_deleted,
            "factors_removed": self.factors_removed,
            "notices_queued": self.notices_queued,
            "heartbeat_at": self.heartbeat_at.isoformat() if self.heartbeat_at else None,
            "finished": self.finished,
        }


def mass_reset_progress(mass_reset: MassReset, *, now: datetime | None = None) -> Progress:
    """Counts, the rate since the job started and the time left at that rate."""
    now = now or timezone.now()
    rate: float | None = None
    eta: int | None = None
    if mass_reset.started_at is not None and mass_reset.accounts_reset:
        until = mass_reset.finished_at or mass_reset.heartbeat_at or now
        elapsed = (until - mass_reset.started_at).total_seconds()
        if elapsed > 0:
            rate = round(mass_reset.accounts_reset / elapsed, 1)
            remaining = max(mass_reset.accounts_estimated - mass_reset.accounts_reset, 0)
            if mass_reset.state in (MassReset.State.QUEUED, MassReset.State.RUNNING) and rate > 0:
                eta = int(remaining / rate)
    finished = mass_reset.state in (MassReset.State.DONE, MassReset.State.CANCELLED, MassReset.State.REJECTED)
    return Progress(
        state=mass_reset.state,
        state_label=str(mass_reset.get_state_display()),
        accounts_reset=mass_reset.accounts_reset,
        accounts_estimated=mass_reset.accounts_estimated,
        percent=mass_reset.percent_done,
        rate_per_second=rate,
        eta_seconds=eta,
        sessions_ended=mass_reset.sessions_ended,
        tokens_deleted=mass_reset.tokens_deleted,
        factors_removed=mass_reset.factors_removed,
        notices_queued=mass_reset.notices_queued,
        heartbeat_at=mass_reset.heartbeat_at,
        finished=finished,
    )
