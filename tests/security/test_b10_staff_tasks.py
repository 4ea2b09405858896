"""B10: staff cannot run arbitrary background tasks or arguments.

The finding: through the stock django-celery-beat admin a finance user set a task
name and arguments on a schedule and used "Run selected tasks", so shutdown
notices went out for a programme still in draft. These tests drive the real staff
admin (an OTP-verified session per role) and the tasks themselves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from backoffice.admin_site import staff_admin_site
from backoffice.models import Case, Hunt, HuntHit, StaffAction
from backoffice.tasks.hunts import hunt_cases_open_task
from refunds.models import PayoutBatch, ShutdownProgramme
from refunds.services.programme import NOTICE_KIND, programme_announce
from refunds.tasks import shutdown_notices_queue
from tests.backoffice.helpers import make_staff, otp_login
from tests.conftest import enrol_totp, make_customer
from tests.money import fund_wallet
from tests.refunds.factories import bank_claim, make_programme
from wallet.models import AuthEvent, Notification, User
from wallet.request_meta import RequestMeta
from wallet.services.reset import password_reset_request
from wallet.tasks import password_reset_mail_task

pytestmark = pytest.mark.django_db

PAYOUT_SCHEDULE = "refund payout batches"
TOKYO = ZoneInfo("Asia/Tokyo")


def funded_holder(email: str = "holder@example.jp", amount_yen: int = 5_000) -> User:
    """A customer with an authenticator and a balance, as every holder who moved money has."""
    customer = make_customer(email)
    enrol_totp(customer)
    fund_wallet(customer, amount_yen)
    return customer


def approved_bank_claims(count: int) -> None:
    for index in range(count):
        claim = bank_claim(funded_holder(f"holder{index}@example.jp", 1_000 + index), 1_000 + index, account_number=f"{index + 1:07d}")
        assert claim.state == "approved", claim.hold_reasons


def staff_client(role: str) -> tuple[Client, User]:
    user = make_staff(f"{role}@anzenpay.example", role)
    return otp_login(Client(), user), user


def payout_schedule() -> PeriodicTask:
    return PeriodicTask.objects.get(name=PAYOUT_SCHEDULE)


def change_url(task: PeriodicTask) -> str:
    return reverse("admin:django_celery_beat_periodictask_change", args=[task.pk])


def run_url(task: PeriodicTask) -> str:
    return reverse("admin:django_celery_beat_periodictask_run", args=[task.pk])


def forged_row(programme: ShutdownProgramme) -> PeriodicTask:
    """A row as the finding left it: someone else's task with arguments of their choosing."""
    interval, _created = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.HOURS)
    return PeriodicTask.objects.create(
        name="forged notices", task="refunds.tasks.shutdown_notices_queue", args=f"[{programme.pk}]", interval=interval, enabled=False
    )


# --- the schedule's page: timing and on/off only ------------------------------------------------


def test_b10_finance_changes_the_payout_timing_but_not_its_task_or_arguments() -> None:
    client, finance = staff_client("finance")
    task = payout_schedule()
    shared_crontab = task.crontab
    assert shared_crontab is not None
    page = client.get(change_url(task))
    assert page.status_code == 200
    body = page.content.decode()
    assert 'name="minute"' in body and 'name="enabled"' in body
    for fixed in ("task", "args", "kwargs", "queue", "exchange", "routing_key", "headers"):
        assert f'name="{fixed}"' not in body, fixed

    response = client.post(
        change_url(task),
        {
            "minute": "30",
            "hour": "10",
            "day_of_week": "mon-fri",
            "day_of_month": "*",
            "month_of_year": "*",
            "enabled": "on",
            # What the stock admin accepted: all ignored.
            "task": "wallet.tasks.password_reset_mail",
            "args": '["victim@example.jp"]',
            "kwargs": '{"send": true, "ip": "203.0.113.9"}',
            "queue": "default",
            "headers": '{"x": 1}',
        },
    )
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.task == "refunds.tasks.payout_batches_build"
    assert (task.args, task.kwargs, task.queue) == ("[]", "{}", "payouts")
    assert task.crontab is not None and (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("30", "10", "mon-fri")
    assert str(task.crontab.timezone) == "Asia/Tokyo"
    # The row the job used before is left as it was: another job using it does not move.
    shared_crontab.refresh_from_db()
    assert (shared_crontab.minute, shared_crontab.hour) == ("0", "9")
    assert not PeriodicTask.objects.filter(task="wallet.tasks.password_reset_mail").exists()
    audit = StaffAction.objects.get(action="django_celery_beat.periodictask.change", actor=finance)
    assert audit.before == {"minute": "0", "hour": "9"} and audit.after == {"minute": "30", "hour": "10"}


def test_b10_a_bad_timing_is_refused_and_changes_nothing() -> None:
    client, _finance = staff_client("finance")
    task = payout_schedule()
    data = {"minute": "75", "hour": "9", "day_of_week": "mon-fri", "day_of_month": "*", "month_of_year": "*", "enabled": "on"}
    response = client.post(change_url(task), data)
    assert response.status_code == 200 and "errornote" in response.content.decode()
    task.refresh_from_db()
    assert task.crontab is not None and task.crontab.minute == "0"
    assert not StaffAction.objects.filter(action__startswith="django_celery_beat").exists()


def test_b10_nobody_adds_a_job_or_edits_crontab_rows_directly() -> None:
    client, _finance = staff_client("finance")
    before = PeriodicTask.objects.count()
    assert client.get(reverse("admin:django_celery_beat_periodictask_add")).status_code == 403
    response = client.post(
        reverse("admin:django_celery_beat_periodictask_add"),
        {"name": "mine", "task": "refunds.tasks.shutdown_notices_queue", "args": "[1]", "enabled": "on"},
    )
    assert response.status_code == 403
    assert PeriodicTask.objects.count() == before
    for model in (CrontabSchedule, IntervalSchedule):
        assert model not in staff_admin_site._registry
        with pytest.raises(NoReverseMatch):
            reverse(f"admin:django_celery_beat_{model._meta.model_name}_changelist")


def test_b10_an_unlisted_row_is_read_only_even_for_a_supervisor() -> None:
    client, _boss = staff_client("supervisor")
    row = forged_row(make_programme(state=ShutdownProgramme.State.DRAFT))
    page = client.get(change_url(row))
    assert page.status_code == 200
    assert 'name="enabled"' not in page.content.decode() and "run-now-form" not in page.content.decode()
    response = client.post(change_url(row), {"enabled": "on", "every": "1", "period": "seconds"})
    assert response.status_code == 403
    row.refresh_from_db()
    assert row.enabled is False


# --- no stock "run" action ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["finance", "supervisor"])
def test_b10_the_stock_run_tasks_action_is_gone(role: str, django_capture_on_commit_callbacks: Any) -> None:
    client, user = staff_client(role)
    holder = funded_holder()
    draft = make_programme(state=ShutdownProgramme.State.DRAFT)
    row = forged_row(draft)
    model_admin = staff_admin_site._registry[PeriodicTask]
    request = client.get(reverse("admin:django_celery_beat_periodictask_changelist")).wsgi_request
    assert "run_tasks" not in model_admin.get_actions(request)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:django_celery_beat_periodictask_changelist"),
            {"action": "run_tasks", "_selected_action": [row.pk], "index": "0"},
        )
    assert not Notification.objects.filter(kind=NOTICE_KIND, user=holder).exists()
    assert not StaffAction.objects.filter(actor=user).exists()


# --- "Run now" --------------------------------------------------------------------------------------


@time_machine.travel(datetime(2027, 1, 4, 10, 0, tzinfo=TOKYO), tick=False)  # a bank business day
def test_b10_finance_runs_the_payout_build_now_and_it_is_audited(django_capture_on_commit_callbacks: Any) -> None:
    make_programme()
    approved_bank_claims(2)
    client, finance = staff_client("finance")
    task = payout_schedule()
    page = client.get(change_url(task)).content.decode()
    # A button that posts with the CSRF token, not a link to type.
    assert f'action="{run_url(task)}"' in page and 'method="post"' in page and "csrfmiddlewaretoken" in page
    assert client.get(run_url(task)).status_code == 405
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(run_url(task))
    assert response.status_code == 302 and response["Location"] == change_url(task)
    assert PayoutBatch.objects.filter(method=PayoutBatch.Method.BANK, payout_count=2).exists()
    audit = StaffAction.objects.get(action="schedule.run_now")
    assert audit.actor == finance and audit.target_id == str(task.pk) and audit.after == {"task": "refunds.tasks.payout_batches_build"}


@time_machine.travel(datetime(2027, 1, 4, 10, 0, tzinfo=TOKYO), tick=False)
def test_b10_support_cannot_run_the_payout_build(django_capture_on_commit_callbacks: Any) -> None:
    make_programme()
    approved_bank_claims(1)
    client, _support = staff_client("support")
    task = payout_schedule()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(run_url(task))
    assert response.status_code == 403
    assert not PayoutBatch.objects.exists()
    assert not StaffAction.objects.filter(action="schedule.run_now").exists()


def test_b10_run_now_needs_the_permission_of_the_jobs_act(django_capture_on_commit_callbacks: Any) -> None:
    """Finance sees the schedules but may not restart mass resets: that is a supervisor's act."""
    interval, _created = IntervalSchedule.objects.get_or_create(every=60, period=IntervalSchedule.SECONDS)
    watchdog = PeriodicTask.objects.create(name="mass-reset-watchdog", task="backoffice.tasks.mass_reset_watchdog", interval=interval)
    client, _finance = staff_client("finance")
    page = client.get(change_url(watchdog))
    assert page.status_code == 200 and "run-now-form" not in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(run_url(watchdog)).status_code == 403
    assert not StaffAction.objects.filter(action="schedule.run_now").exists()
    boss_client, boss = staff_client("supervisor")
    assert "run-now-form" in boss_client.get(change_url(watchdog)).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert boss_client.post(run_url(watchdog)).status_code == 302
    assert StaffAction.objects.get(action="schedule.run_now").actor == boss


@pytest.mark.parametrize("role", ["finance", "supervisor"])
def test_b10_an_unlisted_task_cannot_be_run(role: str, django_capture_on_commit_callbacks: Any) -> None:
    holder = funded_holder()
    row = forged_row(make_programme(state=ShutdownProgramme.State.DRAFT))
    client, _user = staff_client(role)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(run_url(row), follow=True)
    assert "This job cannot be started from the back-office." in response.content.decode()
    assert not Notification.objects.filter(kind=NOTICE_KIND, user=holder).exists()
    assert not StaffAction.objects.filter(action="schedule.run_now").exists()


# --- the tasks check again before they act ---------------------------------------------------------


def test_b10_the_shutdown_notice_task_sends_nothing_for_a_draft(django_capture_on_commit_callbacks: Any) -> None:
    holder = funded_holder()
    draft = make_programme(state=ShutdownProgramme.State.DRAFT)
    assert shutdown_notices_queue.delay(draft.pk).get() == 0
    assert shutdown_notices_queue.delay(draft.pk + 1000).get() == 0  # no such programme
    assert not Notification.objects.filter(kind=NOTICE_KIND).exists()
    draft.refresh_from_db()
    assert (draft.state, draft.notices_queued, draft.notices_done_at) == (ShutdownProgramme.State.DRAFT, 0, None)
    # Announced by a supervisor, the same task does send them.
    with django_capture_on_commit_callbacks(execute=True):
        programme_announce(programme=draft, acting_user=make_staff("boss@anzenpay.example", "supervisor"))
    assert Notification.objects.filter(kind=NOTICE_KIND, user=holder).count() == 1


def finished_hunt_with_a_hit() -> Hunt:
    analyst = make_staff("hunter@anzenpay.example", "fraud_analyst")
    now = datetime(2026, 1, 5, 12, 0, tzinfo=TOKYO)
    hunt = Hunt.objects.create(
        rule_kind="velocity_count",
        period_start=datetime(2026, 1, 1, tzinfo=TOKYO),
        period_end=datetime(2026, 1, 2, tzinfo=TOKYO),
        state=Hunt.State.DONE,
        created_by=analyst,
    )
    HuntHit.objects.create(
        hunt=hunt, customer=make_customer("victim@example.jp"), transactions_count=1, amount_yen=5_000, first_at=now, last_at=now
    )
    return hunt


def test_b10_a_forged_acting_user_id_is_refused() -> None:
    hunt = finished_hunt_with_a_hit()
    customer = make_customer("mallory@example.jp")
    support = make_staff("support@anzenpay.example", "support")  # may not open cases
    gone = make_staff("gone@anzenpay.example", "fraud_analyst")
    gone.is_active = False
    gone.save(update_fields=["is_active"])
    for forged in (customer.pk, support.pk, gone.pk, 999_999):
        assert hunt_cases_open_task.delay(hunt_id=hunt.pk, hit_ids=None, acting_user_id=forged).get() == 0
    assert not Case.objects.exists() and not StaffAction.objects.exists()
    analyst = User.objects.get(email="hunter@anzenpay.example")
    assert hunt_cases_open_task.delay(hunt_id=hunt.pk, hit_ids=None, acting_user_id=analyst.pk).get() == 1
    assert Case.objects.count() == 1


def test_b10_a_reset_mail_task_with_made_up_arguments_sends_nothing(django_capture_on_commit_callbacks: Any) -> None:
    victim = make_customer("victim@example.jp")
    # What a scheduled call could hand the task: the rate limit lifted, an address of its choosing.
    assert password_reset_mail_task.delay(email=victim.email, send=True, ip="203.0.113.9", user_agent="beat", channel="web").get() is False
    assert password_reset_mail_task.delay(request="forged:signature").get() is False
    assert not Notification.objects.filter(user=victim, kind="password_reset").exists()
    assert not AuthEvent.objects.filter(kind=AuthEvent.Kind.PASSWORD_RESET_REQUESTED).exists()
    # The customer's own request, through the reset service, still works and logs the real address.
    with django_capture_on_commit_callbacks(execute=True):
        password_reset_request(email=victim.email, meta=RequestMeta(ip="198.51.100.7", user_agent="browser"))
    assert Notification.objects.filter(user=victim, kind="password_reset").count() == 1
    assert list(AuthEvent.objects.filter(kind=AuthEvent.Kind.PASSWORD_RESET_REQUESTED).values_list("ip", flat=True)) == ["198.51.100.7"]
