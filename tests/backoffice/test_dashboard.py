"""The incident dashboard: its numbers match the data, its charts are there and
readable without them, each panel follows the viewer's permissions."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backoffice.models import Case, CaseTransaction, Compensation, Hunt, MassReset
from backoffice.selectors.dashboard import (
    compensation_totals,
    damage_estimate,
    open_cases_by_status,
    topups_per_channel_per_hour,
)
from backoffice.services.switches import channel_switch_flip
from tests.backoffice.helpers import make_staff, otp_login
from tests.conftest import make_customer
from tests.money import fund_wallet
from wallet.models import RiskDecision, RiskEvent, RiskOutcome, TopUp, TransactionReport, User

pytestmark = pytest.mark.django_db

DASHBOARD = "admin:incident_dashboard"


@pytest.fixture(autouse=True)
def _half_past() -> Iterator[None]:
    """Hour buckets follow the clock: start each test at half past, far from an hour's turn."""
    with time_machine.travel(datetime(2026, 7, 4, 10, 30, tzinfo=ZoneInfo("Asia/Tokyo")), tick=True):
        yield


def this_hour() -> datetime:
    return timezone.localtime().replace(minute=0, second=0, microsecond=0)


def topup(user: User, channel: str, amount: int, status: str, at: datetime) -> TopUp:
    return TopUp.objects.create(
        request_key=secrets.token_hex(8), user=user, channel=channel, amount_yen=amount, status=status, created_at=at
    )


@dataclass
class Seeded:
    staff: User
    victims: list[User]
    hunt: Hunt
    reset: MassReset


@pytest.fixture
def seeded() -> Seeded:
    """Top-ups over three days, cases with transactions, compensation, a hunt and a reset running."""
    staff = make_staff("seed@anzenpay.example", superuser=True)
    payer = make_customer("payer@example.jp")
    now = this_hour()
    ok, declined = TopUp.Status.SUCCEEDED, TopUp.Status.DECLINED
    credit, store = TopUp.Channel.CREDIT_CARD, TopUp.Channel.STORE_REGISTER
    # Credit card: a burst two hours ago (5 attempts, 3 completed), one completed 30 hours ago.
    for amount, status in [(30_000, ok), (30_000, ok), (20_000, ok), (50_000, declined), (50_000, declined)]:
        topup(payer, credit, amount, status, now - timedelta(hours=2) + timedelta(minutes=5))
    topup(payer, credit, 1_000, ok, now - timedelta(hours=30))
    # Outside the window: never counted.
    topup(payer, credit, 99_000, ok, now - timedelta(hours=72, minutes=1))
    # Store register: a held one this hour counts as an attempt, not as yen.
    topup(payer, store, 5_000, TopUp.Status.HELD, now + timedelta(minutes=1))

    victims = [make_customer(f"victim{i}@example.jp", phone=f"+8190000000{i:02d}") for i in range(3)]
    case_statuses = [Case.Status.OPEN, Case.Status.CONFIRMED, Case.Status.NOT_FRAUD]
    for victim, case_status in zip(victims, case_statuses, strict=True):
        case = Case.objects.create(customer=victim, status=case_status, source=Case.Source.MANUAL, opened_by=staff)
        funding = fund_wallet(victim, 12_000)
        assert funding.transfer is not None
        CaseTransaction.objects.create(
            case=case,
            transfer=funding.transfer,
            kind=CaseTransaction.Kind.TOPUP,
            topup=funding,
            amount_yen=12_000,
            occurred_at=funding.created_at,
        )
    confirmed = Case.objects.get(status=Case.Status.CONFIRMED)
    paid_transfer = confirmed.transactions.get().transfer
    Compensation.objects.create(
        case=confirmed,
        fraud_transfer=paid_transfer,
        customer=confirmed.customer,
        method=Compensation.Method.LEDGER,
        amount_yen=12_000,
        state=Compensation.State.PAID,
        requested_by=staff,
        paid_at=timezone.now(),
    )
    opened = Case.objects.get(status=Case.Status.OPEN)
    Compensation.objects.create(
        case=opened,
        fraud_transfer=opened.transactions.get().transfer,
        customer=opened.customer,
        method=Compensation.Method.CARD_REFUND,
        amount_yen=7_000,
        state=Compensation.State.REQUESTED,
        requested_by=staff,
    )
    start = timezone.now() - timedelta(days=30)
    Hunt.objects.create(
        rule_kind="topup_then_spend",
        period_start=start,
        period_end=timezone.now(),
        state=Hunt.State.DONE,
        customers_count=812,
        transactions_count=2_000,
        damage_yen=38_620_000,
        created_by=staff,
        finished_at=timezone.now(),
    )
    hunt = Hunt.objects.create(
        rule_kind="velocity",
        period_start=start,
        period_end=timezone.now(),
        state=Hunt.State.RUNNING,
        steps_total=10,
        steps_done=4,
        created_by=staff,
    )
    reset = MassReset.objects.create(
        reason="credential stuffing",
        filters={"all": True},
        state=MassReset.State.RUNNING,
        accounts_estimated=1_000,
        accounts_reset=250,
        created_by=staff,
    )
    MassReset.objects.create(
        reason="done", filters={"all": True}, state=MassReset.State.DONE, accounts_estimated=5, accounts_reset=5, created_by=staff
    )
    RiskDecision.objects.create(event=RiskEvent.TOPUP, outcome=RiskOutcome.REVIEW, user=payer, amount_yen=50_000)
    RiskDecision.objects.create(event=RiskEvent.TOPUP, outcome=RiskOutcome.REVIEW, user=payer, amount_yen=50_000)
    RiskDecision.objects.create(event=RiskEvent.TOPUP, outcome=RiskOutcome.REVIEW, user=payer, reviewed_at=timezone.now())
    TransactionReport.objects.create(user=victims[0], transfer=paid_transfer)
    channel_switch_flip(name="charge.credit_card", enabled=False, reason="attack", acting_user=staff)
    return Seeded(staff, victims, hunt, reset)


def test_topups_per_channel_per_hour_match_the_rows(seeded: Seeded, django_assert_num_queries) -> None:
    with django_assert_num_queries(1):
        hours = topups_per_channel_per_hour()
    assert len(hours.hours) == 72 and hours.hours[-1] == this_hour()
    series = {s.channel: s for s in hours.series}
    assert set(series) == set(TopUp.Channel.values)
    credit = series[TopUp.Channel.CREDIT_CARD]
    assert credit.counts[-3] == 5 and credit.yen[-3] == 80_000  # declined attempts counted, not their yen
    assert credit.counts[-31] == 1 and credit.yen[-31] == 1_000
    assert credit.total_count == 6 and credit.total_yen == 81_000  # the one 72 h + 1 min ago is out
    store = series[TopUp.Channel.STORE_REGISTER]
    # The seeded ¥5,000 held one this hour plus the three cash fundings of the victims (completed).
    assert store.counts[-1] == 4 and store.yen[-1] == 36_000
    assert sum(series[TopUp.Channel.ATM].counts) == 0


def test_cases_damage_and_compensation_figures(seeded: Seeded, django_assert_num_queries) -> None:
    with django_assert_num_queries(1):
        by_status = {status: n for status, _label, n in open_cases_by_status()}
    assert by_status == {"open": 1, "investigating": 0, "confirmed": 1, "compensating": 0, "compensated": 0}
    damage = damage_estimate()
    assert damage.customers == 2  # the case closed as not fraud is left out
    assert [(line.kind, line.transactions, line.yen) for line in damage.lines] == [("topup", 2, 24_000)]
    assert damage.latest_hunt is not None and damage.latest_hunt.damage_yen == 38_620_000
    with django_assert_num_queries(1):
        totals = compensation_totals()
    assert (totals.paid_count, totals.paid_yen, totals.paid_customers, totals.waiting_count, totals.waiting_yen) == (1, 12_000, 1, 1, 7_000)


def test_dashboard_page_shows_the_seeded_numbers_and_charts(client: Client, seeded: Seeded) -> None:
    otp_login(client, make_staff("boss@anzenpay.example", "supervisor"))
    response = client.get(reverse(DASHBOARD))
    assert response.status_code == 200
    body = response.content.decode()

    # The line chart, twice (wide and phone layouts), each an image with a title and a description.
    assert body.count('role="img" aria-labelledby="topups-wide-title topups-wide-desc"') == 1
    assert body.count('aria-labelledby="topups-narrow-title topups-narrow-desc"') == 1
    assert len(re.findall(r'<polyline class="chart-line"', body)) == 2 * len(TopUp.Channel.values)
    assert "Credit card: 6 in all, at most 5 in an hour" in body  # the description gives the numbers
    # The table behind the chart, hour by hour.
    burst = (this_hour() - timedelta(hours=2)).strftime("%m/%d %H:00")
    row = re.search(rf"<th scope=\"row\">{re.escape(burst)}</th>(.*?)</tr>", body, re.S)
    assert row is not None
    assert re.findall(r'<td class="num">([^<]*)</td>', row.group(1)) == ["5", "0", "0", "0", "5"]

    # Tiles and panels.
    assert re.search(r'tile-number">1</span>\s*<span class="tile-label">channel off', body)
    assert re.search(r'tile-number">3</span>\s*<span class="tile-label">waiting for review', body)
    assert re.search(r'tile-number">2</span>\s*<span class="tile-label">open cases', body)
    assert re.search(r'tile-number">¥12,000</span>\s*<span class="tile-label">compensation paid', body)
    assert "Held payments and top-ups: 2; Customer reports: 1; Hunt hits: 0" in body
    assert "Open: 1; Investigating: 0; Fraud confirmed: 1; Compensation requested: 0; Compensated: 0" in body
    assert "2 customers in fraud cases" in body and "¥24,000" in body
    assert "Latest finished hunt #" in body and "812 customers, ¥38,620,000." in body
    assert "Paid: 1 transactions of 1 customers." in body and "Waiting for approval: 1 (¥7,000)." in body
    assert re.search(r"<code>charge.credit_card</code>\s*<span class=\"switch-state-badge\">Off", body)
    # Running jobs with their progress; the finished reset is not listed.
    assert '<progress max="100" value="40"' in body and "4 of 10 slices" in body
    assert '<progress max="100" value="25"' in body and "250 of about 1,000 accounts" in body
    assert body.count("<progress") == 2
    assert reverse("admin:incident_hunt_detail", args=[seeded.hunt.pk]) in body
    assert reverse("admin:incident_mass_reset_detail", args=[seeded.reset.pk]) in body
    # Reloads itself unless told not to.
    assert '<meta http-equiv="refresh" content="60">' in body
    assert '<meta http-equiv="refresh"' not in client.get(reverse(DASHBOARD), {"refresh": "0"}).content.decode()


def test_yen_metric_charts_completed_yen(client: Client, seeded: Seeded) -> None:
    otp_login(client, make_staff("boss@anzenpay.example", "supervisor"))
    body = client.get(reverse(DASHBOARD), {"metric": "yen"}).content.decode()
    assert "Credit card: ¥81,000 in all, at most ¥80,000 in an hour" in body
    assert "¥80,000" in body
    # An unknown metric falls back to attempts.
    assert "Credit card: 6 in all" in client.get(reverse(DASHBOARD), {"metric": "nope"}).content.decode()


def test_dashboard_query_count_does_not_grow_with_the_data(client: Client, seeded: Seeded, django_assert_max_num_queries) -> None:
    otp_login(client, make_staff("boss@anzenpay.example", "supervisor"))
    client.get(reverse(DASHBOARD))
    staff = seeded.staff
    for i in range(5):
        Hunt.objects.create(
            rule_kind="velocity",
            period_start=timezone.now() - timedelta(days=1),
            period_end=timezone.now(),
            state=Hunt.State.QUEUED,
            created_by=make_staff(f"analyst{i}@anzenpay.example", "fraud_analyst"),
        )
        MassReset.objects.create(reason=f"r{i}", filters={"all": True}, state=MassReset.State.PAUSED, created_by=staff)
    with django_assert_max_num_queries(30):
        body = client.get(reverse(DASHBOARD)).content.decode()
    assert body.count("<progress") == 12


def test_empty_dashboard_says_so(client: Client) -> None:
    otp_login(client, make_staff("boss@anzenpay.example", "supervisor"))
    body = client.get(reverse(DASHBOARD)).content.decode()
    assert "No top-ups in the last 72 hours." in body
    assert "No job is running or waiting." in body


@pytest.mark.parametrize(
    ("role", "panels"),
    [
        ("support", {"topups", "queue", "switches", "jobs", "compensation"}),
        ("fraud_analyst", {"topups", "queue", "switches", "jobs", "compensation"}),
        ("finance", {"topups", "compensation", "switches"}),
        ("supervisor", {"topups", "queue", "switches", "jobs", "compensation"}),
    ],
)
def test_each_role_sees_the_panels_its_permissions_allow(client: Client, seeded: Seeded, role: str, panels: set[str]) -> None:
    otp_login(client, make_staff(f"{role}@anzenpay.example", role))
    response = client.get(reverse(DASHBOARD))
    assert response.status_code == 200
    body = response.content.decode()
    shown = {panel for panel in ("topups", "queue", "switches", "jobs", "compensation") if f'id="{panel}-heading"' in body}
    assert shown == panels
    # Cases and damage are for everybody who may open the page.
    assert 'id="cases-heading"' in body and 'id="damage-heading"' in body
    # Hunts are listed only to those who may see hunts; the reset to those who may see resets.
    assert ("4 of 10 slices" in body) == (role in ("fraud_analyst", "supervisor"))
    assert ("250 of about 1,000 accounts" in body) == (role in ("support", "fraud_analyst", "supervisor"))


def test_staff_without_a_role_cannot_open_the_dashboard(client: Client) -> None:
    otp_login(client, make_staff("nobody@anzenpay.example"))
    assert client.get(reverse(DASHBOARD)).status_code == 403
