"""Figures of the refund programme for finance and the regulator: claims by state,
paid and unclaimed holders and yen, progress by week, the ledger beside the
claims, and the per-holder list of unclaimed balances after the deadline.

Everything is aggregated in PostgreSQL (``COUNT``/``SUM`` with ``GROUP BY``,
``NOT EXISTS`` for "no live claim"); Python only sees one row per state or week.
The unclaimed list pages by keyset on the wallet account id, so page 10,000 of
370k holders costs what page 1 costs.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncWeek
from django.utils import timezone

from backoffice.selectors.general import csv_safe
from wallet.models import Entry, LedgerAccount

from ..models import Payout, RefundClaim, ShutdownProgramme

UNCLAIMED_PAGE_SIZE = 100
UNCLAIMED_CSV_HEADER = ["customer_id", "email", "name_kana", "balance_yen"]


@dataclass(frozen=True)
class StateTotal:
    state: str
    label: str
    claims: int
    yen: int


@dataclass(frozen=True)
class HolderTotals:
    holders: int
    yen: int

    @property
    def average_yen(self) -> int:
        """Average per holder, rounded to the yen (half up)."""
        return (2 * self.yen + self.holders) // (2 * self.holders) if self.holders else 0


@dataclass(frozen=True)
class Week:
    start: date
    filed: int
    filed_yen: int
    paid: int
    paid_yen: int


@dataclass(frozen=True)
class LedgerReconciliation:
    """The ledger's refund accounts beside what the claims say they should hold.

    A claim's money moves wallet → refund_payable when it is filed, refund_payable →
    payout_clearing when its batch is released, back to refund_payable if the bank
    returns it, and back to the wallet if the claim is rejected. So refund_payable
    should hold the open claims not yet released, payout_clearing the paid claims
    and the released payouts still waiting for the bank, and both together every
    claim not rejected."""

    refund_payable_yen: int
    payout_clearing_yen: int
    claims_not_rejected_yen: int
    claims_open_yen: int
    claims_paid_yen: int
    released_waiting_yen: int

    @property
    def expected_refund_payable_yen(self) -> int:
        return self.claims_open_yen - self.released_waiting_yen

    @property
    def expected_payout_clearing_yen(self) -> int:
        return self.claims_paid_yen + self.released_waiting_yen

    @property
    def ledger_total_yen(self) -> int:
        return self.refund_payable_yen + self.payout_clearing_yen

    @property
    def lines(self) -> list[tuple[str, int, int]]:
        """(line, from the claims, in the ledger) for the three identities."""
        return [
            ("refund_payable", self.expected_refund_payable_yen, self.refund_payable_yen),
            ("payout_clearing", self.expected_payout_clearing_yen, self.payout_clearing_yen),
            ("total", self.claims_not_rejected_yen, self.ledger_total_yen),
        ]

    @property
    def balanced(self) -> bool:
        return all(expected == ledger for _line, expected, ledger in self.lines)


def _tz() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def claims_by_state(programme: ShutdownProgramme) -> list[StateTotal]:
    found = {
        row["state"]: (row["claims"], row["yen"])
        for row in RefundClaim.objects.filter(programme=programme)
        .order_by()
        .values("state")
        .annotate(claims=Count("id"), yen=Coalesce(Sum("amount_yen"), 0))
    }
    return [StateTotal(state, str(label), *found.get(state, (0, 0))) for state, label in RefundClaim.State.choices]


def paid_totals(programme: ShutdownProgramme) -> HolderTotals:
    row = RefundClaim.objects.filter(programme=programme, state=RefundClaim.State.PAID).aggregate(
        holders=Count("customer_id", distinct=True), yen=Coalesce(Sum("amount_yen"), 0)
    )
    return HolderTotals(row["holders"], row["yen"])


def open_claim_totals(programme: ShutdownProgramme) -> HolderTotals:
    row = RefundClaim.objects.filter(programme=programme, state__in=RefundClaim.OPEN_STATES).aggregate(
        holders=Count("customer_id", distinct=True), yen=Coalesce(Sum("amount_yen"), 0)
    )
    return HolderTotals(row["holders"], row["yen"])


def unclaimed_wallets(programme: ShutdownProgramme) -> QuerySet[LedgerAccount]:
    """Holders' wallets with a balance and no live (not rejected) claim in the programme. Staff wallets are not holders."""
    live_claim = RefundClaim.objects.live_for(programme=programme, customer=OuterRef("owner_id"))
    return LedgerAccount.objects.filter(kind=LedgerAccount.Kind.CUSTOMER_WALLET, balance_yen__gt=0, owner__is_staff=False).filter(
        ~Exists(live_claim)
    )


def unclaimed_totals(programme: ShutdownProgramme) -> HolderTotals:
    row = unclaimed_wallets(programme).aggregate(holders=Count("id"), yen=Coalesce(Sum("balance_yen"), 0))
    return HolderTotals(row["holders"], row["yen"])


def _week_start(value: date) -> date:
    """TruncWeek gives a datetime at local midnight for a datetime column; the week is its date."""
    return value.date() if isinstance(value, datetime) else value


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def weekly_progress(programme: ShutdownProgramme, *, today: date | None = None) -> list[Week]:
    """Claims filed and paid per week (Monday to Sunday, Japan time), every week from the first to this one."""
    tz = _tz()
    claims = RefundClaim.objects.filter(programme=programme).order_by()
    filed = {
        _week_start(row["week"]): (row["n"], row["yen"])
        for row in claims.annotate(week=TruncWeek("created_at", tzinfo=tz))
        .values("week")
        .annotate(n=Count("id"), yen=Coalesce(Sum("amount_yen"), 0))
    }
    paid = {
        _week_start(row["week"]): (row["n"], row["yen"])
        for row in claims.filter(state=RefundClaim.State.PAID, paid_at__isnull=False)
        .annotate(week=TruncWeek("paid_at", tzinfo=tz))
        .values("week")
        .annotate(n=Count("id"), yen=Coalesce(Sum("amount_yen"), 0))
    }
    if not filed and not paid:
        return []
    first = min([*filed, *paid])
    last = max([*filed, *paid, _monday(today or timezone.localdate())])
    weeks = []
    week = first
    while week <= last:
        f, p = filed.get(week, (0, 0)), paid.get(week, (0, 0))
        weeks.append(Week(week, f[0], f[1], p[0], p[1]))
        week += timedelta(days=7)
    return weeks


def _account_sum(code: str) -> int:
    return int(Entry.objects.filter(account__code=code).aggregate(total=Coalesce(Sum("amount_yen"), 0))["total"])


def ledger_reconciliation() -> LedgerReconciliation:
    """Over every claim (the ledger accounts serve all programmes)."""
    totals = RefundClaim.objects.order_by().aggregate(
        not_rejected=Coalesce(Sum("amount_yen", filter=~Q(state=RefundClaim.State.REJECTED)), 0),
        open=Coalesce(Sum("amount_yen", filter=Q(state__in=RefundClaim.OPEN_STATES)), 0),
        paid=Coalesce(Sum("amount_yen", filter=Q(state=RefundClaim.State.PAID)), 0),
    )
    # Released (the batch's ledger transfer is posted) and not yet paid or returned by the bank.
    waiting = Payout.objects.filter(state__in=[Payout.State.SCHEDULED, Payout.State.SENT], batch__transfer__isnull=False).aggregate(
        total=Coalesce(Sum("amount_yen"), 0)
    )["total"]
    return LedgerReconciliation(
        refund_payable_yen=_account_sum("refund_payable"),
        payout_clearing_yen=_account_sum("payout_clearing"),
        claims_not_rejected_yen=totals["not_rejected"],
        claims_open_yen=totals["open"],
        claims_paid_yen=totals["paid"],
        released_waiting_yen=waiting,
    )


@dataclass(frozen=True)
class UnclaimedHolder:
    account_id: int
    customer_id: int
    email: str
    name_kana: str
    balance_yen: int


def _holder_values(queryset: QuerySet[LedgerAccount]) -> QuerySet[LedgerAccount, tuple[int, int, str, str, int | None]]:
    return queryset.values_list("pk", "owner_id", "owner__email", "owner__name_kana", "balance_yen")


def unclaimed_holders(
    programme: ShutdownProgramme, *, after: int = 0, before: int | None = None, limit: int = UNCLAIMED_PAGE_SIZE
) -> list[UnclaimedHolder]:
    """One keyset page in wallet-account order: after ``after``, or the page ending just before ``before``."""
    wallets = unclaimed_wallets(programme)
    if before is not None:
        rows = list(_holder_values(wallets.filter(pk__lt=before).order_by("-pk"))[:limit])
        rows.reverse()
    else:
        rows = list(_holder_values(wallets.filter(pk__gt=after).order_by("pk"))[:limit])
    return [UnclaimedHolder(pk, owner, email, kana, balance or 0) for pk, owner, email, kana, balance in rows]


def unclaimed_has_more(programme: ShutdownProgramme, *, after: int) -> bool:
    return unclaimed_wallets(programme).filter(pk__gt=after).exists()


def unclaimed_has_before(programme: ShutdownProgramme, *, before: int) -> bool:
    return unclaimed_wallets(programme).filter(pk__lt=before).exists()


def unclaimed_csv_rows(programme: ShutdownProgramme, *, chunk: int = 5_000) -> Iterator[list[str]]:
    """Header, then every unclaimed holder, read in keyset chunks so a million rows stream in constant memory."""
    yield UNCLAIMED_CSV_HEADER
    after = 0
    while True:
        page = unclaimed_holders(programme, after=after, limit=chunk)
        if not page:
            return
        for holder in page:
            yield [csv_safe(v) for v in (holder.customer_id, holder.email, holder.name_kana, holder.balance_yen)]
        after = page[-1].account_id
