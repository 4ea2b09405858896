"""Look-back hunts: each rule replayed over history finds exactly the seeded
pattern and not its near misses; progress, totals, re-runs and resumes; bulk
case opening; the pages and who may use them."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backoffice.models import Case, Hunt, HuntHit, StaffAction
from backoffice.services.cases import case_open_or_join
from backoffice.services.hunts import HuntRefused, hunt_cancel, hunt_cases_open, hunt_start, runner
from backoffice.tasks.hunts import hunt_run_task
from tests.backoffice.helpers import make_staff, otp_login
from tests.conftest import make_customer
from tests.money import make_card, make_terminal
from wallet.models import AuthEvent, Card, KnownDevice, Payment, RiskRule, Terminal, TopUp, Transfer, User
from wallet.services.ledger import Leg, merchant_payable_account, system_account, transfer_post, wallet_account_for
from wallet.services.risk import risk_rule_update

pytestmark = pytest.mark.django_db

NOW = timezone.now()
# Every seeded event happens on day 0 of the period or later; the period ends before NOW.
DAY0 = (NOW - timedelta(days=20)).replace(microsecond=0)
PERIOD = (DAY0 - timedelta(days=1), NOW - timedelta(minutes=1))


# --- history, written the way the services write it (ledger transfers first) -------------------


@pytest.fixture
def register() -> Terminal:
    return make_terminal()[0]


def customer(name: str) -> User:
    return make_customer(f"{name}@example.jp", full_name=name, phone="")


def topup(
    user: User, yen: int, at: datetime, *, channel: str = "charge.store_register", card: Card | None = None, status: str = "succeeded"
) -> TopUp:
    clearing = "card_clearing" if card is not None else "cash_clearing"
    transfer = transfer_post(
        kind=Transfer.Kind.TOPUP,
        legs=[Leg(system_account(clearing), -yen), Leg(wallet_account_for(user), yen)],
        idempotency_key=f"test-topup:{uuid.uuid4()}",
    )
    return TopUp.objects.create(
        request_key=f"test:{uuid.uuid4()}",
        user=user,
        channel=card.channel if card is not None else channel,
        amount_yen=yen,
        status=status,
        card=card,
        transfer=transfer,
        created_at=at,
        completed_at=at,
    )


def pay(user: User, yen: int, at: datetime, terminal: Terminal) -> Payment:
    transfer = transfer_post(
        kind=Transfer.Kind.PAYMENT,
        legs=[Leg(wallet_account_for(user), -yen), Leg(merchant_payable_account(terminal.merchant), yen)],
        idempotency_key=f"test-payment:{uuid.uuid4()}",
    )
    return Payment.objects.create(
        user=user, merchant=terminal.merchant, terminal=terminal, amount_yen=yen, transfer=transfer, created_at=at
    )


def card_at(user: User, at: datetime, *, fingerprint: str | None = None, removed_at: datetime | None = None) -> Card:
    card = make_card(user)
    changes: dict[str, Any] = {"created_at": at, "removed_at": removed_at}
    if fingerprint:
        changes["fingerprint"] = fingerprint
    if removed_at is not None:
        changes["status"] = Card.Status.REMOVED
    Card.objects.filter(pk=card.pk).update(**changes)
    card.refresh_from_db()
    return card


@pytest.fixture
def analyst() -> User:
    return make_staff("analyst@anzen.example", "fraud_analyst")


@pytest.fixture
def run(analyst: User, django_capture_on_commit_callbacks: Any) -> Callable[..., Hunt]:
    """Start a hunt as the analyst and let its job run (tasks are eager on commit)."""

    def start(kind: str, params: dict[str, Any] | None = None, period: tuple[datetime, datetime] = PERIOD) -> Hunt:
        with django_capture_on_commit_callbacks(execute=True):
            hunt = hunt_start(rule_kind=kind, params=params, period_start=period[0], period_end=period[1], acting_user=analyst)
        hunt.refresh_from_db()
        assert hunt.state == Hunt.State.DONE, hunt.error
        return hunt

    return start


def hits_by_email(hunt: Hunt) -> dict[str, HuntHit]:
    return {hit.customer.email: hit for hit in HuntHit.objects.filter(hunt=hunt).select_related("customer")}


@pytest.fixture
def small_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slices of two keys, so a handful of rows makes a hunt of many steps."""
    monkeypatch.setattr(runner, "CHUNK_MIN", 2)
    monkeypatch.setattr(runner, "CHUNK_MAX", 2)


# --- the 7pay rule -------------------------------------------------------------------------


@pytest.fixture
def seven_pay(register: Terminal) -> dict[str, Any]:
    """The 7pay pattern, the thresholds met exactly, and a near miss of each threshold
    (default rule: top-ups of ¥10,000 or more, then a payment of ¥10,000 or more within 24 h)."""
    t = DAY0
    victim = customer("victim")
    v_topups = [topup(victim, 30_000, t), topup(victim, 30_000, t + timedelta(seconds=20))]
    v_pay = pay(victim, 55_000, t + timedelta(hours=1), register)
    exact = customer("exact")
    e_topup = topup(exact, 10_000, t)
    e_pay = pay(exact, 10_000, t + timedelta(hours=23, minutes=59), register)
    several = customer("several")
    s_topups = [topup(several, 6_000, t), topup(several, 5_000, t + timedelta(hours=2))]
    s_pay = pay(several, 11_000, t + timedelta(hours=3), register)

    small_topup = customer("small-topup")
    topup(small_topup, 9_999, t)
    pay(small_topup, 9_999, t + timedelta(hours=1), register)
    late_spend = customer("late-spend")
    topup(late_spend, 30_000, t)
    pay(late_spend, 20_000, t + timedelta(hours=24, minutes=1), register)
    small_spend = customer("small-spend")
    topup(small_spend, 30_000, t)
    pay(small_spend, 9_999, t + timedelta(hours=1), register)
    spend_first = customer("spend-first")
    topup(spend_first, 15_000, t - timedelta(days=10))
    pay(spend_first, 12_000, t + timedelta(days=2), register)
    topup(spend_first, 15_000, t + timedelta(days=2, minutes=1))
    rejected = customer("rejected")
    topup(rejected, 20_000, t - timedelta(days=3))
    topup(rejected, 30_000, t, status=TopUp.Status.REJECTED)
    pay(rejected, 15_000, t + timedelta(hours=1), register)
    outside = customer("outside")
    topup(outside, 30_000, PERIOD[0] - timedelta(hours=2))
    pay(outside, 20_000, PERIOD[0] - timedelta(hours=1), register)
    return {
        "victim": (victim, [*v_topups, v_pay]),
        "exact": (exact, [e_topup, e_pay]),
        "several": (several, [*s_topups, s_pay]),
    }


def test_7pay_hunt_finds_exactly_the_seeded_fraud_and_no_near_miss(run: Callable[..., Hunt], seven_pay: dict[str, Any]) -> None:
    hunt = run("topup_then_spend")

    hits = hits_by_email(hunt)
    assert set(hits) == {"victim@example.jp", "exact@example.jp", "several@example.jp"}
    for name, (user, rows) in seven_pay.items():
        hit = hits[user.email]
        assert sorted(hit.transfer_ids) == sorted(row.transfer_id for row in rows), name
        assert hit.transactions_count == len(rows)
        # The damage is what was spent; the top-ups explain the hit and are not counted again.
        assert hit.amount_yen == sum(row.amount_yen for row in rows if isinstance(row, Payment))
        assert hit.first_at == min(row.created_at for row in rows)
        assert hit.last_at == max(row.created_at for row in rows)
    assert (hunt.customers_count, hunt.transactions_count, hunt.damage_yen) == (3, 8, 55_000 + 10_000 + 11_000)
    assert hunt.params["payment_min_yen"] == 10_000  # the default rule's thresholds
    assert hunt.params["topup_total_min_yen"] == 10_000 and hunt.params["hours"] == 24


def test_7pay_hunt_uses_the_risk_rule_as_the_analysts_tuned_it(run: Callable[..., Hunt], seven_pay: dict[str, Any]) -> None:
    rule = RiskRule.objects.get(code="topup-then-spend")
    risk_rule_update(rule=rule, changes={"params": {**rule.params, "payment_min_yen": 50_000}}, acting_user=None)

    hunt = run("topup_then_spend")

    assert set(hits_by_email(hunt)) == {"victim@example.jp"}
    assert hunt.params["payment_min_yen"] == 50_000


def test_7pay_hunt_thresholds_can_be_given(run: Callable[..., Hunt], seven_pay: dict[str, Any]) -> None:
    hunt = run("topup_then_spend", {"hours": 2, "topup_total_min_yen": 20_000})

    assert set(hits_by_email(hunt)) == {"victim@example.jp"}


def test_7pay_hunt_can_count_card_topups_only(run: Callable[..., Hunt], register: Terminal) -> None:
    by_card, by_cash = customer("card"), customer("cash")
    topup(by_card, 20_000, DAY0, card=make_card(by_card))
    pay(by_card, 15_000, DAY0 + timedelta(hours=1), register)
    topup(by_cash, 20_000, DAY0)
    pay(by_cash, 15_000, DAY0 + timedelta(hours=1), register)

    hunt = run("topup_then_spend", {"topup_channels": ["charge.credit_card", "charge.debit_card"]})

    assert set(hits_by_email(hunt)) == {"card@example.jp"}


# --- the other rules: a positive and a negative case each ----------------------------------


def test_velocity_count_hunt_flags_the_third_topup_within_a_minute(run: Callable[..., Hunt]) -> None:
    burst, spread = customer("burst"), customer("spread")
    rows = [topup(burst, 1_000, DAY0 + timedelta(seconds=s)) for s in (0, 20, 50)]
    for s in (0, 40, 101):
        topup(spread, 1_000, DAY0 + timedelta(seconds=s))

    hunt = run("velocity_count", {"window_seconds": 60, "max_count": 2, "events": ["topup"]})

    hits = hits_by_email(hunt)
    assert set(hits) == {"burst@example.jp"}
    assert hits["burst@example.jp"].transfer_ids == [rows[2].transfer_id]
    assert hits["burst@example.jp"].amount_yen == 1_000


def test_velocity_count_hunt_over_store_payments(run: Callable[..., Hunt], register: Terminal) -> None:
    spender, calm = customer("spender"), customer("calm")
    topup(spender, 50_000, DAY0 - timedelta(days=2))
    topup(calm, 50_000, DAY0 - timedelta(days=2))
    for minute in (0, 2, 4, 6):
        pay(spender, 1_000, DAY0 + timedelta(minutes=minute), register)
    for minute in (0, 4, 8, 12):
        pay(calm, 1_000, DAY0 + timedelta(minutes=minute), register)

    hunt = run("velocity_count", {"window_seconds": 600, "max_count": 3, "events": ["payment"]})

    assert set(hits_by_email(hunt)) == {"spender@example.jp"}


def test_velocity_amount_hunt_flags_the_topup_that_crosses_the_daily_amount(run: Callable[..., Hunt]) -> None:
    over, at_cap, apart = customer("over"), customer("at-cap"), customer("apart")
    topup(over, 30_000, DAY0)
    second = topup(over, 25_000, DAY0 + timedelta(hours=5))
    topup(at_cap, 30_000, DAY0)
    topup(at_cap, 20_000, DAY0 + timedelta(hours=5))
    topup(apart, 30_000, DAY0)
    topup(apart, 25_000, DAY0 + timedelta(hours=25))

    hunt = run("velocity_amount", {"window_seconds": 86_400, "max_amount_yen": 50_000, "events": ["topup"]})

    hits = hits_by_email(hunt)
    assert set(hits) == {"over@example.jp"}
    assert hits["over@example.jp"].transfer_ids == [second.transfer_id]


def test_new_device_hunt_flags_money_moved_soon_after_a_second_device(run: Callable[..., Hunt]) -> None:
    taken, newcomer, later, revoked = customer("taken"), customer("newcomer"), customer("later"), customer("revoked")
    KnownDevice.objects.create(user=taken, device_digest="own", first_seen_at=DAY0 - timedelta(days=100))
    KnownDevice.objects.create(user=taken, device_digest="attacker", first_seen_at=DAY0)
    flagged = topup(taken, 5_000, DAY0 + timedelta(hours=2))
    # A new customer's very first device is not a takeover.
    KnownDevice.objects.create(user=newcomer, device_digest="first", first_seen_at=DAY0)
    topup(newcomer, 5_000, DAY0 + timedelta(hours=1))
    KnownDevice.objects.create(user=later, device_digest="own", first_seen_at=DAY0 - timedelta(days=100))
    KnownDevice.objects.create(user=later, device_digest="new", first_seen_at=DAY0)
    topup(later, 5_000, DAY0 + timedelta(hours=25))
    KnownDevice.objects.create(user=revoked, device_digest="own", first_seen_at=DAY0 - timedelta(days=100))
    KnownDevice.objects.create(user=revoked, device_digest="gone", first_seen_at=DAY0, revoked_at=DAY0 + timedelta(minutes=5))
    topup(revoked, 5_000, DAY0 + timedelta(hours=1))

    hunt = run("new_device_money", {"hours": 24})

    hits = hits_by_email(hunt)
    assert set(hits) == {"taken@example.jp"}
    assert hits["taken@example.jp"].transfer_ids == [flagged.transfer_id]


def test_credential_change_hunt_flags_a_topup_after_a_password_change(run: Callable[..., Hunt]) -> None:
    reset, logged_in, much_later = customer("reset"), customer("logged-in"), customer("much-later")
    AuthEvent.objects.create(user=reset, kind=AuthEvent.Kind.PASSWORD_RESET_COMPLETED, created_at=DAY0)
    flagged = topup(reset, 8_000, DAY0 + timedelta(hours=3))
    AuthEvent.objects.create(user=logged_in, kind=AuthEvent.Kind.LOGIN_SUCCEEDED, created_at=DAY0)
    topup(logged_in, 8_000, DAY0 + timedelta(hours=3))
    AuthEvent.objects.create(user=much_later, kind=AuthEvent.Kind.PASSWORD_CHANGED, created_at=DAY0)
    topup(much_later, 8_000, DAY0 + timedelta(hours=25))

    hunt = run("credential_change_topup")

    hits = hits_by_email(hunt)
    assert set(hits) == {"reset@example.jp"}
    assert hits["reset@example.jp"].transfer_ids == [flagged.transfer_id]
    assert hunt.params["hours"] == 24


def test_cards_per_wallet_hunt_flags_the_card_beyond_the_cap_and_its_topups(run: Callable[..., Hunt]) -> None:
    collector, tidy = customer("collector"), customer("tidy")
    for day in range(3):
        card_at(collector, DAY0 + timedelta(days=day))
    fourth = card_at(collector, DAY0 + timedelta(days=3))
    spent = topup(collector, 20_000, DAY0 + timedelta(days=3, hours=1), card=fourth)
    card_at(tidy, DAY0, removed_at=DAY0 + timedelta(days=1))
    for day in range(1, 4):
        card_at(tidy, DAY0 + timedelta(days=day))

    hunt = run("cards_per_wallet")

    hits = hits_by_email(hunt)
    assert set(hits) == {"collector@example.jp"}
    assert hits["collector@example.jp"].transfer_ids == [spent.transfer_id]
    assert hits["collector@example.jp"].amount_yen == 20_000
    assert hunt.params["max_cards"] == 3


def test_wallets_per_card_hunt_flags_every_wallet_using_a_card_shared_too_widely(run: Callable[..., Hunt]) -> None:
    ring = [customer(f"ring{i}") for i in range(4)]
    pair = [customer(f"pair{i}") for i in range(2)]
    cards = [card_at(user, DAY0 + timedelta(days=i), fingerprint="f" * 64) for i, user in enumerate(ring)]
    early = topup(ring[0], 5_000, DAY0 + timedelta(days=1, hours=1), card=cards[0])  # only one other wallet then
    late = topup(ring[0], 5_000, DAY0 + timedelta(days=4), card=cards[0])  # three others by now
    for i, user in enumerate(pair):
        shared = card_at(user, DAY0 + timedelta(days=i), fingerprint="e" * 64)
        topup(user, 5_000, DAY0 + timedelta(days=3), card=shared)

    hunt = run("wallets_per_card")  # the default rule: more than 2 other wallets, at registration and top-up

    hits = hits_by_email(hunt)
    assert set(hits) == {"ring0@example.jp", "ring3@example.jp"}
    assert hits["ring0@example.jp"].transfer_ids == [late.transfer_id]
    assert early.transfer_id not in hits["ring0@example.jp"].transfer_ids
    assert hits["ring3@example.jp"].transfer_ids == []  # its registration, no money yet
    assert hunt.params["max_other_wallets"] == 2


# --- progress, totals, re-runs, resumes, failure, cancel -------------------------------------


def test_hunt_moves_in_slices_and_totals_are_the_sum_of_its_hits(
    run: Callable[..., Hunt], seven_pay: dict[str, Any], small_slices: None, analyst: User
) -> None:
    hunt = run("topup_then_spend")

    # The candidates are the period's payments of ¥10,000 or more, two a step here.
    candidates = Payment.objects.filter(created_at__gte=PERIOD[0], created_at__lt=PERIOD[1], amount_yen__gte=10_000).count()
    assert hunt.steps_total == -(-candidates // 2) > 1
    assert hunt.steps_done == hunt.steps_total and hunt.percent_done == 100
    hits = list(HuntHit.objects.filter(hunt=hunt))
    assert hunt.customers_count == len(hits) == 3
    assert hunt.transactions_count == sum(hit.transactions_count for hit in hits)
    assert hunt.damage_yen == sum(hit.amount_yen for hit in hits)
    assert StaffAction.objects.filter(action="hunt.start", target_id=str(hunt.pk), actor=analyst).exists()


def _snapshot(hunt: Hunt) -> list[tuple[Any, ...]]:
    return sorted(
        (hit.customer_id, hit.transactions_count, hit.amount_yen, hit.first_at, hit.last_at, tuple(sorted(hit.transfer_ids)))
        for hit in HuntHit.objects.filter(hunt=hunt)
    )


def test_the_task_run_twice_gives_the_same_hits(run: Callable[..., Hunt], seven_pay: dict[str, Any], small_slices: None) -> None:
    hunt = run("topup_then_spend")
    before = _snapshot(hunt)

    assert hunt_run_task.apply(args=(hunt.pk,)).get() == "done"
    assert hunt_run_task.apply(args=(hunt.pk,)).get() == "done"

    hunt.refresh_from_db()
    assert _snapshot(hunt) == before
    assert (hunt.customers_count, hunt.damage_yen) == (3, 76_000)


def test_a_killed_worker_resumes_where_the_last_slice_committed(
    run: Callable[..., Hunt],
    seven_pay: dict[str, Any],
    small_slices: None,
    analyst: User,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    reference = _snapshot(run("topup_then_spend"))
    real_step = runner._step
    calls = {"n": 0}

    def dies_after_one(hunt_id: int, run: str) -> bool:
        calls["n"] += 1
        if calls["n"] > 1:
            raise KeyboardInterrupt  # the worker process is killed: nothing below it runs
        return real_step(hunt_id, run)

    monkeypatch.setattr(runner, "_step", dies_after_one)
    with pytest.raises(KeyboardInterrupt), django_capture_on_commit_callbacks(execute=True):
        hunt = hunt_start(rule_kind="topup_then_spend", params={}, period_start=PERIOD[0], period_end=PERIOD[1], acting_user=analyst)
    hunt.refresh_from_db()
    assert hunt.state == Hunt.State.RUNNING and hunt.steps_done == 1 < hunt.steps_total

    monkeypatch.setattr(runner, "_step", real_step)
    assert hunt_run_task.apply(args=(hunt.pk,)).get() == "done"  # the broker delivers the message again

    hunt.refresh_from_db()
    assert hunt.steps_done == hunt.steps_total
    assert _snapshot(hunt) == reference


def test_a_resumed_hunt_whose_history_changed_starts_again_from_nothing(
    seven_pay: dict[str, Any],
    small_slices: None,
    analyst: User,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    real_step = runner._step

    def dies_after_one(hunt_id: int, run: str, calls: list[int] = []) -> bool:  # noqa: B006 - counts calls across the run
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return real_step(hunt_id, run)

    monkeypatch.setattr(runner, "_step", dies_after_one)
    with pytest.raises(KeyboardInterrupt), django_capture_on_commit_callbacks(execute=True):
        hunt = hunt_start(rule_kind="topup_then_spend", params={}, period_start=PERIOD[0], period_end=PERIOD[1], acting_user=analyst)
    first_run = Hunt.objects.get(pk=hunt.pk).params["_plan"]["run"]
    # While no worker runs it, a payment it had counted is corrected below the threshold.
    Payment.objects.filter(user=seven_pay["victim"][0]).update(amount_yen=9_000)
    monkeypatch.setattr(runner, "_step", real_step)

    assert hunt_run_task.apply(args=(hunt.pk,)).get() == "done"

    hunt.refresh_from_db()
    assert hunt.params["_plan"]["run"] != first_run
    assert set(hits_by_email(hunt)) == {"exact@example.jp", "several@example.jp"}
    assert (hunt.customers_count, hunt.damage_yen) == (2, 21_000)


def test_a_hunt_that_breaks_is_marked_failed_with_the_error(
    analyst: User, seven_pay: dict[str, Any], monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    monkeypatch.setattr(runner, "MERGE_SQL", "SELECT no_such_function(%(hunt_id)s) FROM {hits}")
    with django_capture_on_commit_callbacks(execute=True):
        hunt = hunt_start(rule_kind="topup_then_spend", params={}, period_start=PERIOD[0], period_end=PERIOD[1], acting_user=analyst)

    hunt.refresh_from_db()
    assert hunt.state == Hunt.State.FAILED
    assert "no_such_function" in hunt.error
    assert hunt.finished_at is not None


def test_a_cancelled_hunt_stops_and_a_finished_one_cannot_be_cancelled(
    analyst: User, run: Callable[..., Hunt], seven_pay: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        queued = hunt_start(rule_kind="topup_then_spend", params={}, period_start=PERIOD[0], period_end=PERIOD[1], acting_user=analyst)
    hunt_cancel(hunt=queued, acting_user=analyst)

    assert hunt_run_task.apply(args=(queued.pk,)).get() == "cancelled"
    assert not HuntHit.objects.filter(hunt=queued).exists()
    assert StaffAction.objects.filter(action="hunt.cancel", target_id=str(queued.pk)).exists()

    finished = run("topup_then_spend")
    with pytest.raises(HuntRefused) as refused:
        hunt_cancel(hunt=finished, acting_user=analyst)
    assert refused.value.code == "not_running"


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "params", "period", "code"),
    [
        ("no_such_rule", {}, PERIOD, "unknown_rule"),
        ("wallets_per_device", {}, PERIOD, "unknown_rule"),
        ("topup_then_spend", {"hours": 0}, PERIOD, "bad_params"),
        ("topup_then_spend", {"hours": "24"}, PERIOD, "bad_params"),
        ("topup_then_spend", {"minutes": 5}, PERIOD, "bad_params"),
        ("topup_then_spend", {"events": ["topup"]}, PERIOD, "bad_params"),
        ("topup_then_spend", {}, (PERIOD[1], PERIOD[0]), "empty_period"),
        ("topup_then_spend", {}, (PERIOD[0], PERIOD[0]), "empty_period"),
        ("topup_then_spend", {}, (NOW - timedelta(days=1), NOW + timedelta(days=1)), "future_period"),
        ("topup_then_spend", {}, (NOW - timedelta(days=400), NOW - timedelta(days=1)), "period_too_long"),
    ],
)
def test_bad_hunts_are_refused_with_a_reason_and_nothing_is_started(
    analyst: User, kind: str, params: dict[str, Any], period: tuple[datetime, datetime], code: str
) -> None:
    with pytest.raises(HuntRefused) as refused:
        hunt_start(rule_kind=kind, params=params, period_start=period[0], period_end=period[1], acting_user=analyst)

    assert refused.value.code == code
    assert refused.value.message
    assert not Hunt.objects.exists()
    assert not StaffAction.objects.filter(action__startswith="hunt.").exists()


# --- opening cases in bulk ------------------------------------------------------------------------


def test_cases_open_in_bulk_one_per_customer_and_a_second_time_changes_nothing(
    run: Callable[..., Hunt], seven_pay: dict[str, Any], analyst: User
) -> None:
    victim = seven_pay["victim"][0]
    existing, _opened = case_open_or_join(customer=victim, source=Case.Source.MANUAL, acting_user=analyst, summary="reported by phone")
    hunt = run("topup_then_spend")

    result = hunt_cases_open(hunt=hunt, hit_ids=None, acting_user=analyst)

    assert (result.opened, result.joined, result.skipped) == (2, 1, 0)
    for hit in HuntHit.objects.filter(hunt=hunt).select_related("case"):
        assert hit.case is not None and hit.case.customer_id == hit.customer_id and hit.case.is_open
        assert sorted(hit.case.transactions.values_list("transfer_id", flat=True)) == sorted(hit.transfer_ids)
        assert hit.reviewed_at is not None
    assert HuntHit.objects.get(hunt=hunt, customer=victim).case_id == existing.pk
    assert Case.objects.filter(hunt=hunt, source=Case.Source.HUNT).count() == 2
    audit = StaffAction.objects.get(action="hunt.cases_open", target_id=str(hunt.pk))
    assert (audit.actor, audit.after["opened"], audit.after["joined"]) == (analyst, 2, 1)

    again = hunt_cases_open(hunt=hunt, hit_ids=None, acting_user=analyst)

    assert (again.opened, again.joined, again.skipped) == (0, 0, 3)
    assert Case.objects.count() == 3
    assert StaffAction.objects.filter(action="hunt.cases_open").count() == 1


def test_cases_open_only_for_the_chosen_hits_of_this_hunt(run: Callable[..., Hunt], seven_pay: dict[str, Any], analyst: User) -> None:
    hunt = run("topup_then_spend")
    other = run("topup_then_spend")
    chosen = HuntHit.objects.get(hunt=hunt, customer=seven_pay["exact"][0])

    with pytest.raises(HuntRefused) as refused:
        hunt_cases_open(hunt=hunt, hit_ids=[chosen.pk, HuntHit.objects.filter(hunt=other).first().pk], acting_user=analyst)  # type: ignore[union-attr]
    assert refused.value.code == "foreign_hits"
    assert not Case.objects.exists()

    result = hunt_cases_open(hunt=hunt, hit_ids=[chosen.pk], acting_user=analyst)

    assert (result.opened, result.joined) == (1, 0)
    assert list(Case.objects.values_list("customer_id", flat=True)) == [chosen.customer_id]


# --- pages and permissions ----------------------------------------------------------------------


@pytest.fixture
def analyst_client(analyst: User) -> Client:
    return otp_login(Client(), analyst)


def test_support_cannot_run_or_see_hunts(seven_pay: dict[str, Any]) -> None:
    support = make_staff("support@anzen.example", "support")
    client = otp_login(Client(), support)

    assert client.get(reverse("admin:incident_hunt_list")).status_code == 403
    response = client.post(
        reverse("admin:incident_hunt_list"),
        {"preset": "topup-then-spend", "period_start": "2020-01-01T00:00", "period_end": "2020-01-02T00:00"},
    )
    assert response.status_code == 403
    with pytest.raises(HuntRefused):
        hunt_start(rule_kind="topup_then_spend", params={}, period_start=PERIOD[0], period_end=PERIOD[1], acting_user=support)
    assert not Hunt.objects.exists()


def test_finance_cannot_open_cases_from_a_hunt(run: Callable[..., Hunt], seven_pay: dict[str, Any]) -> None:
    hunt = run("topup_then_spend")
    finance = make_staff("finance@anzen.example", "finance")

    response = otp_login(Client(), finance).post(reverse("admin:incident_hunt_cases_open", args=[hunt.pk]), {"scope": "all"})

    assert response.status_code == 403
    with pytest.raises(HuntRefused):
        hunt_cases_open(hunt=hunt, hit_ids=None, acting_user=finance)
    assert not Case.objects.exists()


def _local(value: datetime) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


def test_analyst_starts_the_7pay_hunt_from_the_page_and_reads_the_estimate(
    analyst_client: Client, seven_pay: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    page = analyst_client.get(reverse("admin:incident_hunt_list"))
    assert page.status_code == 200
    assert b'id="hunt-presets"' in page.content and b"topup-then-spend" in page.content

    with django_capture_on_commit_callbacks(execute=True):
        response = analyst_client.post(
            reverse("admin:incident_hunt_list"),
            {"preset": "topup-then-spend", "thresholds": "", "period_start": _local(PERIOD[0]), "period_end": _local(PERIOD[1])},
        )
    hunt = Hunt.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("admin:incident_hunt_detail", args=[hunt.pk])

    detail = analyst_client.get(response["Location"])
    text = detail.content.decode()
    assert detail.status_code == 200
    assert "3 customers, ¥76,000" in text
    assert "victim@example.jp" in text and "small-topup@example.jp" not in text
    assert '<script src="/static/backoffice/hunts.js" defer></script>' in text

    progress = analyst_client.get(reverse("admin:incident_hunt_progress", args=[hunt.pk])).json()
    assert progress["state"] == "done" and progress["finished"] is True and progress["percent"] == 100
    assert (progress["customers"], progress["damage_yen"], progress["estimate"]) == (3, 76_000, "3 customers, ¥76,000")


def test_the_start_form_explains_what_is_wrong(analyst_client: Client, seven_pay: dict[str, Any]) -> None:
    response = analyst_client.post(
        reverse("admin:incident_hunt_list"),
        {"preset": "topup-then-spend", "thresholds": '{"hours": 0}', "period_start": _local(PERIOD[1]), "period_end": _local(PERIOD[0])},
    )

    assert response.status_code == 400
    assert "hours must be between 1" in response.content.decode()
    bad_json = analyst_client.post(
        reverse("admin:incident_hunt_list"),
        {"preset": "topup-then-spend", "thresholds": "{hours", "period_start": _local(PERIOD[0]), "period_end": _local(PERIOD[1])},
    )
    assert bad_json.status_code == 400 and "This is not valid JSON." in bad_json.content.decode()
    assert not Hunt.objects.exists()


def test_hits_filter_sort_and_export_as_csv(
    analyst_client: Client, run: Callable[..., Hunt], seven_pay: dict[str, Any], analyst: User
) -> None:
    hunt = run("topup_then_spend")
    User.objects.filter(email="several@example.jp").update(full_name="=HYPERLINK(1)")
    url = reverse("admin:incident_hunt_detail", args=[hunt.pk])

    filtered = analyst_client.get(url, {"min_yen": "11000", "sort": "amount"}).content.decode()
    assert filtered.index("several@example.jp") < filtered.index("victim@example.jp")
    assert "exact@example.jp" not in filtered

    export = analyst_client.get(reverse("admin:incident_hunt_export", args=[hunt.pk]), {"min_yen": "11000"})
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))  # type: ignore[attr-defined]
    assert rows[0][:3] == ["hit", "customer_id", "customer_email"]
    assert [row[2] for row in rows[1:]] == ["victim@example.jp", "several@example.jp"]
    assert rows[2][3] == "'=HYPERLINK(1)"  # no formula reaches a spreadsheet
    audit = StaffAction.objects.get(action="hunt.export", target_id=str(hunt.pk))
    assert audit.actor == analyst and audit.after["rows"] == 2


def test_open_cases_for_the_selected_hits_from_the_page(
    analyst_client: Client, run: Callable[..., Hunt], seven_pay: dict[str, Any]
) -> None:
    hunt = run("topup_then_spend")
    chosen = HuntHit.objects.filter(hunt=hunt).order_by("id")[:2]
    url = reverse("admin:incident_hunt_cases_open", args=[hunt.pk])

    response = analyst_client.post(url, {"scope": "selected", "hit": [str(hit.pk) for hit in chosen]})

    assert response.status_code == 302
    assert HuntHit.objects.filter(hunt=hunt, case__isnull=False).count() == 2
    analyst_client.post(url, {"scope": "all"})
    assert HuntHit.objects.filter(hunt=hunt, case__isnull=True).count() == 0
    assert Case.objects.count() == 3
    page = analyst_client.get(reverse("admin:incident_hunt_detail", args=[hunt.pk])).content.decode()
    assert "1 opened, 0 joined to an open case, 2 hits skipped" in page


def test_a_running_hunt_can_be_cancelled_from_its_page(
    analyst_client: Client, analyst: User, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        hunt = hunt_start(rule_kind="topup_then_spend", params={}, period_start=PERIOD[0], period_end=PERIOD[1], acting_user=analyst)
    page = analyst_client.get(reverse("admin:incident_hunt_detail", args=[hunt.pk])).content.decode()
    assert 'data-state="queued"' in page and "Cancel this hunt" in page

    analyst_client.post(reverse("admin:incident_hunt_cancel", args=[hunt.pk]))

    hunt.refresh_from_db()
    assert hunt.state == Hunt.State.CANCELLED
