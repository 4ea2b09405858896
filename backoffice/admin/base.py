"""Admin bases: every change audited; read-only for logs and money records."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.contrib import admin
from django.db import models, transaction
from django.forms import ModelForm
from django.http import HttpRequest

from wallet.money_format import yen_text
from wallet.request_meta import client_ip

from ..services.audit import staff_action_record


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


# The admin columns' name for the one formatter (``wallet.money_format.yen_text``): ¥1,200, -¥500, or a dash.
yen = yen_text
