"""Mass password reset: exactly the chosen customers, set-based, approved by a second
supervisor (B04), pausable, safe to deliver twice, money and history untouched."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.core import mail
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.models import Approval, MassReset, StaffAction
from backoffice.selectors.mass_reset import NOTICE_KIND, population_missed
from backoffice.services.approvals import ApprovalRefused, approval_approve, approval_reject
from backoffice.services.mass_reset import (
    MassResetRefused,
    mass_reset_batch,
    mass_reset_control,
    mass_reset_notices_send,
    mass_reset_request,
    mass_reset_run,
    mass_reset_start,
    mass_resets_decisions_reconcile,
    mass_resets_stalled,
)
from backoffice.tasks.mass_reset import mass_reset_run_task
from tests.factories import enrol_totp, fund_wallet, make_customer, make_customer_fast, make_staff, make_terminal, otp_login
from wallet.api.authentication import api_token_issue
from wallet.models import ApiToken, BackupCodeDevice, Entry, LedgerAccount, Notification, Transfer, User, UserSession
from wallet.request_meta import RequestMeta
from wallet.services.ledger_audit import ledger_verify
from wallet.services.notifications import notification_render
from wallet.services.second_factor import backup_codes_generate

pytestmark = pytest.mark.django_db

META = RequestMeta(ip="203.0.113.9", user_agent="pytest")


def _supervisors() -> tuple[User, User]:
    return (
        make_staff("maker@anzenpay.example", "supervisor", totp=False),
        make_staff("checker@anzenpay.example", "supervisor", totp=False),
    )


def _money_snapshot() -> tuple[list[tuple[int, int | None]], int, int]:
    balances = list(LedgerAccount.objects.order_by("pk").values_list("pk", "balance_yen"))
    return balances, Entry.objects.count(), Transfer.objects.count()


def _approve(approval: Approval, checker: User, capture: Callable[..., Any]) -> None:
    with capture(execute=True):
        approval_approve(approval=approval, checker=checker, note="Checked the incident report")


def test_reset_covers_exactly_the_chosen_customers_and_nothing_else(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    maker, checker = _supervisors()
    start = timezone.now() - timedelta(days=10)
    factor_cutoff = timezone.now() - timedelta(days=2)
    with time_machine.travel(timezone.now() - timedelta(days=30)):
        veteran = make_customer("veteran@example.jp")
    with time_machine.travel(timezone.now() - timedelta(days=5)):
        hanako = make_customer("hanako@example.jp")
        taro = make_customer("taro@example.jp")
        staff_in_period = make_staff("support@anzenpay.example", "support", totp=False)
        unverified = make_customer("unverified@example.jp", email_verified_at=None)
        own_totp = enrol_totp(taro)
    # Factors an attacker could have added after the break-in: removed. The owner's older one: kept.
    attacker_totp = enrol_totp(taro)
    backup_codes_generate(user=taro, meta=META)
    terminal, _key = make_terminal()
    fund_wallet(veteran, 7_000, terminal)
    fund_wallet(taro, 12_000, terminal)
    taro_browser, staff_browser = Client(), Client()
    taro_browser.force_login(taro)
    staff_browser.force_login(staff_in_period)
    _token, taro_key = api_token_issue(user=taro, label="phone", second_factor=True)
    api_token_issue(user=staff_in_period, label="tool", second_factor=False)
    money_before = _money_snapshot()
    passwords_before = dict(User.objects.values_list("pk", "password"))

    job = mass_reset_request(
        filters={"joined_from": start, "joined_until": timezone.now() - timedelta(days=1)},
        reason="Credential stuffing from the 7pay lists",
        remove_factors_enrolled_after=factor_cutoff,
        acting_user=maker,
        ip="198.51.100.4",
    )
    assert job.state == MassReset.State.AWAITING_APPROVAL and job.accounts_estimated == 3
    assert job.approval is not None and job.approval.payload["mass_reset_id"] == job.pk
    assert not User.objects.filter(must_reset_password=True).exists()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        approval_approve(approval=job.approval, checker=checker, note="Confirmed")
    # Signs up after the approval but before the job runs, inside the period: not reset.
    latecomer = make_customer("late@example.jp", date_joined=timezone.now() - timedelta(days=3))
    with django_capture_on_commit_callbacks(execute=True):
        for callback in callbacks:
            callback()

    job.refresh_from_db()
    assert job.state == MassReset.State.DONE and job.finished_at is not None
    assert job.accounts_reset == 3 and job.accounts_estimated == 3
    assert job.started_at is not None
    reset = set(User.objects.filter(must_reset_password=True).values_list("email", flat=True))
    assert reset == {"hanako@example.jp", "taro@example.jp", "unverified@example.jp"}
    for user in User.objects.filter(must_reset_password=True):
        assert not user.has_usable_password() and user.password.startswith("!") and len(user.password) == 41
        assert user.password != passwords_before[user.pk] and user.credentials_changed_at >= job.started_at
    for untouched in (veteran, staff_in_period, latecomer, maker):
        untouched.refresh_from_db()
        assert untouched.has_usable_password() and not untouched.must_reset_password
        assert untouched.password == passwords_before.get(untouched.pk, untouched.password)
    assert population_missed(job) == 0

    # Sessions and tokens of the reset customers are gone; staff keep theirs.
    assert not Session.objects.filter(session_key=taro_browser.session.session_key).exists()
    assert not UserSession.objects.filter(user=taro, ended_at__isnull=True).exists()
    assert not ApiToken.objects.filter(user=taro).exists()
    assert Client().get(reverse("api:me"), HTTP_AUTHORIZATION=f"Bearer {taro_key}").status_code == 401
    assert UserSession.objects.filter(user=staff_in_period, ended_at__isnull=True).exists()
    assert Session.objects.filter(session_key=staff_browser.session.session_key).exists()
    assert ApiToken.objects.filter(user=staff_in_period).exists()
    assert job.sessions_ended == 1 and job.tokens_deleted == 1

    # Only the factors enrolled after the given time are gone, and each removal is logged for the customer.
    assert list(TOTPDevice.objects.filter(user=taro).values_list("pk", flat=True)) == [own_totp.pk]
    assert not TOTPDevice.objects.filter(pk=attacker_totp.pk).exists()
    assert not BackupCodeDevice.objects.filter(user=taro).exists()
    assert job.factors_removed == 2
    assert sorted(taro.auth_events.filter(kind="factor_removed").values_list("detail__device", flat=True)) == ["backup", "totp"]

    # Money and history untouched.
    assert _money_snapshot() == money_before
    assert ledger_verify().ok

    # One notice per verified customer, to the address on record, paced into the future, no secret in it.
    notices = Notification.objects.filter(kind=NOTICE_KIND).order_by("user_id")
    assert [(n.user_id, n.to_address) for n in notices] == [(hanako.pk, "hanako@example.jp"), (taro.pk, "taro@example.jp")]
    assert job.notices_queued == 2 and not Notification.objects.filter(kind=NOTICE_KIND, user=unverified).exists()
    slots = sorted(n.send_after for n in notices)
    assert job.started_at is not None
    assert slots[0] >= job.started_at and slots[1] > slots[0]
    subject, body = notification_render(notices[1])
    assert "reset your password" in subject.lower()
    assert "balance and your history are untouched" in body and "/login/" in body and "password-reset" not in body

    actions = set(StaffAction.objects.filter(target_type="backoffice.massreset").values_list("action", flat=True))
    assert actions == {"mass_reset.request", "mass_reset.approve", "mass_reset.start", "mass_reset.finish"}
    approve = StaffAction.objects.get(action="mass_reset.approve")
    assert approve.actor == checker and approve.after["maker"] == maker.email and approve.after["accounts"] == 3


def test_whole_base_never_includes_staff(django_capture_on_commit_callbacks: Callable[..., Any]) -> None:
    maker, checker = _supervisors()
    customers = [make_customer(f"c{i}@example.jp") for i in range(4)]
    superuser = make_staff("root@anzenpay.example", superuser=True, totp=False)
    job = mass_reset_request(filters={"all": True}, reason="Whole base", acting_user=maker)
    assert job.accounts_estimated == len(customers)
    assert job.approval is not None
    _approve(job.approval, checker, django_capture_on_commit_callbacks)
    job.refresh_from_db()
    assert job.state == MassReset.State.DONE and job.accounts_reset == 4
    assert set(User.objects.filter(must_reset_password=True)) == set(customers)
    superuser.refresh_from_db()
    assert superuser.has_usable_password()


def test_filters_by_case_hunt_and_activity(django_capture_on_commit_callbacks: Callable[..., Any]) -> None:
    from backoffice.models import Case, Hunt, HuntHit

    maker, checker = _supervisors()
    in_case, in_hunt, active, idle = (make_customer(f"{name}@example.jp") for name in ("case", "hunt", "active", "idle"))
    case = Case.objects.create(customer=in_case, source=Case.Source.MANUAL)
    now = timezone.now()
    hunt = Hunt.objects.create(
        rule_kind="topup_then_spend", period_start=now - timedelta(days=3), period_end=now, state=Hunt.State.DONE, created_by=maker
    )
    HuntHit.objects.create(hunt=hunt, customer=in_hunt, transactions_count=2, amount_yen=30_000, first_at=now, last_at=now)
    with time_machine.travel(now - timedelta(days=2)):
        Client().force_login(active)
    with time_machine.travel(now - timedelta(days=20)):
        Client().force_login(idle)

    from backoffice.services.mass_reset import mass_reset_estimate

    assert mass_reset_estimate({"case_ids": [case.pk]}) == 1
    assert mass_reset_estimate({"hunt_id": hunt.pk}) == 1
    assert mass_reset_estimate({"active_from": now - timedelta(days=7)}) == 1
    assert mass_reset_estimate({"active_from": now - timedelta(days=30), "active_until": now - timedelta(days=10)}) == 1

    job = mass_reset_request(filters={"case_ids": [case.pk]}, reason="Case customers", acting_user=maker)
    assert job.approval is not None
    _approve(job.approval, checker, django_capture_on_commit_callbacks)
    assert list(User.objects.filter(must_reset_password=True)) == [in_case]


@pytest.mark.parametrize(
    ("filters", "code"),
    [
        ({}, "no_population"),
        ({"all": True, "case_ids": [1]}, "all_and_filters"),
        ({"joined_from": "2024-05-02T00:00:00+09:00", "joined_until": "2024-05-01T00:00:00+09:00"}, "period_order"),
        ({"case_ids": [999999]}, "unknown_cases"),
        ({"hunt_id": 999999}, "unknown_hunt"),
        ({"joined_from": "yesterday"}, "invalid_date"),
        ({"everyone": True}, "invalid_filters"),
        ({"joined_from": "2001-01-01T00:00:00+09:00", "joined_until": "2001-02-01T00:00:00+09:00"}, "empty"),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(filters: dict[str, Any], code: str) -> None:
    maker, _checker = _supervisors()
    make_customer()
    with pytest.raises(MassResetRefused) as refused:
        mass_reset_request(filters=filters, reason="Test", acting_user=maker)
    assert refused.value.code == code
    assert not MassReset.objects.exists() and not Approval.objects.exists() and not StaffAction.objects.exists()


def test_b04_maker_cannot_approve_own_mass_reset(django_capture_on_commit_callbacks: Callable[..., Any]) -> None:
    maker, checker = _supervisors()
    customer = make_customer()
    job = mass_reset_request(filters={"all": True}, reason="Incident", acting_user=maker)
    assert job.approval is not None
    with pytest.raises(ApprovalRefused) as refused:
        approval_approve(approval=job.approval, checker=maker)
    assert refused.value.code == "own_request"
    job.refresh_from_db()
    customer.refresh_from_db()
    assert job.state == MassReset.State.AWAITING_APPROVAL and customer.has_usable_password()
    assert StaffAction.objects.filter(action="approval.refused", actor=maker, after__refusal="own_request").exists()
    # A rejection by the second supervisor ends the request for good.
    approval_reject(approval=job.approval, checker=checker, note="Not needed")
    assert mass_resets_decisions_reconcile() == 1
    job.refresh_from_db()
    assert job.state == MassReset.State.REJECTED
    customer.refresh_from_db()
    assert customer.has_usable_password()


@pytest.mark.parametrize("role", ["support", "fraud_analyst", "finance"])
def test_only_supervisors_may_request(role: str) -> None:
    staff = make_staff(f"{role}@anzenpay.example", role, totp=False)
    make_customer()
    with pytest.raises(MassResetRefused) as refused:
        mass_reset_request(filters={"all": True}, reason="x", acting_user=staff)
    assert refused.value.code == "not_allowed"
    assert not MassReset.objects.exists()


def _queued_job(maker: User, checker: User, capture: Callable[..., Any], *, customers: int = 7, batch_size: int = 2) -> MassReset:
    for i in range(customers):
        make_customer_fast(f"c{i}@example.jp")
    job = mass_reset_request(filters={"all": True}, reason="Incident", acting_user=maker, batch_size=batch_size)
    assert job.approval is not None
    with capture(execute=False):  # the lanes are driven by hand below
        approval_approve(approval=job.approval, checker=checker)
    job.refresh_from_db()
    assert job.state == MassReset.State.QUEUED
    return job


def test_pause_resume_and_cancel_take_effect_between_batches(django_capture_on_commit_callbacks: Callable[..., Any]) -> None:
    maker, checker = _supervisors()
    job = _queued_job(maker, checker, django_capture_on_commit_callbacks)
    assert mass_reset_start(mass_reset_id=job.pk)
    assert mass_reset_batch(mass_reset_id=job.pk).outcome == "reset"
    paused = mass_reset_control(mass_reset=job, action="pause", acting_user=maker, reason="Support lines are full")
    assert paused.state == MassReset.State.PAUSED and paused.accounts_reset == 2
    assert mass_reset_batch(mass_reset_id=job.pk).outcome == "stopped"
    assert mass_reset_run(mass_reset_id=job.pk, seconds=5) == "stopped"
    assert User.objects.filter(must_reset_password=True).count() == 2
    with pytest.raises(MassResetRefused) as refused:
        mass_reset_control(mass_reset=job, action="pause", acting_user=maker)
    assert refused.value.code == "state_changed"

    with django_capture_on_commit_callbacks(execute=False) as lanes:
        resumed = mass_reset_control(mass_reset=job, action="resume", acting_user=checker)
    assert resumed.state == MassReset.State.QUEUED and len(lanes) == 1
    assert mass_reset_start(mass_reset_id=job.pk)
    assert mass_reset_batch(mass_reset_id=job.pk).outcome == "reset"
    cancelled = mass_reset_control(mass_reset=job, action="cancel", acting_user=maker, reason="Wrong population")
    assert cancelled.state == MassReset.State.CANCELLED and cancelled.finished_at is not None
    assert mass_reset_run(mass_reset_id=job.pk, seconds=5) == "stopped"
    job.refresh_from_db()
    assert job.accounts_reset == 4 == User.objects.filter(must_reset_password=True).count()
    with pytest.raises(MassResetRefused):
        mass_reset_control(mass_reset=job, action="resume", acting_user=maker)
    audited = list(StaffAction.objects.filter(action__in=["mass_reset.pause", "mass_reset.resume", "mass_reset.cancel"]).order_by("id"))
    assert [(a.action, a.actor, a.reason) for a in audited] == [
        ("mass_reset.pause", maker, "Support lines are full"),
        ("mass_reset.resume", checker, ""),
        ("mass_reset.cancel", maker, "Wrong population"),
    ]


def test_a_second_delivery_of_the_task_changes_nothing(django_capture_on_commit_callbacks: Callable[..., Any]) -> None:
    maker, checker = _supervisors()
    job = _queued_job(maker, checker, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        assert mass_reset_run_task.apply(args=(job.pk,)).get() == "finished"
        assert mass_reset_run_task.apply(args=(job.pk,)).get() == "stopped"
    job.refresh_from_db()
    assert job.accounts_reset == 7 and job.notices_queued == 7
    assert Notification.objects.filter(kind=NOTICE_KIND).count() == 7


def test_watchdog_finds_jobs_without_a_lane(django_capture_on_commit_callbacks: Callable[..., Any]) -> None:
    maker, checker = _supervisors()
    job = _queued_job(maker, checker, django_capture_on_commit_callbacks)
    assert mass_resets_stalled() == []
    assert mass_resets_stalled(stale_after=timedelta(0)) == [job.pk]
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        assert mass_resets_stalled() == [job.pk]


def test_notices_are_sent_to_the_address_on_record_as_they_fall_due(django_capture_on_commit_callbacks: Callable[..., Any]) -> None:
    maker, checker = _supervisors()
    customers = [make_customer(f"n{i}@example.jp") for i in range(3)]
    job = mass_reset_request(filters={"all": True}, reason="Incident", acting_user=maker)
    assert job.approval is not None
    _approve(job.approval, checker, django_capture_on_commit_callbacks)
    with time_machine.travel(timezone.now() + timedelta(minutes=1)):
        result = mass_reset_notices_send(seconds=0)
    assert result.sent == 3 and result.next_due_in is None
    assert sorted(message.to[0] for message in mail.outbox) == sorted(c.email for c in customers)
    assert all(len(message.to) == 1 and "reset your password" in message.subject.lower() for message in mail.outbox)
    assert not Notification.objects.filter(kind=NOTICE_KIND, status=Notification.Status.PENDING).exists()


@pytest.mark.django_db(transaction=True)
def test_parallel_lanes_and_duplicates_reset_each_account_exactly_once() -> None:
    maker, checker = _supervisors()
    customers = [make_customer_fast(f"p{i}@example.jp") for i in range(60)]
    job = mass_reset_request(filters={"all": True}, reason="Incident", acting_user=maker, batch_size=4)
    assert job.approval is not None
    from unittest import mock

    with mock.patch("backoffice.services.mass_reset.requests._lanes_start"):
        approval_approve(approval=job.approval, checker=checker)
    outcomes: list[str] = []

    def lane() -> None:
        try:
            outcomes.append(mass_reset_run(mass_reset_id=job.pk, seconds=60, lanes=2))
        finally:
            connection.close()

    threads = [threading.Thread(target=lane) for _ in range(3)]  # two lanes and a duplicate delivery
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    job.refresh_from_db()
    assert job.state == MassReset.State.DONE, outcomes
    assert job.accounts_reset == 60 == job.notices_queued
    assert User.objects.filter(must_reset_password=True).count() == len(customers)
    per_user = Notification.objects.filter(kind=NOTICE_KIND).values_list("user_id", flat=True)
    assert sorted(per_user) == sorted(c.pk for c in customers)  # exactly one notice each: never reset twice
    assert "finished" in outcomes


# --- Pages ----------------------------------------------------------------------------------------------


def test_pages_request_watch_and_control(client: Client) -> None:
    maker = make_staff("maker@anzenpay.example", "supervisor")
    checker = make_staff("checker@anzenpay.example", "supervisor", totp=False)
    for i in range(3):
        make_customer(f"w{i}@example.jp")
    otp_login(client, maker)
    listing = client.get(reverse("admin:incident_mass_reset_list"))
    assert listing.status_code == 200 and b"Request a mass password reset" in listing.content

    form = {"scope": "all", "reason": "Credential stuffing", "action": "estimate"}
    estimate = client.post(reverse("admin:incident_mass_reset_list"), form)
    assert estimate.status_code == 200 and b"3 customer accounts match now." in estimate.content
    assert not MassReset.objects.exists()
    both = client.post(reverse("admin:incident_mass_reset_list"), {**form, "case_ids": "12"})
    assert both.status_code == 400 and b"not both" in both.content

    created = client.post(reverse("admin:incident_mass_reset_list"), {**form, "action": "request"})
    job = MassReset.objects.get()
    assert created.status_code == 302 and created["Location"] == reverse("admin:incident_mass_reset_detail", args=[job.pk])
    detail = client.get(created["Location"])
    assert detail.status_code == 200 and b"A different supervisor must approve it" in detail.content
    assert b"Review and decide" not in detail.content  # the maker cannot decide (B04)

    progress = client.get(reverse("admin:incident_mass_reset_progress", args=[job.pk])).json()
    assert progress["state"] == "awaiting" and progress["accounts_estimated"] == 3
    assert progress["counts_text"] == "3 accounts match the request"

    assert job.approval is not None
    approval_approve(approval=job.approval, checker=checker)  # the lanes would start once this commits
    job.refresh_from_db()
    paused = client.post(reverse("admin:incident_mass_reset_control", args=[job.pk]), {"action": "pause", "note": "Hold on"})
    assert paused.status_code == 302
    job.refresh_from_db()
    assert job.state == MassReset.State.PAUSED
    page = client.get(reverse("admin:incident_mass_reset_detail", args=[job.pk]))
    assert b'value="resume"' in page.content and b'value="pause"' not in page.content

    exported = client.get(reverse("admin:incident_mass_reset_export"), {"state": "paused"})
    rows = list(csv.reader(io.StringIO(exported.content.decode())))
    assert exported["Content-Type"].startswith("text/csv") and rows[0][0] == "id" and rows[1][0] == str(job.pk)
    assert len(rows) == 2


def test_page_permissions(client: Client) -> None:
    support = make_staff("support@anzenpay.example", "support")
    otp_login(client, support)
    listing = client.get(reverse("admin:incident_mass_reset_list"))
    assert listing.status_code == 200 and b"Request a mass password reset" not in listing.content
    refused = client.post(reverse("admin:incident_mass_reset_list"), {"scope": "all", "reason": "x", "action": "request"})
    assert refused.status_code == 403 and not MassReset.objects.exists()
    finance = make_staff("finance@anzenpay.example", "finance")
    otp_login(client, finance)
    assert client.get(reverse("admin:incident_mass_reset_list")).status_code == 403
    maker, _checker = _supervisors()
    make_customer()
    job = mass_reset_request(filters={"all": True}, reason="x", acting_user=maker)
    otp_login(client, support)
    assert client.post(reverse("admin:incident_mass_reset_control", args=[job.pk]), {"action": "cancel"}).status_code == 403
    job.refresh_from_db()
    assert job.state == MassReset.State.AWAITING_APPROVAL
