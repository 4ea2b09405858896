"""Reads of the review queue: risk decisions waiting for an analyst, customers'
"I don't recognise this" reports, and hunt hits nobody has looked at.

The queue is one list across three tables, like a card-fraud console: each
part is filtered in the database and reduced to the same six columns, the parts
are joined with ``UNION ALL``, and the database sorts and pages the result. Only
the rows of the page shown are then loaded in full (customer, top-up, device).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db.models import BigIntegerField, CharField, Exists, F, OuterRef, QuerySet, Subquery, Value, When
from django.db.models import Case as CaseWhen
from django.db.models.functions import Abs, Coalesce
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from wallet.models import Entry, KnownDevice, RiskDecision, RiskEvent, RiskOutcome, TopUp, TransactionReport, User

from ..models import Case, HuntHit
from .cases import case_open_for
from .general import csv_safe

# Kinds of queue item, as the filter offers them.
KINDS: dict[str, Any] = {
    "topup_held": _("Held top-up"),
    RiskEvent.TOPUP.value: _("Top-up (reviewed, not held)"),
    RiskEvent.PAYMENT.value: _("Store payment declined for review"),
    RiskEvent.LOGIN.value: _("Login"),
    RiskEvent.CARD_REGISTER.value: _("Card registration"),
    "report": _("Customer report"),
    "hunt_hit": _("Hunt hit"),
}
DECISION_KINDS = ("topup_held", RiskEvent.TOPUP.value, RiskEvent.PAYMENT.value, RiskEvent.LOGIN.value, RiskEvent.CARD_REGISTER.value)
CHANNELS: dict[str, Any] = {**dict(TopUp.Channel.choices), "payment.store": _("Store payment")}
COLUMNS = ("q_kind", "q_id", "q_customer", "q_amount", "q_at", "q_channel")
REVIEW_CSV_HEADER = [
    "kind",
    "item",
    "time",
    "customer",
    "amount_yen",
    "channel",
    "reasons",
    "device",
    "ip",
    "status",
    "open_case",
    "reference",
]


def review_decisions_waiting() -> QuerySet[RiskDecision]:
    return RiskDecision.objects.filter(outcome=RiskOutcome.REVIEW, reviewed_at__isnull=True)


def review_reports_waiting() -> QuerySet[TransactionReport]:
    """Reports nobody has taken yet; one marked as fraud is "in review" while its case works it."""
    return TransactionReport.objects.filter(status=TransactionReport.Status.OPEN)


def review_hunt_hits_waiting() -> QuerySet[HuntHit]:
    return HuntHit.objects.filter(case__isnull=True, reviewed_at__isnull=True)


def review_queue_counts() -> dict[str, int]:
    """How many items wait in each part of the queue, and in all."""
    counts = {
        "decisions": review_decisions_waiting().count(),
        "reports": review_reports_waiting().count(),
        "hunt_hits": review_hunt_hits_waiting().count(),
    }
    counts["total"] = sum(counts.values())
    return counts


@dataclass(frozen=True)
class ReviewFilters:
    kind: str = ""
    channel: str = ""
    amount_min: int | None = None
    amount_max: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""
    newest_first: bool = False


def _held_topup() -> Exists:
    return Exists(TopUp.objects.filter(risk_decision=OuterRef("pk"), status=TopUp.Status.HELD))


def _narrow(part: QuerySet[Any], filters: ReviewFilters, email_field: str) -> QuerySet[Any]:
    if filters.kind:
        part = part.filter(q_kind=filters.kind)
    if filters.channel:
        part = part.filter(q_channel=filters.channel)
    if filters.amount_min is not None:
        part = part.filter(q_amount__gte=filters.amount_min)
    if filters.amount_max is not None:
        part = part.filter(q_amount__lte=filters.amount_max)
    if filters.date_from is not None:
        part = part.filter(q_at__date__gte=filters.date_from)
    if filters.date_to is not None:
        part = part.filter(q_at__date__lte=filters.date_to)
    if filters.q.strip():
        part = part.filter(**{f"{email_field}__icontains": filters.q.strip()})
    return part.order_by().values(*COLUMNS)


def _decisions_part(filters: ReviewFilters) -> QuerySet[Any]:
    part = review_decisions_waiting().annotate(
        q_kind=CaseWhen(When(_held_topup(), then=Value("topup_held")), default=F("event"), output_field=CharField()),
        q_id=F("pk"),
        q_customer=F("user_id"),
        q_amount=F("amount_yen"),
        q_at=F("created_at"),
        q_channel=F("channel"),
    )
    return _narrow(part, filters, "user__email")


def _reports_part(filters: ReviewFilters) -> QuerySet[Any]:
    own_entry = Entry.objects.filter(transfer_id=OuterRef("transfer_id"), account__owner_id=OuterRef("user_id")).values("amount_yen")[:1]
    topup_channel = TopUp.objects.filter(transfer_id=OuterRef("transfer_id")).values("channel")[:1]
    part = review_reports_waiting().annotate(
        q_kind=Value("report", output_field=CharField()),
        q_id=F("pk"),
        q_customer=F("user_id"),
        q_amount=Coalesce(Abs(Subquery(own_entry)), Value(0), output_field=BigIntegerField()),
        q_at=F("created_at"),
        q_channel=CaseWhen(
            When(transfer__kind="payment", then=Value("payment.store")),
            default=Coalesce(Subquery(topup_channel), Value("")),
            output_field=CharField(),
        ),
    )
    return _narrow(part, filters, "user__email")


def _hits_part(filters: ReviewFilters) -> QuerySet[Any]:
    part = review_hunt_hits_waiting().annotate(
        q_kind=Value("hunt_hit", output_field=CharField()),
        q_id=F("pk"),
        q_customer=F("customer_id"),
        q_amount=F("amount_yen"),
        q_at=F("last_at"),
        q_channel=Value("", output_field=CharField()),
    )
    return _narrow(part, filters, "customer__email")


def review_queue(filters: ReviewFilters) -> QuerySet[Any]:
    """The whole queue as rows of ``COLUMNS`` (dicts), sorted by time; slice it to page it."""
    parts: list[QuerySet[Any]] = []
    if not filters.kind or filters.kind in DECISION_KINDS:
        parts.append(_decisions_part(filters))
    if not filters.kind or filters.kind == "report":
        parts.append(_reports_part(filters))
    if not filters.kind or filters.kind == "hunt_hit":
        parts.append(_hits_part(filters))
    queue = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    order = ("-q_at", "-q_kind", "-q_id") if filters.newest_first else ("q_at", "q_kind", "q_id")
    return queue.order_by(*order)


@dataclass
class ReviewRow:
    """One queue item, loaded in full for display and actions."""

    kind: str
    item_id: int
    at: datetime
    amount_yen: int
    channel: str
    customer: User | None
    reasons: list[str] = field(default_factory=list)
    device: str = ""
    ip: str = ""
    status: str = ""
    held_topup: TopUp | None = None
    transfer_reference: str = ""
    open_case: Case | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}-{self.item_id}"

    @property
    def item_kind(self) -> str:
        """Which table the item lives in: "decision", "report" or "hit" (the actions take this)."""
        if self.kind == "report":
            return "report"
        if self.kind == "hunt_hit":
            return "hit"
        return "decision"

    @property
    def kind_label(self) -> str:
        return str(KINDS.get(self.kind, self.kind))

    @property
    def channel_label(self) -> str:
        return str(CHANNELS.get(self.channel, self.channel)) if self.channel else ""

    @property
    def can_release(self) -> bool:
        return self.held_topup is not None

    @property
    def approve_label(self) -> str:
        if self.kind == "topup_held":
            return gettext("Approve and release")
        if self.kind == "report":
            return gettext("Close: not fraud")
        if self.kind == "hunt_hit":
            return gettext("Dismiss: not fraud")
        return gettext("Approve")


def _decision_reasons(decision: RiskDecision) -> list[str]:
    reasons = []
    for reason in decision.reasons or []:
        if isinstance(reason, dict):
            reasons.append(str(reason.get("detail") or reason.get("rule") or ""))
        else:
            reasons.append(str(reason))
    return [r for r in reasons if r] or [gettext("No reason recorded")]


def _devices(user_ids: set[int]) -> dict[int, KnownDevice]:
    """Each customer's most recently seen device (PostgreSQL DISTINCT ON)."""
    latest = KnownDevice.objects.filter(user_id__in=user_ids).order_by("user_id", "-last_seen_at").distinct("user_id")
    return {device.user_id: device for device in latest}


def review_rows(values: list[dict[str, Any]]) -> list[ReviewRow]:
    """Load the queue rows of one page in full, a few queries for the whole page."""
    ids: dict[str, list[int]] = {"decision": [], "report": [], "hit": []}
    for value in values:
        table = "report" if value["q_kind"] == "report" else "hit" if value["q_kind"] == "hunt_hit" else "decision"
        ids[table].append(value["q_id"])
    decisions = RiskDecision.objects.select_related("user").in_bulk(ids["decision"])
    held = {
        t.risk_decision_id: t
        for t in TopUp.objects.filter(risk_decision_id__in=ids["decision"], status=TopUp.Status.HELD).select_related(
            "card", "terminal", "transfer"
        )
    }
    reports = TransactionReport.objects.select_related("user", "transfer").in_bulk(ids["report"])
    hits = HuntHit.objects.select_related("customer", "hunt").in_bulk(ids["hit"])
    customer_ids = {v["q_customer"] for v in values if v["q_customer"] is not None}
    devices = _devices(customer_ids)
    device_labels = {
        (d.user_id, d.device_digest): d
        for d in KnownDevice.objects.filter(
            user_id__in=customer_ids, device_digest__in=[d.device_key for d in decisions.values() if d.device_key]
        )
    }
    cases = case_open_for(list(customer_ids))
    rows: list[ReviewRow] = []
    for value in values:
        row = ReviewRow(
            kind=value["q_kind"],
            item_id=value["q_id"],
            at=value["q_at"],
            amount_yen=value["q_amount"] or 0,
            channel=value["q_channel"] or "",
            customer=None,
        )
        last_device = devices.get(value["q_customer"]) if value["q_customer"] is not None else None
        if row.item_kind == "decision" and row.item_id in decisions:
            decision = decisions[row.item_id]
            row.customer = decision.user
            row.reasons = _decision_reasons(decision)
            row.held_topup = held.get(decision.pk)
            seen = device_labels.get((decision.user_id or 0, decision.device_key))
            if decision.device_key:
                row.device = seen.label if seen is not None and seen.label else gettext("device %(key)s") % {"key": decision.device_key[:8]}
            row.ip = decision.ip_address or ""
            row.status = str(row.held_topup.get_status_display()) if row.held_topup else str(decision.get_outcome_display())
            if row.held_topup is not None and row.held_topup.transfer is not None:
                row.transfer_reference = str(row.held_topup.transfer.public_id)
        elif row.item_kind == "report" and row.item_id in reports:
            report = reports[row.item_id]
            row.customer = report.user
            row.reasons = [gettext("Customer says they do not recognise this transaction.")]
            if report.note:
                row.reasons.append(gettext("Customer's note: %(note)s") % {"note": report.note[:300]})
            if report.wallet_locked:
                row.reasons.append(gettext("The customer locked their wallet."))
            row.status = str(report.get_status_display())
            row.transfer_reference = str(report.transfer.public_id)
        elif row.item_kind == "hit" and row.item_id in hits:
            hit = hits[row.item_id]
            row.customer = hit.customer
            row.reasons = [
                gettext("Hunt #%(hunt)s (%(rule)s): %(count)s transactions between %(first)s and %(last)s")
                % {
                    "hunt": hit.hunt_id,
                    "rule": hit.hunt.rule_kind,
                    "count": hit.transactions_count,
                    "first": timezone.localtime(hit.first_at).strftime("%Y-%m-%d %H:%M"),
                    "last": timezone.localtime(hit.last_at).strftime("%Y-%m-%d %H:%M"),
                }
            ]
            row.status = gettext("Not reviewed")
        if not row.device and last_device is not None:
            row.device = gettext("%(label)s (last seen)") % {"label": last_device.label or gettext("unnamed device")}
        if not row.ip and last_device is not None and last_device.last_ip:
            row.ip = last_device.last_ip
        if row.customer is not None:
            row.open_case = cases.get(row.customer.pk)
        rows.append(row)
    return rows


def review_csv_rows(filters: ReviewFilters, *, chunk: int = 500) -> Iterator[list[str]]:
    """Header, then every queue item the filters select, loaded a chunk at a time."""
    yield REVIEW_CSV_HEADER
    values: list[dict[str, Any]] = []
    for value in review_queue(filters).iterator(chunk_size=chunk):
        values.append(value)
        if len(values) == chunk:
            yield from _csv_lines(values)
            values = []
    yield from _csv_lines(values)


def _csv_lines(values: list[dict[str, Any]]) -> Iterator[list[str]]:
    for row in review_rows(values):
        yield [
            csv_safe(v)
            for v in (
                row.kind,
                row.item_id,
                row.at.isoformat(),
                row.customer.email if row.customer else "",
                row.amount_yen,
                row.channel,
                " | ".join(row.reasons),
                row.device,
                row.ip,
                row.status,
                row.open_case.pk if row.open_case else "",
                row.transfer_reference,
            )
        ]
