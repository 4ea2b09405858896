"""Payout batches, payouts and result imports (read-only: the payout pages on the
refund desk build, release and import them), and the corrections finance keeps
to the Zengin bank master (edited here, audited, and seen by the bank forms at once)."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin
from django.db import models, transaction
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from backoffice.admin.base import AuditedAdmin, ReadOnlyAdmin
from backoffice.admin_site import staff_admin_site

from ..models import BankMasterOverride, Payout, PayoutBatch, PayoutResultImport
from ..services.banks import bank_master_invalidate
from .common import desk_url, yen


@admin.register(PayoutBatch, site=staff_admin_site)
class PayoutBatchAdmin(ReadOnlyAdmin):
    list_display = ["id", "method", "state", "transfer_date", "payout_count", "total", "file_name", "built_at", "released_by", "desk_link"]
    list_filter = ["method", "state", "transfer_date"]
    search_fields = ["=id", "file_name", "=file_sha256"]
    search_help_text = _("Search by batch number, file name or the file's SHA-256.")
    list_select_related = ["released_by", "release_requested_by"]
    ordering = ["-built_at", "-id"]
    # The file itself is downloaded from the payout pages (download permission, audited), never shown here.
    exclude = ["file_content"]
    readonly_fields = ["desk_link", "total"]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return super().changelist_view(request, {**(extra_context or {}), "payout_batches_url": desk_url("payout_batches")})

    @admin.display(description=_("total"), ordering="total_yen")
    def total(self, obj: PayoutBatch) -> str:
        return yen(obj.total_yen)

    @admin.display(description=_("payout pages"))
    def desk_link(self, obj: PayoutBatch) -> SafeString:
        url = desk_url("payout_batch", obj.pk)
        return format_html('<a href="{}">{}</a>', url, _("Open")) if url else format_html("{}", "—")


@admin.register(Payout, site=staff_admin_site)
class PayoutAdmin(ReadOnlyAdmin):
    list_display = ["id", "batch", "claim", "amount", "new_code", "state", "result_reason", "result_at"]
    list_filter = ["state", "new_code", "batch__method"]
    search_fields = ["=id", "=claim__number", "claim__customer__email"]
    search_help_text = _("Search by payout id (customer code 1), claim number (exact) or customer email.")
    list_select_related = ["batch", "claim"]
    ordering = ["-id"]

    @admin.display(description=_("amount"), ordering="amount_yen")
    def amount(self, obj: Payout) -> str:
        return yen(obj.amount_yen)


@admin.register(PayoutResultImport, site=staff_admin_site)
class PayoutResultImportAdmin(ReadOnlyAdmin):
    list_display = ["imported_at", "file_name", "rows", "paid", "returned", "unchanged", "imported_by"]
    list_filter = ["imported_at"]
    search_fields = ["file_name", "=file_sha256"]
    list_select_related = ["imported_by"]
    ordering = ["-imported_at", "-id"]


class BankMasterOverrideForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = BankMasterOverride
        fields = ["bank_code", "branch_code", "name", "kana", "closed", "note"]
        help_texts = {
            "branch_code": _("Leave empty to correct the bank itself."),
            "kana": _("As the bank's own record spells it (half-width or full-width katakana)."),
            "closed": _("Refuse this bank or branch in every form from now on."),
        }

    def clean_bank_code(self) -> str:
        code = self.cleaned_data["bank_code"].strip()
        if not re.fullmatch(r"\d{4}", code):
            raise forms.ValidationError(_("A bank code is four digits."))
        return code

    def clean_branch_code(self) -> str:
        code = self.cleaned_data["branch_code"].strip()
        if code and not re.fullmatch(r"\d{3}", code):
            raise forms.ValidationError(_("A branch code is three digits, or empty for the bank itself."))
        return code

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("closed") and not (data.get("name") or "").strip():
            self.add_error("name", _("Give the correct name, or mark the bank or branch as closed."))
        return data


@admin.register(BankMasterOverride, site=staff_admin_site)
class BankMasterOverrideAdmin(AuditedAdmin):
    """Finance adds and changes corrections; each save is audited (old and new values) and
    makes every process rebuild its bank master (the version check in ``bank_master``)."""

    form = BankMasterOverrideForm
    list_display = ["bank_code", "branch_code", "name", "kana", "closed", "note", "updated_at"]
    list_filter = ["closed"]
    search_fields = ["bank_code", "name", "kana"]
    readonly_fields = ["updated_at"]
    ordering = ["bank_code", "branch_code"]

    def save_model(self, request: HttpRequest, obj: BankMasterOverride, form: ModelForm, change: bool) -> None:  # type: ignore[type-arg]
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)
        transaction.on_commit(bank_master_invalidate)

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        super().delete_model(request, obj)
        transaction.on_commit(bank_master_invalidate)
