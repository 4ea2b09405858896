"""The shutdown programme in the admin.

Supervisors make it here: the form checks the dates with the programme service
(the Payment Services Act's 60-day claim window, the date order) and shows each
problem beside its field; the programme is then made by ``programme_create``,
which checks again and writes the audit row. "Announce…" leads to a page that
says what announcing does before ``programme_announce`` starts the notices.
Once announced, the dates are what the holders were told, so they are read-only.
"""

from __future__ import annotations

import math
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from backoffice.admin_site import staff_admin_site
from wallet.models import ChannelSwitch, LedgerAccount, Notification, User
from wallet.request_meta import client_ip
from wallet.switches import CHANNELS

from ..models import ShutdownProgramme
from ..services.errors import RefundRefused
from ..services.programme import CHANNELS_CLOSED_AT_SERVICE_END, NOTICE_KIND, programme_announce, programme_create, programme_current
from ..services.programme import programme_dates_check as dates_check
from ..services.review_desk import PROGRAMME_DATE_FIELDS, PROGRAMME_TEXT_FIELDS, programme_update

FORM_FIELDS = ["title", "announced_on", "service_ends_at", "claims_open_at", "claims_close_at", "notice_ja", "notice_en"]
SHOWN = ["state", "window_length", "notices_progress", "channels_at_service_end", "created_by", "created_at"]


class ShutdownProgrammeForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = ShutdownProgramme
        fields = FORM_FIELDS
        help_texts = {
            "claims_close_at": _("At least 60 days after claims open (Payment Services Act art. 20); after the service ends."),
            "service_ends_at": _("Top-ups and payments close at this time, by a job that runs every minute."),
            "notice_ja": _("The public notice: says how to claim, until when, and that holders who do not claim in time are excluded."),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        dates = {name: data.get(name) for name in PROGRAMME_DATE_FIELDS}
        if all(value is not None for value in dates.values()):
            for name, message in dates_check(**dates).items():  # type: ignore[arg-type]
                self.add_error(name, message)
        if self.instance.pk is None and programme_current() is not None:
            raise forms.ValidationError(_("A shutdown programme already exists; cancel it before making another."))
        return data


def _holders_with_balance() -> int:
    return LedgerAccount.objects.filter(kind=LedgerAccount.Kind.CUSTOMER_WALLET, balance_yen__gt=0, owner__is_staff=False).count()


@admin.register(ShutdownProgramme, site=staff_admin_site)
class ShutdownProgrammeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = ShutdownProgrammeForm
    list_display = ["title", "state", "announced_on", "service_ends_at", "claims_open_at", "claims_close_at", "window_days", "notices"]
    list_filter = ["state"]
    readonly_fields = SHOWN
    show_full_result_count = False

    def get_fieldsets(self, request: HttpRequest, obj: ShutdownProgramme | None = None) -> Any:
        sets: list[Any] = [
            (None, {"fields": ["title", "state"] if obj is not None else ["title"]}),
            (_("Dates"), {"fields": ["announced_on", "service_ends_at", "claims_open_at", "claims_close_at", "window_length"]}),
            (_("Public notice"), {"fields": ["notice_ja", "notice_en"]}),
        ]
        if obj is not None:
            sets.append((_("Progress"), {"fields": ["notices_progress", "channels_at_service_end", "created_by", "created_at"]}))
        else:
            sets[1][1]["fields"].remove("window_length")
        return sets

    def get_readonly_fields(self, request: HttpRequest, obj: ShutdownProgramme | None = None) -> list[str]:
        if obj is None or obj.state == ShutdownProgramme.State.DRAFT:
            return SHOWN
        if obj.state in (ShutdownProgramme.State.CANCELLED, ShutdownProgramme.State.CLAIMS_CLOSED):
            return [*SHOWN, *PROGRAMME_DATE_FIELDS, *PROGRAMME_TEXT_FIELDS]
        return [*SHOWN, *PROGRAMME_DATE_FIELDS]

    def has_delete_permission(self, request: HttpRequest, obj: ShutdownProgramme | None = None) -> bool:
        return False  # claims point at it; a programme is cancelled, never deleted

    def has_change_permission(self, request: HttpRequest, obj: ShutdownProgramme | None = None) -> bool:
        if obj is not None and obj.state in (ShutdownProgramme.State.CANCELLED, ShutdownProgramme.State.CLAIMS_CLOSED):
            return False  # a closed programme is a record: everybody sees it, nobody changes it
        return super().has_change_permission(request, obj)

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], add: bool = False, change: bool = False, form_url: str = "", obj: Any = None
    ) -> HttpResponse:
        # There is one live programme at a time: "save and add another" would only lead to a refusal.
        context["show_save_and_add_another"] = False
        return super().render_change_form(request, context, add, change, form_url, obj)

    # -- what the pages show ------------------------------------------------------------

    @admin.display(description=_("claim window"))
    def window_days(self, obj: ShutdownProgramme) -> str:
        return ngettext("%(days)s day", "%(days)s days", obj.claim_window.days) % {"days": obj.claim_window.days}

    @admin.display(description=_("length of the claim window"))
    def window_length(self, obj: ShutdownProgramme) -> str:
        days = obj.claim_window.days
        return gettext("%(days)s days (the Act requires at least 60)") % {"days": days}

    @admin.display(description=_("holder notices"))
    def notices(self, obj: ShutdownProgramme) -> str:
        if obj.notices_queued_at is None:
            return "—"
        done = gettext("all queued") if obj.notices_done_at else gettext("queueing")
        return f"{obj.notices_queued:,} ({done})"

    @admin.display(description=_("notices to holders"))
    def notices_progress(self, obj: ShutdownProgramme) -> SafeString:
        if obj.notices_queued_at is None:
            return format_html(
                "{}<br>{}",
                gettext("Not started: announcing the programme queues a notice to every holder with a balance."),
                gettext("Holders with a balance now: %(count)s") % {"count": f"{_holders_with_balance():,}"},
            )
        sent = Notification.objects.filter(kind=NOTICE_KIND, status=Notification.Status.SENT).count()
        if obj.notices_done_at is not None:
            state = gettext("All queued at %(when)s.") % {"when": timezone.localtime(obj.notices_done_at).strftime("%Y-%m-%d %H:%M")}
        else:
            state = gettext("Still queueing (a background job, batch by batch).")
        return format_html(
            "<strong>{}</strong> {}<br>{}<br>{}",
            gettext("%(queued)s queued.") % {"queued": f"{obj.notices_queued:,}"},
            state,
            gettext("%(sent)s sent by the mail relay so far (paced).") % {"sent": f"{sent:,}"},
            gettext("Started at %(when)s.") % {"when": timezone.localtime(obj.notices_queued_at).strftime("%Y-%m-%d %H:%M")},
        )

    @admin.display(description=_("channels closed at service end"))
    def channels_at_service_end(self, obj: ShutdownProgramme) -> SafeString:
        enabled = dict(ChannelSwitch.objects.filter(name__in=CHANNELS_CLOSED_AT_SERVICE_END).values_list("name", "enabled"))
        rows = format_html_join(
            mark_safe("<br>"),
            "<code>{}</code> {} — <strong>{}</strong>",
            (
                (name, CHANNELS[name].description if name in CHANNELS else "", gettext("on") if enabled.get(name, True) else gettext("off"))
                for name in CHANNELS_CLOSED_AT_SERVICE_END
            ),
        )
        if obj.channels_closed_at is not None:
            when = gettext("Closed at %(when)s.") % {"when": timezone.localtime(obj.channels_closed_at).strftime("%Y-%m-%d %H:%M")}
        else:
            when = gettext("They close at the service end, %(when)s.") % {
                "when": timezone.localtime(obj.service_ends_at).strftime("%Y-%m-%d %H:%M")
            }
        return format_html("{}<br>{}", when, rows)

    # -- saving through the services ---------------------------------------------------

    def save_model(self, request: HttpRequest, obj: ShutdownProgramme, form: ShutdownProgrammeForm, change: bool) -> None:
        data = form.cleaned_data
        user = request.user
        if not isinstance(user, User):
            raise PermissionDenied
        if change:
            saved = programme_update(
                programme=obj,
                changes={name: data[name] for name in form.changed_data if name in data},
                acting_user=user,
                ip=client_ip(request),
            )
        else:
            saved = programme_create(**{name: data[name] for name in FORM_FIELDS}, acting_user=user, ip=client_ip(request))
        for model_field in obj._meta.concrete_fields:
            setattr(obj, model_field.attname, getattr(saved, model_field.attname))
        obj._state.adding = False
        obj._state.db = saved._state.db

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """No related rows; the services wrote the audit row."""

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = dict(extra_context or {})
        if object_id is not None:
            programme = self.get_object(request, unquote(object_id))
            extra["may_announce"] = (
                programme is not None
                and programme.state == ShutdownProgramme.State.DRAFT
                and self.has_change_permission(request, programme)
            )
        try:
            return super().changeform_view(request, object_id, form_url, extra)
        except RefundRefused as exc:
            # A refusal the form could not foresee (a colleague's programme made a moment earlier): nothing was saved.
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    # -- announcing ------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        announce = path(
            "<path:object_id>/announce/", self.admin_site.admin_view(self.announce_view), name="refunds_shutdownprogramme_announce"
        )
        return [announce, *super().get_urls()]

    def announce_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        programme = self.get_object(request, unquote(object_id))
        if programme is None:
            raise Http404(gettext("There is no such programme."))
        if not self.has_change_permission(request, programme):
            raise PermissionDenied
        change_url = reverse("admin:refunds_shutdownprogramme_change", args=[programme.pk])
        if request.method == "POST":
            try:
                programme_announce(programme=programme, acting_user=request.user, ip=client_ip(request))  # type: ignore[arg-type]
            except RefundRefused as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(
                    request, gettext("Announced. The notices to the holders are being queued in the background."), messages.SUCCESS
                )
            return HttpResponseRedirect(change_url)
        holders = _holders_with_balance()
        rate = float(settings.SHUTDOWN_NOTICES_PER_SECOND)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Announce “%(title)s”?") % {"title": programme.title},
            "programme": programme,
            "holders": holders,
            "rate": rate,
            "minutes": math.ceil(holders / rate / 60) if holders else 0,
            "channels": CHANNELS_CLOSED_AT_SERVICE_END,
            "change_url": change_url,
            "is_draft": programme.state == ShutdownProgramme.State.DRAFT,
        }
        return TemplateResponse(request, "admin/refunds/shutdownprogramme/announce.html", context)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ShutdownProgramme]:
        return super().get_queryset(request).select_related("created_by")
