"""Scheduled jobs (django-celery-beat's database scheduler) on the staff site (B10).

Not the stock ``PeriodicTaskAdmin``: that one lets whoever may change a row type
any task name and arguments and send them with its "Run selected tasks" action.
Here a job is one of ``backoffice.services.schedules.SCHEDULABLE_TASKS``:

- its page changes the timing (the crontab fields, or the interval) and the
  on/off flag, nothing else. The task, its arguments, queue, exchange, routing
  key and headers are shown read-only; a POST that carries them is ignored. A
  new timing points the job at a crontab/interval row of its own values (found or
  made), so editing one job never moves another that shared the old row.
- crontab and interval rows have no pages of their own; nobody adds a job here.
- "Run now" is a button on the page (a POST with the CSRF token) for a person
  who holds the permission of the act the job performs; ``schedule_run_now``
  starts it without arguments and writes the audit row.
- a row whose task is not listed (one beat made for Celery itself, or one left
  from before) is shown read-only and is never started from here.

Every change is audited (``AuditedAdmin``). Beat picks a change up on its next
tick; no restart is needed.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_celery_beat import validators
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from wallet.models import User
from wallet.request_meta import client_ip

from ..admin_site import staff_admin_site
from ..services.schedules import ScheduleRefused, schedulable_task, schedule_may_run, schedule_run_now, schedule_timing_in_code
from .base import AuditedAdmin

CRONTAB_FIELDS = ["minute", "hour", "day_of_week", "day_of_month", "month_of_year"]
INTERVAL_FIELDS = ["every", "period"]
FIXED_FIELDS = ["task", "args", "kwargs", "queue", "exchange", "routing_key", "headers"]


class ScheduleForm(forms.ModelForm):  # type: ignore[type-arg]
    """The on/off flag: the only model field a person sets."""

    class Meta:
        model = PeriodicTask
        fields = ["enabled"]


class CrontabTimingForm(ScheduleForm):
    minute = forms.CharField(label=_("minute"), max_length=240, validators=[validators.minute_validator])
    hour = forms.CharField(label=_("hour"), max_length=96, validators=[validators.hour_validator])
    day_of_week = forms.CharField(
        label=_("day of the week"),
        max_length=64,
        validators=[validators.day_of_week_validator],
        help_text=_("0–6 (Sunday is 0), names such as mon-fri, or *."),
    )
    day_of_month = forms.CharField(label=_("day of the month"), max_length=124, validators=[validators.day_of_month_validator])
    month_of_year = forms.CharField(label=_("month"), max_length=64, validators=[validators.month_of_year_validator])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        crontab = self.instance.crontab
        if crontab is not None:
            for name in CRONTAB_FIELDS:
                self.initial.setdefault(name, getattr(crontab, name))

    def timing(self) -> CrontabSchedule:
        """The crontab row with these values (and the job's time zone), found or made."""
        values = {name: self.cleaned_data[name].strip() for name in CRONTAB_FIELDS}
        current = self.instance.crontab
        if current is not None:
            values["timezone"] = current.timezone
        crontab = CrontabSchedule.objects.filter(**values).order_by("pk").first()
        return crontab or CrontabSchedule.objects.create(**values)


class IntervalTimingForm(ScheduleForm):
    every = forms.IntegerField(label=_("every"), min_value=1, max_value=10_000_000)
    period = forms.ChoiceField(label=_("period"), choices=IntervalSchedule.PERIOD_CHOICES)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        interval = self.instance.interval
        if interval is not None:
            self.initial.setdefault("every", interval.every)
            self.initial.setdefault("period", interval.period)

    def timing(self) -> IntervalSchedule:
        values = {"every": self.cleaned_data["every"], "period": self.cleaned_data["period"]}
        interval = IntervalSchedule.objects.filter(**values).order_by("pk").first()
        return interval or IntervalSchedule.objects.create(**values)


def _timing_form(obj: PeriodicTask | None) -> type[ScheduleForm]:
    """Which timing a person may edit: none for a job whose timing is set in code (beat restores it) or an unusual schedule."""
    if obj is None or schedule_timing_in_code(obj.task):
        return ScheduleForm
    if obj.crontab_id is not None:
        return CrontabTimingForm
    if obj.interval_id is not None:
        return IntervalTimingForm
    return ScheduleForm


class ScheduleAdmin(AuditedAdmin):
    form = ScheduleForm
    list_display = ["job", "name", "schedule_shown", "enabled", "last_run_at"]
    list_filter = ["enabled"]
    search_fields = ["name", "task"]
    ordering = ["name"]
    actions = None  # no bulk acts at all: the stock "Run selected tasks" among them
    change_form_template = "admin/backoffice/schedules/change_form.html"
    readonly_fields = ["job", "name", "description", "schedule_shown", "run_permission", *FIXED_FIELDS, "last_run_at", "total_run_count"]
    show_full_result_count = False

    # -- who may do what -------------------------------------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # jobs come from code and migrations, never from a form

    def has_change_permission(self, request: HttpRequest, obj: PeriodicTask | None = None) -> bool:
        if obj is not None and schedulable_task(obj.task) is None:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: PeriodicTask | None = None) -> bool:
        # A listed job is switched off, not deleted. A superuser may remove a row nobody listed.
        return bool(obj is not None and schedulable_task(obj.task) is None and request.user.is_superuser)

    # -- the page ----------------------------------------------------------------------

    def get_form(self, request: HttpRequest, obj: PeriodicTask | None = None, change: bool = False, **kwargs: Any) -> Any:
        kwargs["form"] = _timing_form(obj)
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: PeriodicTask | None = None) -> Any:
        form = _timing_form(obj)
        editable = obj is not None and self.has_change_permission(request, obj)
        if editable and form is CrontabTimingForm:
            timing = CRONTAB_FIELDS
        elif editable and form is IntervalTimingForm:
            timing = INTERVAL_FIELDS
        else:
            timing = ["schedule_shown"]
        return [
            (None, {"fields": ["job", "name", "description", "run_permission"]}),
            (_("Timing"), {"fields": [*timing, "enabled"]}),
            (
                _("Set in code"),
                {
                    "fields": FIXED_FIELDS,
                    "classes": ["collapse"],
                    "description": _("Which task runs and with what: set by the code and its migrations, never here."),
                },
            ),
            (_("Runs"), {"fields": ["last_run_at", "total_run_count"]}),
        ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[PeriodicTask]:
        return super().get_queryset(request).select_related("crontab", "interval", "solar", "clocked")

    @admin.display(description=_("job"))
    def job(self, obj: PeriodicTask) -> str:
        entry = schedulable_task(obj.task)
        return str(entry.label) if entry is not None else gettext("Not a listed job (read-only)")

    @admin.display(description=_("schedule"))
    def schedule_shown(self, obj: PeriodicTask) -> str:
        schedule = obj.crontab or obj.interval or obj.solar or obj.clocked
        shown = str(schedule) if schedule is not None else "—"
        if schedule_timing_in_code(obj.task):
            shown = gettext("%(schedule)s (set in the code; beat restores it when it starts)") % {"schedule": shown}
        return shown

    @admin.display(description=_("“Run now” needs"))
    def run_permission(self, obj: PeriodicTask) -> str:
        entry = schedulable_task(obj.task)
        if entry is None or entry.run_permission is None:
            return gettext("Nobody: it runs on its schedule only.")
        return entry.run_permission

    def save_model(self, request: HttpRequest, obj: PeriodicTask, form: Any, change: bool) -> None:
        if not change or schedulable_task(obj.task) is None:
            raise PermissionDenied
        if isinstance(form, CrontabTimingForm):
            obj.crontab = form.timing()
        elif isinstance(form, IntervalTimingForm):
            obj.interval = form.timing()
        super().save_model(request, obj, form, change)

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = dict(extra_context or {})
        user = request.user
        if object_id is not None and isinstance(user, User):
            obj = self.get_object(request, unquote(object_id))
            extra["may_run"] = obj is not None and schedule_may_run(user=user, periodic_task=obj)
        return super().changeform_view(request, object_id, form_url, extra)

    # -- "Run now" ---------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        run = path("<path:object_id>/run/", self.admin_site.admin_view(self.run_view), name="django_celery_beat_periodictask_run")
        return [run, *super().get_urls()]

    def run_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return _run_now(self, request, object_id)


def _run_now(model_admin: ScheduleAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """The "Run now" button's target: a POST with the CSRF token (``admin_view`` checks it)."""
    user = request.user
    if not isinstance(user, User) or not model_admin.has_view_permission(request):
        raise PermissionDenied
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    obj = model_admin.get_object(request, unquote(object_id))
    if obj is None:
        raise Http404(gettext("There is no such scheduled job."))
    change_url = reverse("admin:django_celery_beat_periodictask_change", args=[obj.pk])
    try:
        entry = schedule_run_now(periodic_task_id=obj.pk, acting_user=user, ip=client_ip(request))
    except ScheduleRefused as exc:
        if exc.code == ScheduleRefused.Code.NOT_ALLOWED:
            raise PermissionDenied(exc.message) from exc
        model_admin.message_user(request, exc.message, messages.ERROR)
    else:
        model_admin.message_user(request, gettext("“%(job)s” started.") % {"job": entry.label}, messages.SUCCESS)
    return HttpResponseRedirect(change_url)


staff_admin_site.register(PeriodicTask, ScheduleAdmin)
