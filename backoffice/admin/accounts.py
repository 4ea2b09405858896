"""Customers and staff, their authentication history, devices, sessions, mail, and roles."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.models import Group
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from wallet.models import AccountFreeze, AuthEvent, KnownDevice, Notification, User, UserSession
from wallet.request_meta import client_ip

from ..admin_site import staff_admin_site
from ..forms import StaffUserCreationForm
from ..selectors import users_with_factor_flags
from ..services.staff import staff_enrolment_window_open, staff_user_create
from .base import AuditedAdmin, ReadOnlyAdmin
from .freezes import CustomerFreezesMixin


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
class UserAdmin(CustomerFreezesMixin, AuditedAdmin):
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

    def get_urls(self) -> list[URLPattern]:
        return [*self.freeze_urls(), *super().get_urls()]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # The customer page links to their freezes (S03) with the active ones counted.
        extra = dict(extra_context or {})
        if request.user.has_perm("wallet.view_accountfreeze") and str(object_id).isdigit():
            extra["active_freeze_count"] = AccountFreeze.objects.active().filter(user_id=int(object_id)).count()
        return super().change_view(request, object_id, form_url, extra)

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


@admin.register(Group, site=staff_admin_site)
class RoleAdmin(AuditedAdmin, GroupAdmin):
    """Roles. Only superusers hold the group permissions (none of the roles do)."""
