"""Scheduled jobs staff may see, time and start (B10).

django-celery-beat stores a job as a ``PeriodicTask`` row: a task *name*, its
arguments and its delivery options. The stock admin lets anybody who may change
the row type any task name and any arguments, and its "run" action sends them:
that is how a finance user once mailed a shutdown notice for a programme still in
draft. Here:

- ``SCHEDULABLE_TASKS`` is the explicit list of jobs that exist on a schedule,
  each with a label people understand and the permission of the act the job
  performs. A row whose task is not listed is shown read-only and never started
  from the back-office.
- Staff change a listed job's timing and its on/off flag, nothing else: the task
  name, arguments, queue, exchange, routing key and headers stay as the code or
  the migration wrote them (``backoffice.admin.schedules``).
- "Run now" (``schedule_run_now``) starts the listed task with *no* arguments,
  whatever the row holds, for a person who holds the act's permission, and
  writes the audit row in the same transaction. The task is published after the
  commit, so a refused or rolled-back request starts nothing.

Task names and permissions are strings: the back-office never imports the
refund app, whose jobs are listed here all the same (the list is the decision).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_celery_beat.models import PeriodicTask

from wallet.errors import Refused
from wallet.models import User

from .audit import staff_action_record

# Anybody who opens the schedules may see them; the acts need more (below).
VIEW_PERMISSION = "django_celery_beat.view_periodictask"
CHANGE_PERMISSION = "django_celery_beat.change_periodictask"


@dataclass(frozen=True)
class SchedulableTask:
    task: str
    label: str | Promise
    # The permission of the act the task performs; None: it runs on its schedule only, nobody starts it by hand.
    run_permission: str | None


SCHEDULABLE_TASKS: dict[str, SchedulableTask] = {
    entry.task: entry
    for entry in (
        # Refunds. Building a batch by hand on the refund desk needs the same permission (refunds BUILD_PERMISSION).
        SchedulableTask("refunds.tasks.payout_batches_build", _("Build refund payout batches"), "refunds.release_payoutbatch"),
        SchedulableTask("refunds.tasks.payout_deliveries_sweep", _("Deliver released payout files"), "refunds.release_payoutbatch"),
        SchedulableTask(
            "refunds.tasks.programme_deadlines", _("Apply the shutdown programme's deadlines"), "refunds.change_shutdownprogramme"
        ),
        # Back-office.
        SchedulableTask("backoffice.tasks.freezes_expired_release", _("Lift expired account freezes"), "wallet.change_accountfreeze"),
        SchedulableTask(
            "backoffice.tasks.card_reversals_sync", _("Record card chargebacks reported by the gateway"), "backoffice.add_compensation"
        ),
        SchedulableTask(
            "backoffice.tasks.compensations_release_stale",
            _("Free the transactions of refused or expired compensation requests"),
            "backoffice.add_compensation",
        ),
        SchedulableTask("backoffice.tasks.mass_reset_watchdog", _("Restart stalled mass password resets"), "backoffice.run_massreset"),
        # Wallet housekeeping: on the schedule only.
        SchedulableTask("wallet.tasks.notifications_relay", _("Relay queued mail"), None),
        SchedulableTask("wallet.tasks.topups_reconcile", _("Ask the card gateway about top-ups left pending"), None),
        SchedulableTask("wallet.tasks.idempotency_purge", _("Drop stored answers to money requests past their retention"), None),
    )
}


class ScheduleRefused(Refused):
    class Code(StrEnum):
        MISSING = "missing"
        NOT_ALLOWED = "not_allowed"
        NOT_LISTED = "not_listed"


def schedulable_task(task_name: str) -> SchedulableTask | None:
    return SCHEDULABLE_TASKS.get(task_name)


def schedule_timing_in_code(task_name: str) -> bool:
    """A job whose timing ``CELERY_BEAT_SCHEDULE`` sets: beat writes that timing back into the row
    whenever it starts, so an edit in the admin would not last. Its on/off flag does last."""
    return any(entry.get("task") == task_name for entry in settings.CELERY_BEAT_SCHEDULE.values())


def schedule_may_run(*, user: User, periodic_task: PeriodicTask) -> bool:
    """Whether ``user`` may start this job now: a listed task, an active staff member, the schedules'
    view permission and the permission of the act the task performs."""
    entry = schedulable_task(periodic_task.task)
    return bool(
        entry is not None
        and entry.run_permission is not None
        and user.is_active
        and user.is_staff
        and user.status == User.Status.ACTIVE
        and user.has_perm(VIEW_PERMISSION)
        and user.has_perm(entry.run_permission)
    )


def schedule_run_now(*, periodic_task_id: int, acting_user: User, ip: str | None = None) -> SchedulableTask:
    """Start a listed job once, now, with no arguments; audited. Raises ``ScheduleRefused`` and starts nothing when refused."""
    with transaction.atomic():
        periodic_task = PeriodicTask.objects.select_for_update().filter(pk=periodic_task_id).first()
        if periodic_task is None:
            raise ScheduleRefused(ScheduleRefused.Code.MISSING, gettext("There is no such scheduled job."))
        entry = schedulable_task(periodic_task.task)
        if entry is None or entry.run_permission is None:
            raise ScheduleRefused(ScheduleRefused.Code.NOT_LISTED, gettext("This job cannot be started from the back-office."))
        if not schedule_may_run(user=acting_user, periodic_task=periodic_task):
            raise ScheduleRefused(ScheduleRefused.Code.NOT_ALLOWED, gettext("You are not allowed to start this job."))
        staff_action_record(
            acting_user=acting_user,
            action="schedule.run_now",
            target=periodic_task,
            after={"task": entry.task},
            ip=ip,
        )
        task_name = entry.task
        transaction.on_commit(lambda: _task_publish(task_name))
    return entry


def _task_publish(task_name: str) -> None:
    """Send the listed task with no arguments and its configured route (``CELERY_TASK_ROUTES``).

    The task's module is found by Celery's own autodiscovery, which also runs inline
    when tasks are eager (the test suite)."""
    app = current_app
    if task_name not in app.tasks:
        app.loader.import_default_modules()
    app.tasks[task_name].apply_async()
