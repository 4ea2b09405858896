"""Risk rules: each kind fires past its threshold and not at it, the worst action
wins, every reason names the rule version that gave it, and edits are versioned."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from importlib import import_module
from typing import Any

import pytest
import redis
import time_machine
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import make_customer, totp_for
from wallet.models import AuthEvent, Card, KnownDevice, RiskDecision, RiskRule, RiskRuleChange, User
from wallet.request_meta import RequestMeta
from wallet.services.risk import (
    RULE_KINDS,
    risk_assess,
    risk_record,
    risk_rule_create,
    risk_rule_update,
    risk_rules_cache_clear,
    rule_params_clean,
)
from wallet.services.risk import counters as risk_counters

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 7, 3, 10, 0, 0, tzinfo=timezone.get_fixed_timezone(9 * 60))
META = RequestMeta(ip="203.0.113.7", user_agent="test", channel="web")


@pytest.fixture(autouse=True)
def no_default_rules() -> Iterator[None]:
    """Each test states the rules it scores with."""
    RiskRuleChange.objects.all().delete()
    RiskRule.objects.all().delete()
    risk_rules_cache_clear()
    yield
    risk_rules_cache_clear()


@pytest.fixture(params=["redis", "memory"])
def store(request: pytest.FixtureRequest) -> Iterator[str]:
    """The Redis store, and the in-process one used without REDIS_URL: same behaviour."""
    risk_counters.window_store_set(risk_counters.MemoryWindowStore() if request.param == "memory" else None)
    yield request.param
    risk_counters.window_store_set(None)


@pytest.fixture
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def make_rule(kind: str, params: dict[str, Any], *, events: list[str] | None = None, action: str = "review", code: str = "") -> RiskRule:
    return risk_rule_create(
        code=code or kind.replace("_", "-"),
        name=kind,
        kind=kind,
        events=events or ["topup"],
        params=params,
        action=action,
        acting_user=None,
    )


def happened(user: User, event: str = "topup", amount_yen: int = 1_000, *, ago: timedelta, channel: str = "", **extra: Any) -> None:
    """An earlier event that went through and was counted."""
    decision = RiskDecision.objects.create(
        event=event, outcome="allow", user=user, amount_yen=amount_yen, channel=channel, created_at=timezone.now() - ago, **extra
    )
    risk_record(decision=decision)


def assess(user: User | None, event: str = "topup", amount_yen: int = 1_000, **kwargs: Any) -> RiskDecision:
    return risk_assess(event=event, user=user, amount_yen=amount_yen, meta=kwargs.pop("meta", META), **kwargs)


# --- velocity ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("frozen")
def test_b01_third_topup_within_a_minute_is_held_for_review(customer: User, store: str) -> None:
    make_rule("velocity_count", {"window_seconds": 60, "max_count": 2})
    happened(customer, ago=timedelta(seconds=59))
    assert assess(customer).outcome == "allow"
    happened(customer, ago=timedelta(seconds=1))
    decision = assess(customer)
    assert decision.outcome == "review"
    assert decision.reasons[0]["rule"] == "velocity-count"
    assert "2 earlier topup events within 1 min" in decision.reasons[0]["detail"]


@pytest.mark.usefixtures("frozen")
def test_velocity_window_edge_an_event_exactly_a_window_old_no_longer_counts(customer: User, store: str) -> None:
    make_rule("velocity_count", {"window_seconds": 60, "max_count": 2})
    happened(customer, ago=timedelta(seconds=60))
    happened(customer, ago=timedelta(seconds=30))
    assert assess(customer).outcome == "allow"


@pytest.mark.usefixtures("frozen")
def test_velocity_counts_per_customer_per_event_and_only_its_channels(customer: User, store: str) -> None:
    make_rule("velocity_count", {"window_seconds": 600, "max_count": 1, "channels": ["charge.credit_card"]})
    other = make_customer("taro@example.jp")
    happened(other, ago=timedelta(seconds=10), channel="charge.credit_card")
    happened(customer, "payment", ago=timedelta(seconds=10), channel="charge.credit_card")
    happened(customer, ago=timedelta(seconds=10), channel="charge.atm")
    assert assess(customer, channel="charge.credit_card").outcome == "allow"
    happened(customer, ago=timedelta(seconds=5), channel="charge.credit_card")
    assert assess(customer, channel="charge.credit_card").outcome == "review"
    assert assess(customer, channel="charge.atm").outcome == "allow"  # the rule does not score ATM top-ups


@pytest.mark.usefixtures("frozen")
def test_velocity_amount_fires_only_above_the_cap(customer: User, store: str) -> None:
    make_rule("velocity_amount", {"window_seconds": 86_400, "max_amount_yen": 50_000})
    happened(customer, amount_yen=30_000, ago=timedelta(hours=23, minutes=59))
    happened(customer, amount_yen=10_000, ago=timedelta(hours=1))
    happened(customer, amount_yen=99_000, ago=timedelta(hours=24))  # a day old: out of the window
    assert assess(customer, amount_yen=10_000).outcome == "allow"
    decision = assess(customer, amount_yen=10_001)
    assert decision.outcome == "review"
    assert "¥50,001" in decision.reasons[0]["detail"]


@pytest.mark.usefixtures("frozen")
def test_recording_the_same_decision_twice_counts_it_once(customer: User, store: str) -> None:
    make_rule("velocity_count", {"window_seconds": 60, "max_count": 1})
    first = assess(customer)
    risk_record(decision=first)
    risk_record(decision=first)  # a retried on-commit hook
    assert assess(customer).outcome == "review"
    make_rule("velocity_count", {"window_seconds": 60, "max_count": 2}, code="two", action="block")
    assert assess(customer).outcome == "review"  # one earlier event, not two


# --- new device, credential change ----------------------------------------------------------------


def add_device(user: User, digest: str, *, ago: timedelta, revoked: bool = False) -> KnownDevice:
    first_seen = timezone.now() - ago
    return KnownDevice.objects.create(
        user=user, device_digest=digest, first_seen_at=first_seen, last_seen_at=first_seen, revoked_at=timezone.now() if revoked else None
    )


@pytest.mark.usefixtures("frozen")
def test_money_within_hours_of_a_new_device_is_reviewed(customer: User) -> None:
    make_rule("new_device_money", {"hours": 24}, events=["topup", "payment"])
    add_device(customer, "old", ago=timedelta(days=30))
    add_device(customer, "new", ago=timedelta(hours=24))
    assert assess(customer).outcome == "allow"  # first seen exactly 24 h ago: outside
    KnownDevice.objects.filter(device_digest="new").update(first_seen_at=timezone.now() - timedelta(hours=23, minutes=59))
    decision = assess(customer, "payment", 5_000)
    assert decision.outcome == "review"
    assert "after a login from a new device" in decision.reasons[0]["detail"]


@pytest.mark.usefixtures("frozen")
def test_a_new_customers_first_device_is_not_a_takeover_sign(customer: User) -> None:
    make_rule("new_device_money", {"hours": 24})
    add_device(customer, "first", ago=timedelta(hours=1))
    assert assess(customer).outcome == "allow"
    make_rule("new_device_money", {"hours": 24, "ignore_first_device": False}, code="strict")
    assert assess(customer).outcome == "review"


@pytest.mark.usefixtures("frozen")
def test_a_device_revoked_then_used_again_counts_as_new(customer: User) -> None:
    make_rule("new_device_money", {"hours": 24})
    add_device(customer, "old", ago=timedelta(days=30), revoked=True)
    assert assess(customer).outcome == "allow"
    add_device(customer, "phone", ago=timedelta(hours=2))
    assert assess(customer).outcome == "review"


def auth_event(user: User, kind: str, *, ago: timedelta) -> None:
    AuthEvent.objects.create(user=user, kind=kind, created_at=timezone.now() - ago)


@pytest.mark.usefixtures("frozen")
def test_topup_within_hours_of_a_password_reset_or_email_change_is_reviewed(customer: User) -> None:
    make_rule("credential_change_topup", {"hours": 24})
    auth_event(customer, AuthEvent.Kind.PASSWORD_RESET_COMPLETED, ago=timedelta(hours=24))
    auth_event(customer, AuthEvent.Kind.FACTOR_ADDED, ago=timedelta(minutes=5))  # enrolling the first authenticator
    assert assess(customer).outcome == "allow"
    auth_event(customer, AuthEvent.Kind.EMAIL_CHANGED, ago=timedelta(hours=23, minutes=59))
    decision = assess(customer)
    assert decision.outcome == "review"
    assert "email_changed" in decision.reasons[0]["detail"]


# --- 7pay: top-up then store spend ------------------------------------------------------------


@pytest.mark.usefixtures("frozen")
def test_7pay_payment_after_topups_is_reviewed_at_the_thresholds(customer: User, store: str) -> None:
    make_rule("topup_then_spend", {"hours": 24, "topup_total_min_yen": 10_000, "payment_min_yen": 10_000}, events=["payment"])
    happened(customer, amount_yen=6_000, ago=timedelta(hours=3))
    happened(customer, amount_yen=3_999, ago=timedelta(hours=2))
    happened(customer, amount_yen=50_000, ago=timedelta(hours=24))  # outside the window
    assert assess(customer, "payment", 10_000).outcome == "allow"  # ¥9,999 of top-ups
    happened(customer, amount_yen=1, ago=timedelta(hours=1))
    assert assess(customer, "payment", 9_999).outcome == "allow"
    decision = assess(customer, "payment", 10_000)
    assert decision.outcome == "review"
    assert decision.reasons[0]["detail"] == "¥10,000 payment after ¥10,000 of top-ups within 24 h"


@pytest.mark.usefixtures("frozen")
def test_7pay_rule_can_count_card_topups_only(customer: User, store: str) -> None:
    params = {"hours": 24, "topup_total_min_yen": 10_000, "payment_min_yen": 10_000, "topup_channels": ["charge.credit_card"]}
    make_rule("topup_then_spend", params, events=["payment"])
    happened(customer, amount_yen=20_000, ago=timedelta(hours=1), channel="charge.store_register")
    assert assess(customer, "payment", 15_000).outcome == "allow"
    happened(customer, amount_yen=10_000, ago=timedelta(hours=1), channel="charge.credit_card")
    assert assess(customer, "payment", 15_000).outcome == "review"


# --- cards, devices ----------------------------------------------------------------------


def add_card(user: User, fingerprint: str, *, removed: bool = False) -> Card:
    return Card.objects.create(
        user=user,
        gateway_token=f"tok_{user.pk}_{fingerprint}",
        brand="visa",
        last4="4242",
        exp_month=12,
        exp_year=2030,
        funding="credit",
        fingerprint=fingerprint,
        status="removed" if removed else "active",
    )


def test_a_fourth_card_on_one_wallet_is_blocked(customer: User) -> None:
    make_rule("cards_per_wallet", {"max_cards": 3}, events=["card_register"], action="block")
    for fingerprint in ("a", "b"):
        add_card(customer, fingerprint)
    add_card(customer, "old", removed=True)
    assert assess(customer, "card_register", 0, card_fingerprint="c").outcome == "allow"
    add_card(customer, "c")
    assert assess(customer, "card_register", 0, card_fingerprint="c").outcome == "allow"  # the same card again
    decision = assess(customer, "card_register", 0, card_fingerprint="d")
    assert decision.outcome == "block"
    assert decision.reasons[0]["detail"] == "wallet already holds 3 active cards (at most 3)"


def test_a_card_active_on_other_wallets_is_flagged(customer: User) -> None:
    make_rule("wallets_per_card", {"max_other_wallets": 1}, events=["card_register", "topup"], action="block")
    add_card(make_customer("one@example.jp"), "shared")
    add_card(make_customer("gone@example.jp"), "shared", removed=True)
    add_card(customer, "shared")
    assert assess(customer, card_fingerprint="shared").outcome == "allow"
    assert assess(customer).outcome == "allow"  # no card: nothing to compare
    add_card(make_customer("two@example.jp"), "shared")
    decision = assess(customer, card_fingerprint="shared")
    assert decision.outcome == "block"
    assert decision.card_fingerprint == "shared"


@pytest.mark.usefixtures("frozen")
def test_one_device_behind_many_wallets_is_reviewed(customer: User, store: str) -> None:
    make_rule("wallets_per_device", {"by": "device", "hours": 24, "max_other_wallets": 2}, events=["login", "topup"])
    others = [make_customer(f"user{i}@example.jp") for i in range(4)]
    happened(others[0], "login", 0, ago=timedelta(hours=24), device_key="dev1")  # outside the window
    happened(others[1], "login", 0, ago=timedelta(hours=2), device_key="dev1")
    happened(others[2], "login", 0, ago=timedelta(hours=1), device_key="dev1")
    happened(customer, "login", 0, ago=timedelta(hours=1), device_key="dev1")  # the customer is not an "other"
    assert assess(customer, "login", 0, device_key="dev1").outcome == "allow"
    assert assess(customer, "login", 0).outcome == "allow"  # no device: nothing to compare
    happened(others[3], "topup", 500, ago=timedelta(minutes=1), device_key="dev1")
    decision = assess(customer, "login", 0, device_key="dev1")
    assert decision.outcome == "review"
    assert decision.reasons[0]["detail"] == "device used by 3 other customers within 24 h (at most 2)"


@pytest.mark.usefixtures("frozen")
def test_one_address_behind_many_wallets_is_reviewed(customer: User, store: str) -> None:
    make_rule("wallets_per_device", {"by": "ip", "hours": 1, "max_other_wallets": 1})
    for i in range(2):
        happened(make_customer(f"user{i}@example.jp"), "login", 0, ago=timedelta(minutes=10), ip_address="198.51.100.1")
    assert assess(customer).outcome == "allow"  # another address
    assert assess(customer, meta=RequestMeta(ip="198.51.100.1", user_agent="x")).outcome == "review"


# --- decisions ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("frozen")
def test_worst_action_wins_and_every_reason_names_its_rule_version(customer: User) -> None:
    make_rule("velocity_amount", {"window_seconds": 3600, "max_amount_yen": 1_000}, code="shadow", action="allow")
    make_rule("velocity_amount", {"window_seconds": 3600, "max_amount_yen": 2_000}, code="hold", action="review")
    blocking = make_rule("velocity_amount", {"window_seconds": 3600, "max_amount_yen": 5_000}, code="refuse", action="block")
    risk_rule_update(rule=blocking, changes={"params": {"window_seconds": 3600, "max_amount_yen": 4_000}}, acting_user=None)
    assert assess(customer, amount_yen=1_500).outcome == "allow"  # only the shadow rule fired: noted, no effect
    assert assess(customer, amount_yen=3_000).outcome == "review"
    decision = assess(customer, amount_yen=4_001)
    assert decision.outcome == "block"
    assert [(r["rule"], r["version"], r["action"]) for r in decision.reasons] == [
        ("hold", 1, "review"),
        ("refuse", 2, "block"),
        ("shadow", 1, "allow"),
    ]
    assert decision.user == customer and decision.amount_yen == 4_001 and decision.ip_address == META.ip


def test_disabled_rules_and_other_events_do_not_score(customer: User) -> None:
    rule = make_rule("velocity_amount", {"window_seconds": 60, "max_amount_yen": 1}, events=["payment"])
    assert assess(customer, "topup", 5).outcome == "allow"
    assert assess(customer, "payment", 5).outcome == "review"
    risk_rule_update(rule=rule, changes={"enabled": False}, acting_user=None)
    assert assess(customer, "payment", 5).outcome == "allow"


def test_counter_failure_answers_review_never_block(customer: User, monkeypatch: pytest.MonkeyPatch) -> None:
    make_rule("velocity_count", {"window_seconds": 60, "max_count": 5}, action="block")
    make_rule("velocity_count", {"window_seconds": 60, "max_count": 5}, code="watch", action="allow")

    def down(*args: Any, **kwargs: Any) -> None:
        raise redis.ConnectionError("down")

    monkeypatch.setattr(risk_counters.RedisWindowStore, "read", down)
    monkeypatch.setattr(risk_counters.RedisWindowStore, "add", down)
    decision = assess(customer)
    assert decision.outcome == "review"
    assert {r["detail"] for r in decision.reasons} == {"counters unavailable"}
    risk_record(decision=decision)  # after the money moved: logged, not raised


# --- rule edits --------------------------------------------------------------------------------


def test_rule_edit_is_a_new_version_with_its_snapshot_and_takes_effect_at_once(customer: User) -> None:
    analyst = make_customer("analyst@anzenpay.example", is_staff=True)
    rule = make_rule("velocity_amount", {"window_seconds": 60, "max_amount_yen": 10_000})
    assert assess(customer, amount_yen=8_000).outcome == "allow"
    risk_rule_update(rule=rule, changes={"params": {"window_seconds": 60, "max_amount_yen": 5_000}, "action": "block"}, acting_user=analyst)
    rule.refresh_from_db()
    assert (rule.version, rule.updated_by, rule.action) == (2, analyst, "block")
    decision = assess(customer, amount_yen=8_000)
    assert decision.outcome == "block" and decision.reasons[0]["version"] == 2
    snapshots = {c.version: c for c in RiskRuleChange.objects.filter(rule=rule)}
    assert snapshots[1].snapshot["params"]["max_amount_yen"] == 10_000
    assert snapshots[2].snapshot["params"] == {"window_seconds": 60, "max_amount_yen": 5_000, "channels": []}
    assert snapshots[2].changed_by == analyst
    # Saving the same values again is not a new version.
    risk_rule_update(rule=rule, changes={"params": {"max_amount_yen": 5_000, "window_seconds": 60}}, acting_user=analyst)
    assert RiskRule.objects.get(pk=rule.pk).version == 2


def test_rule_edit_with_bad_thresholds_changes_nothing(customer: User) -> None:
    rule = make_rule("topup_then_spend", {"hours": 24, "topup_total_min_yen": 10_000, "payment_min_yen": 10_000}, events=["payment"])
    with pytest.raises(ValidationError) as error:
        risk_rule_update(rule=rule, changes={"params": {"hours": "24", "typo": 1}}, acting_user=None)
    text = " ".join(error.value.messages)
    assert "Unknown parameters: typo" in text and "hours must be a whole number" in text
    assert "topup_total_min_yen is required" in text
    with pytest.raises(ValidationError):
        risk_rule_update(rule=rule, changes={"events": ["withdrawal"]}, acting_user=None)
    stored = RiskRule.objects.get(pk=rule.pk)
    assert stored.version == 1 and stored.params["hours"] == 24 and stored.events == ["payment"]


def test_a_rule_written_before_snapshots_keeps_its_old_version_on_first_edit() -> None:
    rule = RiskRule.objects.create(code="legacy", name="legacy", kind="cards_per_wallet", events=["card_register"], params={"max_cards": 3})
    risk_rule_update(rule=rule, changes={"params": {"max_cards": 2}}, acting_user=None)
    assert sorted(RiskRuleChange.objects.filter(rule=rule).values_list("version", "snapshot__params__max_cards")) == [(1, 3), (2, 2)]


# --- defaults and login --------------------------------------------------------------------


def test_default_rules_are_valid_and_stop_the_7pay_pattern(customer: User) -> None:
    migration = import_module("wallet.migrations.0005_default_risk_rules")
    for spec in migration.DEFAULT_RULES:
        assert spec["kind"] in RULE_KINDS
        assert rule_params_clean(spec["kind"], spec["params"]) == spec["params"], spec["code"]
        risk_rule_create(**{k: spec[k] for k in ("code", "name", "kind", "events", "params", "action")}, acting_user=None)
    assert assess(customer, amount_yen=10_000).outcome == "allow"  # a new customer's first top-up
    happened(customer, amount_yen=10_000, ago=timedelta(seconds=40))
    happened(customer, amount_yen=10_000, ago=timedelta(seconds=20))
    third = assess(customer, amount_yen=10_000)
    assert third.outcome == "review" and [r["rule"] for r in third.reasons] == ["topup-burst"]
    spend = assess(customer, "payment", 30_000)
    assert spend.outcome == "review" and [r["rule"] for r in spend.reasons] == ["topup-then-spend"]


@pytest.fixture
def english_client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def otp_login(client: Client, device: TOTPDevice) -> Any:
    client.post(reverse("wallet:login"), {"username": "hanako@example.jp", "password": "correct horse battery staple"})
    return client.post(reverse("wallet:login_otp"), {"code": totp_for(device).at(time.time() - 30)}, follow=True)


def test_a05_login_blocked_by_a_rule_gets_the_wrong_password_answer(
    english_client: Client, customer: User, customer_totp: TOTPDevice
) -> None:
    make_rule("velocity_count", {"window_seconds": 3600, "max_count": 0}, events=["login"], action="block")
    response = otp_login(english_client, customer_totp)
    assert "The email address or password is incorrect." in response.content.decode()
    assert "_auth_user_id" not in english_client.session
    decision = RiskDecision.objects.get(user=customer, event="login")
    assert decision.outcome == "block" and decision.ip_address == "127.0.0.1"
    failed = AuthEvent.objects.get(user=customer, kind=AuthEvent.Kind.LOGIN_FAILED)
    assert failed.detail == {"risk_decision": decision.pk}
    assert not AuthEvent.objects.filter(user=customer, kind=AuthEvent.Kind.LOGIN_SUCCEEDED).exists()


def test_login_under_review_goes_through_and_is_counted(
    english_client: Client, customer: User, customer_totp: TOTPDevice, django_capture_on_commit_callbacks: Any
) -> None:
    make_rule("velocity_count", {"window_seconds": 3600, "max_count": 0}, events=["login"], action="review")
    with django_capture_on_commit_callbacks(execute=True):
        otp_login(english_client, customer_totp)
    assert english_client.session["_auth_user_id"] == str(customer.pk)
    decision = RiskDecision.objects.get(user=customer, event="login")
    assert decision.outcome == "review"
    assert decision.device_key == KnownDevice.objects.get(user=customer).device_digest
    since = time.time() - 60
    _generation, [[point]] = risk_counters.window_store().read([(risk_counters.user_series_key(customer.pk, "login"), since)])
    assert point.ref == str(decision.pk)


def test_fact_queries_name_the_models_tables() -> None:
    from wallet.services.risk.facts import TABLES

    assert {table: model._meta.db_table for table, model in TABLES.items()} == {table: table for table in TABLES}


def test_a_rule_edit_published_by_another_process_is_seen_at_the_next_decision(customer: User, store: str) -> None:
    from wallet.services.risk.engine import GENERATION_KEY

    rule = make_rule("velocity_amount", {"window_seconds": 60, "max_amount_yen": 10_000})
    assert assess(customer, amount_yen=8_000).outcome == "allow"  # the rules are now cached in this process
    RiskRule.objects.filter(pk=rule.pk).update(params={"window_seconds": 60, "max_amount_yen": 5_000, "channels": []}, version=2)
    assert assess(customer, amount_yen=8_000).outcome == "allow"
    risk_counters.window_store().value_set(GENERATION_KEY, "published-by-another-process")
    decision = assess(customer, amount_yen=8_000)
    assert decision.outcome == "review" and decision.reasons[0]["version"] == 2


def test_a05_api_login_blocked_by_a_rule_gets_no_token(customer: User, customer_totp: TOTPDevice) -> None:
    from rest_framework.test import APIClient

    make_rule("velocity_count", {"window_seconds": 3600, "max_count": 0}, events=["login"], action="block")
    api = APIClient()
    started = api.post(reverse("api:auth_login"), {"email": "hanako@example.jp", "password": "correct horse battery staple"}, format="json")
    challenge = started.json()["challenge"]
    verified = api.post(reverse("api:auth_verify"), {"challenge": challenge, "code": totp_for(customer_totp).now()}, format="json")
    assert verified.status_code == 401
    assert "token" not in verified.json()
    assert RiskDecision.objects.get(user=customer, event="login").outcome == "block"
    assert not customer.api_tokens.filter(second_factor_at__isnull=False).exists()
