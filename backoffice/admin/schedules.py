"""Scheduled jobs (django-celery-beat's database scheduler) on the staff site, so
finance edits the payout schedule, and every edit is audited like any other
admin change. Beat picks a change up on its next tick; no restart is needed."""

from __future__ import annotations

from django_celery_beat.admin import CrontabScheduleAdmin, PeriodicTaskAdmin
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from ..admin_site import staff_admin_site
from .base import AuditedAdmin


class AuditedPeriodicTaskAdmin(AuditedAdmin, PeriodicTaskAdmin):
    pass


class AuditedCrontabScheduleAdmin(AuditedAdmin, CrontabScheduleAdmin):
    pass


staff_admin_site.register(PeriodicTask, AuditedPeriodicTaskAdmin)
staff_admin_site.register(CrontabSchedule, AuditedCrontabScheduleAdmin)
