"""Admin registrations on the staff site (``backoffice.admin_site.staff_admin_site``).

They live here, not in ``wallet/admin.py``, because ``wallet`` must not import
``backoffice``. Principles:

- Roles are groups with model permissions (migration 0004); the admin only
  shows what a permission allows (B08).
- Every change made through the admin writes a ``StaffAction`` row with the
  fields' old and new values in the same transaction. Logs and histories are
  read-only for everybody (B07); nothing can be bulk-deleted.
- Staff never see or set a password or any other secret (R07, L02): no password
  field, no digests, no session keys, no OTP device secrets.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.forms import ModelForm
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from wallet.models import AuthEvent, ChannelSwitch, KnownDevice, Notification, User, UserSession
from wallet.request_meta import client_ip
from wallet.switches import CHANNELS, UnknownChannel, get_channel

from .admin_site import staff_admin_site
from .forms import ChannelSwitchFlipForm, StaffUserCreationForm
from .models import StaffAction
from .selectors import channel_switch_history, staff_action_csv_rows, users_with_factor_flags
from .services.audit import staff_action_record
from .services.exports import staff_action_export_record
from .services.staff import staff_enrolment_window_open, staff_user_create
from .services.switches import channel_switch_flip


def _jsonable(value: Any) -> Any:
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (list, tuple, set, models.QuerySet)):
        return sorted(str(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


class AuditedAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Writes a StaffAction for each add, change and delete, inside the admin's transaction."""

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool) -> None:  # type: ignore[type-arg]
        super().save_related(request, form, formsets, change)
        changed = [
            name
            for name in form.changed_data
            if name in form.cleaned_data and (not change or _jsonable(form.initial.get(name)) != _jsonable(form.cleaned_data[name]))
        ]
        if change and not changed:
            return
        obj = form.instance
        staff_action_record(
            acting_user=request.user,  # type: ignore[arg-type]
            action=f"{obj._meta.label_lower}.{'change' if change else 'add'}",
            target=obj,
            before={name: _jsonable(form.initial.get(name)) for name in changed} if change else {},
            after={name: _jsonable(form.cleaned_data.get(name)) for name in changed},
            ip=client_ip(request),
        )

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        with transaction.atomic():
            staff_action_record(
                acting_user=request.user,  # type: ignore[arg-type]
                action=f"{obj._meta.label_lower}.delete",
                target=obj,
                ip=client_ip(request),
            )
            super().delete_model(request, obj)


class ReadOnlyAdmin(AuditedAdmin):
    """A list and a detail page; no add, change or delete for anybody, superusers included."""

    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


# --- Users ---------------------------------------------------------------------


class VerifiedFilter(admin.SimpleListFilter):
    title = _("verified")
    parameter_name = "verified"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", gettext("Email and phone verified")), ("no", gettext("Not fully verified"))]

    def queryset(self, request: HttpRequest, queryset: models.QuerySet[User]) -> models.QuerySet[User]:  # type: ignore[override]
        both = models.Q(email_verified_at__isnull=False, phone_verified_at__isnull=False)
        if self.value() == "yes":
            return queryset.filter(both)
        if self.value() == "no":
            return queryset.exclude(both)
        return queryset


@admin.register(User, site=staff_admin_site)
class UserAdmin(AuditedAdmin):
    """Customers and staff. No password field exists here: staff never choose or see a
    password (R07); a staff account is created without one and its owner sets it."""

    list_display = ["email", "full_name", "phone", "status", "is_staff", "verified", "second_factor", "date_joined"]
    list_filter = ["status", "is_staff", "is_active", VerifiedFilter, "groups"]
    search_fields = ["email", "full_name", "name_kana", "phone"]
    search_help_text = _("Search by email, name, name in kana or phone (E.164, e.g. +8190…).")
    ordering = ["-date_joined"]
    show_full_result_count = False
    actions = ["open_enrolment_window"]
    filter_horizontal = ["groups", "user_permissions"]

    PROFILE_FIELDS = ("email", "full_name", "name_kana", "phone", "birth_date", "preferred_language")
    STATE_FIELDS = ("status", "is_active", "email_verified_at", "phone_verified_at", "second_factor", "must_reset_password")
    HISTORY_FIELDS = ("date_joined", "last_login", "credentials_changed_at")
    STAFF_FIELDS = ("is_staff", "is_superuser", "groups", "user_permissions", "staff_enrollment_open_until")
    # What a user with change_user may edit; everything else is read-only. Email and
    # phone are identity and recovery channels (R01): they change only through the
    # owner's verified flows, never by staff typing a new value.
    EDITABLE = ("full_name", "name_kana", "preferred_language")
    SUPERUSER_EDITABLE = ("is_active", "is_staff", "is_superuser", "groups", "user_permissions", "staff_enrollment_open_until")

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[User]:
        return users_with_factor_flags(super().get_queryset(request))

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return [(None, {"fields": ["email", "full_name", "groups"]})]
        return [
            (_("Profile"), {"fields": self.PROFILE_FIELDS}),
            (_("State"), {"fields": self.STATE_FIELDS}),
            (_("History"), {"fields": self.HISTORY_FIELDS}),
            (_("Staff"), {"fields": self.STAFF_FIELDS}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        editable = set(self.EDITABLE)
        if request.user.is_superuser:
            editable |= set(self.SUPERUSER_EDITABLE)
        every = [*self.PROFILE_FIELDS, *self.STATE_FIELDS, *self.HISTORY_FIELDS, *self.STAFF_FIELDS]
        return [name for name in every if name not in editable]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = StaffUserCreationForm
        return super().get_form(request, obj, change=change, **kwargs)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Customers sign up themselves; only a superuser creates staff accounts.
        return bool(request.user.is_superuser)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Accounts are frozen or closed, never deleted: their history must stay.
        return False

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Any:
        if not change:
            return form.instance  # created by the service in save_model
        return super().save_form(request, form, change)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = staff_user_create(
            acting_user=request.user,  # type: ignore[arg-type]
            email=form.cleaned_data["email"],
            full_name=form.cleaned_data["full_name"],
            groups=list(form.cleaned_data.get("groups") or []),
            ip=client_ip(request),
        )
        obj.pk = created.pk
        obj.email = created.email

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        if not change:
            return  # the service set the groups and wrote the audit row
        super().save_related(request, form, formsets, change)

    @admin.display(description=_("verified"), boolean=True)
    def verified(self, obj: User) -> bool:
        return obj.is_fully_verified

    @admin.display(description=_("second factor"))
    def second_factor(self, obj: User) -> str:
        parts = []
        if getattr(obj, "has_totp", False):
            parts.append(gettext("authenticator app"))
        if getattr(obj, "has_backup_codes", False):
            parts.append(gettext("backup codes"))
        return ", ".join(parts) or gettext("none")

    @admin.action(description=_("Let the selected staff enrol an authenticator app (72 hours)"), permissions=["enrolment"])
    def open_enrolment_window(self, request: HttpRequest, queryset: models.QuerySet[User]) -> None:
        count = 0
        for user in queryset.filter(is_staff=True):
            staff_enrolment_window_open(user=user, acting_user=request.user, ip=client_ip(request))  # type: ignore[arg-type]
            count += 1
        self.message_user(request, gettext("Enrolment opened for %(count)d staff account(s).") % {"count": count}, messages.SUCCESS)

    def has_enrolment_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)


@admin.register(AuthEvent, site=staff_admin_site)
class AuthEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "user", "claimed_identifier", "ip", "channel"]
    list_filter = ["kind", "channel", "created_at"]
    search_fields = ["user__email", "claimed_identifier", "ip"]
    search_help_text = _("Search by account email, the identifier typed at login, or IP address.")
    date_hierarchy = "created_at"
    list_select_related = ["user"]


@admin.register(KnownDevice, site=staff_admin_site)
class KnownDeviceAdmin(ReadOnlyAdmin):
    list_display = ["user", "label", "first_seen_at", "last_seen_at", "last_ip", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__email", "last_ip"]
    exclude = ["device_digest"]
    list_select_related = ["user"]


@admin.register(UserSession, site=staff_admin_site)
class UserSessionAdmin(ReadOnlyAdmin):
    list_display = ["id", "user", "ip", "user_agent", "created_at", "last_seen_at", "ended_at"]
    list_filter = [("ended_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__email", "ip"]
    exclude = ["session_key"]  # a live session key is a credential
    list_select_related = ["user"]


@admin.register(Notification, site=staff_admin_site)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "to_address", "status", "attempts", "sent_at"]
    list_filter = ["status", "kind"]
    search_fields = ["to_address", "user__email"]
    date_hierarchy = "created_at"


# --- Channel switches --------------------------------------------------------------


@admin.register(ChannelSwitch, site=staff_admin_site)
class ChannelSwitchAdmin(ReadOnlyAdmin):
    """The list shows each channel with what it stops; turning one off or on is a
    separate page with a required reason, through ``channel_switch_flip``."""

    list_display = ["name", "description", "state", "reason", "changed_by", "changed_at", "flip_link"]
    list_select_related = ["changed_by"]
    ordering = ["name"]

    def get_urls(self) -> list[URLPattern]:
        flip = path("<str:name>/flip/", self.admin_site.admin_view(self.flip_view), name="wallet_channelswitch_flip")
        return [flip, *super().get_urls()]

    def has_flip_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("wallet.change_channelswitch"))

    @admin.display(description=_("what it stops"))
    def description(self, obj: ChannelSwitch) -> str:
        channel = CHANNELS.get(obj.name)
        return str(channel.description) if channel else gettext("(not in the registry)")

    @admin.display(description=_("state"))
    def state(self, obj: ChannelSwitch) -> str:
        if obj.enabled:
            return format_html('<strong class="switch-on">{}</strong>', gettext("On"))
        return format_html('<strong class="switch-off">{}</strong>', gettext("Off"))

    @admin.display(description=_("change"))
    def flip_link(self, obj: ChannelSwitch) -> str:
        label = gettext("Turn off…") if obj.enabled else gettext("Turn on…")
        return format_html('<a href="{}">{}</a>', reverse("admin:wallet_channelswitch_flip", args=[obj.name]), label)

    def flip_view(self, request: HttpRequest, name: str) -> HttpResponse:
        if not self.has_flip_permission(request):
            raise PermissionDenied
        try:
            channel = get_channel(name)
        except UnknownChannel as exc:
            raise Http404(gettext("There is no such channel.")) from exc
        switch = ChannelSwitch.objects.filter(name=name).first()
        currently_enabled = True if switch is None else switch.enabled
        form = ChannelSwitchFlipForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            channel_switch_flip(
                name=name,
                enabled=not currently_enabled,
                reason=form.cleaned_data["reason"],
                acting_user=request.user,  # type: ignore[arg-type]
                ip=client_ip(request),
            )
            done = gettext("“%(name)s” is now off.") if currently_enabled else gettext("“%(name)s” is now on.")
            self.message_user(request, done % {"name": name}, messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:wallet_channelswitch_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Turn off %(name)s") % {"name": name} if currently_enabled else gettext("Turn on %(name)s") % {"name": name},
            "channel": channel,
            "switch": switch,
            "currently_enabled": currently_enabled,
            "form": form,
            "history": channel_switch_history(name=name),
        }
        return TemplateResponse(request, "admin/wallet/channelswitch/flip.html", context, status=400 if form.errors else 200)


# --- Audit log -------------------------------------------------------------------


class _Echo:
    def write(self, value: str) -> str:
        return value


@admin.register(StaffAction, site=staff_admin_site)
class StaffActionAdmin(ReadOnlyAdmin):
    """The append-only audit log (B07): readable with ``view_staffaction``, exportable
    as CSV with ``export_staffaction``. The export is itself audited."""

    list_display = ["created_at", "actor", "action", "target_type", "target_repr", "reason", "ip"]
    list_filter = ["action", "target_type", "created_at"]
    search_fields = ["actor__email", "action", "target_id", "target_repr", "reason"]
    search_help_text = _("Search by staff email, action, target or reason.")
    date_hierarchy = "created_at"
    list_select_related = ["actor"]
    actions = ["export_selected"]

    def get_urls(self) -> list[URLPattern]:
        export = path("export/", self.admin_site.admin_view(self.export_view), name="backoffice_staffaction_export")
        return [export, *super().get_urls()]

    def has_export_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("backoffice.export_staffaction"))

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {"can_export": self.has_export_permission(request), **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra)

    def _csv_response(self, request: HttpRequest, queryset: models.QuerySet[StaffAction], filters: str) -> StreamingHttpResponse:
        staff_action_export_record(acting_user=request.user, filters=filters, row_count=queryset.count(), ip=client_ip(request))  # type: ignore[arg-type]
        writer = csv.writer(_Echo())
        rows: Iterator[str] = (writer.writerow(row) for row in staff_action_csv_rows(queryset))
        response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="staff-actions.csv"'
        return response

    def export_view(self, request: HttpRequest) -> HttpResponseBase:
        """Export what the list shows with the same filters and search (query string)."""
        if not (self.has_export_permission(request) and self.has_view_permission(request)):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            self.message_user(request, gettext("Those filters are not valid; nothing was exported."), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:backoffice_staffaction_changelist"))
        return self._csv_response(request, changelist.get_queryset(request), request.GET.urlencode())

    @admin.action(description=_("Export the selected actions as CSV"), permissions=["export"])
    def export_selected(self, request: HttpRequest, queryset: models.QuerySet[StaffAction]) -> HttpResponseBase:
        ids = list(queryset.values_list("pk", flat=True))
        return self._csv_response(request, StaffAction.objects.filter(pk__in=ids), f"selected:{len(ids)}")


@admin.register(Group, site=staff_admin_site)
class RoleAdmin(AuditedAdmin, GroupAdmin):
    """Roles. Only superusers hold the group permissions (none of the roles do)."""
