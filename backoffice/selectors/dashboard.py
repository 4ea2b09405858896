"""Reads for the incident console and the incident dashboard.

Each function is a fixed, small number of queries whatever the data size (no
per-row queries), so the pages stay fast while an incident fills the tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from wallet.models import AccountFreeze, ChannelSwitch, ChannelSwitchChange, TopUp, User
from wallet.switches import CHANNELS

from ..models import Approval, Case, CaseTransaction, Compensation, Hunt, MassReset

TOPUP_WINDOW_HOURS = 72
RUNNING_HUNT_STATES = (Hunt.State.QUEUED, Hunt.State.RUNNING)
RUNNING_MASS_RESET_STATES = (MassReset.State.RUNNING, MassReset.State.PAUSED, MassReset.State.QUEUED)


# --- Channel switches ------------------------------------------------------------


@dataclass(frozen=True)
class SwitchState:
    name: str
    description: str
    enabled: bool
    reason: str
    changed_by: User | None
    changed_at: datetime | None
    in_registry: bool


def switch_states() -> list[SwitchState]:
    """Every channel of the registry in its order, then any row the registry no longer knows.

    A channel without a row has never been switched and is on (``channel_check``'s default).
    """
    rows = {switch.name: switch for switch in ChannelSwitch.objects.select_related("changed_by")}
    states = []
    for name, channel in CHANNELS.items():
        row = rows.pop(name, None)
        states.append(
            SwitchState(
                name=name,
                description=str(channel.description),
                enabled=True if row is None else row.enabled,
                reason=row.reason if row else "",
                changed_by=row.changed_by if row else None,
                changed_at=row.changed_at if row else None,
                in_registry=True,
            )
        )
    for name, row in sorted(rows.items()):
        states.append(SwitchState(name, "", row.enabled, row.reason, row.changed_by, row.changed_at, in_registry=False))
    return states


def channel_enable_requests_waiting() -> dict[str, Approval]:
    """The pending "turn back on" request of each channel, by channel name."""
    waiting = approvals_waiting().filter(kind=Approval.Kind.CHANNEL_ENABLE)
    return {approval.payload.get("channel", ""): approval for approval in waiting}


def switch_changes_recent(*, limit: int = 10) -> QuerySet[ChannelSwitchChange]:
    return ChannelSwitchChange.objects.select_related("switch", "changed_by").order_by("-changed_at", "-id")[:limit]


# --- Approvals and freezes ---------------------------------------------------------


def approvals_waiting() -> QuerySet[Approval]:
    """Requests a second person has not decided yet and that have not expired, oldest deadline first."""
    return (
        Approval.objects.filter(state=Approval.State.PENDING, expires_at__gt=timezone.now())
        .select_related("maker")
        .order_by("expires_at", "id")
    )


@dataclass(frozen=True)
class FreezeSummary:
    total: int
    by_scope: dict[str, int]
    latest: list[AccountFreeze]


def freezes_active(*, limit: int = 50) -> FreezeSummary:
    """Active freezes: counts by scope (one query) and the ``limit`` newest with customer and setter (one query)."""
    active = AccountFreeze.objects.active()
    counts = {row["scope"]: row["n"] for row in active.order_by().values("scope").annotate(n=Count("id"))}
    by_scope = {scope: counts.get(scope, 0) for scope in AccountFreeze.Scope.values}
    latest = list(active.select_related("user", "set_by").order_by("-created_at", "-id")[:limit])
    return FreezeSummary(total=sum(counts.values()), by_scope=by_scope, latest=latest)


# --- Top-ups per channel per hour --------------------------------------------------


@dataclass(frozen=True)
class ChannelSeries:
    channel: str
    label: str
    counts: list[int]
    yen: list[int]

    @property
    def total_count(self) -> int:
        return sum(self.counts)

    @property
    def total_yen(self) -> int:
        return sum(self.yen)


@dataclass(frozen=True)
class TopupHours:
    """Hour buckets (local time, oldest first; the last one is the hour in progress) and one series per channel.

    ``counts`` are top-ups created in the hour whatever became of them (declined and
    held ones included: a spike of attempts is the first sign of card testing);
    ``yen`` is what completed top-ups of the hour added to wallets.
    """

    hours: list[datetime]
    series: list[ChannelSeries]

    def hour_totals(self, metric: str) -> list[int]:
        return [sum(getattr(s, metric)[i] for s in self.series) for i in range(len(self.hours))]


def topups_per_channel_per_hour(*, hours: int = TOPUP_WINDOW_HOURS, now: datetime | None = None) -> TopupHours:
    """Top-ups per channel per hour over the last ``hours`` hours, in one GROUP BY date_trunc query.

    Naming every channel lets PostgreSQL walk the (channel, created_at) index for
    each of them instead of reading the whole table; missing hours are filled with zeros here.
    """
    current = timezone.localtime(now or timezone.now())
    last_hour = current.replace(minute=0, second=0, microsecond=0)
    buckets = [last_hour - timedelta(hours=hours - 1 - i) for i in range(hours)]
    rows = (
        TopUp.objects.filter(channel__in=TopUp.Channel.values, created_at__gte=buckets[0], created_at__lt=last_hour + timedelta(hours=1))
        .annotate(hour=TruncHour("created_at"))
        .order_by()
        .values("channel", "hour")
        .annotate(n=Count("id"), yen=Sum("amount_yen", filter=Q(status=TopUp.Status.SUCCEEDED), default=0))
    )
    position = {bucket: i for i, bucket in enumerate(buckets)}
    labels = dict(TopUp.Channel.choices)
    counts: dict[str, list[int]] = {channel: [0] * hours for channel in labels}
    yen: dict[str, list[int]] = {channel: [0] * hours for channel in labels}
    for row in rows:
        i = position.get(row["hour"])
        if i is not None:
            counts[row["channel"]][i] += row["n"]
            yen[row["channel"]][i] += row["yen"]
    series = [ChannelSeries(channel, str(label), counts[channel], yen[channel]) for channel, label in labels.items()]
    return TopupHours(hours=buckets, series=series)


# --- Cases, damage, compensation -----------------------------------------------------


def open_cases_by_status() -> list[tuple[str, str, int]]:
    """(status, label, count) for every open status in pipeline order, zeros included; one query."""
    counts = {
        row["status"]: row["n"]
        for row in Case.objects.filter(status__in=Case.OPEN_STATUSES).order_by().values("status").annotate(n=Count("id"))
    }
    labels = dict(Case.Status.choices)
    return [(status, str(labels[status]), counts.get(status, 0)) for status in Case.OPEN_STATUSES]


@dataclass(frozen=True)
class DamageLine:
    kind: str
    label: str
    transactions: int
    yen: int


@dataclass(frozen=True)
class DamageEstimate:
    """What the fraud cases hold, by kind of transaction.

    Counted over every case except those closed as not fraud: closing a case once its
    customer is compensated must not make the damage figure drop. Kinds are kept
    apart because a stolen-card top-up and the store payment it paid for are often
    both in a case, and adding them would count the same money twice.
    """

    customers: int
    lines: list[DamageLine]
    latest_hunt: Hunt | None


def damage_estimate() -> DamageEstimate:
    in_cases = CaseTransaction.objects.exclude(case__status=Case.Status.NOT_FRAUD)
    customers = in_cases.aggregate(n=Count("case__customer_id", distinct=True))["n"]
    by_kind = {row["kind"]: row for row in in_cases.order_by().values("kind").annotate(n=Count("id"), yen=Sum("amount_yen"))}
    lines = [
        DamageLine(kind, str(label), by_kind[kind]["n"], by_kind[kind]["yen"] or 0)
        for kind, label in CaseTransaction.Kind.choices
        if kind in by_kind
    ]
    latest_hunt = Hunt.objects.filter(state=Hunt.State.DONE).select_related("created_by").order_by("-finished_at", "-id").first()
    return DamageEstimate(customers=customers, lines=lines, latest_hunt=latest_hunt)


@dataclass(frozen=True)
class CompensationTotals:
    paid_count: int
    paid_yen: int
    paid_customers: int
    waiting_count: int
    waiting_yen: int


def compensation_totals() -> CompensationTotals:
    """Paid and waiting compensation, in one aggregate query."""
    paid = Q(state=Compensation.State.PAID)
    waiting = Q(state=Compensation.State.REQUESTED)
    totals = Compensation.objects.aggregate(
        paid_count=Count("id", filter=paid),
        paid_yen=Sum("amount_yen", filter=paid, default=0),
        paid_customers=Count("customer_id", filter=paid, distinct=True),
        waiting_count=Count("id", filter=waiting),
        waiting_yen=Sum("amount_yen", filter=waiting, default=0),
    )
    return CompensationTotals(**totals)


# --- Background jobs -------------------------------------------------------------------


def hunts_running(*, limit: int = 20) -> list[Hunt]:
    return list(Hunt.objects.filter(state__in=RUNNING_HUNT_STATES).select_related("created_by").order_by("created_at", "id")[:limit])


def mass_resets_running(*, limit: int = 20) -> list[MassReset]:
    return list(
        MassReset.objects.filter(state__in=RUNNING_MASS_RESET_STATES).select_related("created_by").order_by("created_at", "id")[:limit]
    )
