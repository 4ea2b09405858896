"""Risk rules, the decisions they made, and the money limits.

Decisions are a read-only log. A rule edit goes through ``risk_rule_update``,
so it becomes a new version with its snapshot (decisions name the version that
fired) and takes effect at once; the ``StaffAction`` row is written in the same
transaction. Limits are plain audited edits.
"""

from __future__ import annotations

import itertools
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from wallet.models import LimitPolicy, RiskDecision, RiskEvent, RiskRule, RiskRuleChange, User
from wallet.request_meta import client_ip
from wallet.services.risk import RULE_KINDS, risk_rule_create, risk_rule_snapshot, risk_rule_update, rule_params_clean
from wallet.services.risk.kinds import COMMON_PARAMS

from ..admin_site import staff_admin_site
from ..services.audit import staff_action_record
from .base import AuditedAdmin, ReadOnlyAdmin, yen

# --- Decisions ------------------------------------------------------------------------


DECISION_FIELDS = (
    "created_at",
    "event",
    "outcome",
    "reasons_list",
    "user",
    "amount",
    "channel",
    "ip_address",
    "device",
    "card",
    "reviewed_at",
)


@admin.register(RiskDecision, site=staff_admin_site)
class RiskDecisionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "event", "outcome", "user", "amount", "channel", "reason_summary", "reviewed_at"]
    list_filter = ["outcome", "event", "created_at", ("reviewed_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__email"]
    search_help_text = _("Search by customer email.")
    date_hierarchy = "created_at"
    list_select_related = ["user"]
    ordering = ["-created_at"]
    fields = DECISION_FIELDS
    readonly_fields = DECISION_FIELDS

    @admin.display(description=_("amount"), ordering="amount_yen")
    def amount(self, obj: RiskDecision) -> str:
        return yen(obj.amount_yen)

    @admin.display(description=_("reasons"))
    def reason_summary(self, obj: RiskDecision) -> str:
        return "; ".join(f"{r.get('rule')} v{r.get('version')}" for r in obj.reasons) or "—"

    @admin.display(description=_("reasons"))
    def reasons_list(self, obj: RiskDecision) -> SafeString:
        if not obj.reasons:
            return format_html("{}", gettext("No rule fired."))
        items = format_html_join(
            "",
            "<li><strong>{} v{}</strong> ({}): {}</li>",
            ((r.get("rule"), r.get("version"), r.get("action"), r.get("detail")) for r in obj.reasons),
        )
        return format_html("<ul>{}</ul>", items)

    # Digests, shortened: enough to match two decisions, nothing to replay (L02).
    @admin.display(description=_("device (digest prefix)"))
    def device(self, obj: RiskDecision) -> str:
        return f"{obj.device_key[:10]}…" if obj.device_key else "—"

    @admin.display(description=_("card (fingerprint prefix)"))
    def card(self, obj: RiskDecision) -> str:
        return f"{obj.card_fingerprint[:10]}…" if obj.card_fingerprint else "—"


# --- Rules ------------------------------------------------------------------------------


class RiskRuleForm(forms.ModelForm):  # type: ignore[type-arg]
    kind = forms.ChoiceField(label=_("kind"), choices=[(code, kind.label) for code, kind in RULE_KINDS.items()])
    events = forms.MultipleChoiceField(label=_("events"), choices=RiskEvent.choices, widget=forms.CheckboxSelectMultiple)
    params = forms.JSONField(
        label=_("thresholds"),
        help_text=_("A JSON object; the parameters each kind takes are listed below the form."),
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
    )

    class Meta:
        model = RiskRule
        fields = ["code", "name", "description", "kind", "events", "params", "action", "enabled"]

    def clean_events(self) -> list[str]:
        return sorted(self.cleaned_data["events"])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kind, params = cleaned.get("kind"), cleaned.get("params")
        if kind and params is not None:
            try:
                cleaned["params"] = rule_params_clean(kind, params)
            except ValidationError as exc:
                self.add_error("params", exc)
        return cleaned


class RiskRuleChangeInline(admin.TabularInline):  # type: ignore[type-arg]
    model = RiskRuleChange
    fields = readonly_fields = ("version", "changed_at", "changed_by", "snapshot")
    ordering = ["-version"]
    extra = 0
    can_delete = False
    verbose_name = _("version")
    verbose_name_plural = _("versions")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The history belongs to the rule: whoever may see the rule sees its versions.
        return bool(request.user.has_perm("wallet.view_riskrule"))


def _kind_reference() -> SafeString:
    rows = []
    for code, kind in RULE_KINDS.items():
        params = format_html_join(
            "", "<li><code>{}</code>: {}</li>", ((name, spec.help) for name, spec in {**kind.params, **COMMON_PARAMS}.items())
        )
        rows.append(format_html("<dt><code>{}</code>: {}</dt><dd><ul>{}</ul></dd>", code, kind.label, params))
    return format_html("<dl>{}</dl>", format_html_join("", "{}", ((row,) for row in rows)))


@admin.register(RiskRule, site=staff_admin_site)
class RiskRuleAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = RiskRuleForm
    list_display = ["code", "name", "kind", "event_list", "action", "enabled", "version", "updated_at", "updated_by"]
    list_filter = ["kind", "action", "enabled"]
    search_fields = ["code", "name", "description"]
    list_select_related = ["updated_by"]
    readonly_fields = ["version", "updated_at", "updated_by", "kind_reference"]
    inlines = [RiskRuleChangeInline]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        return [
            (None, {"fields": ["code", "name", "description", "enabled"]}),
            (_("What it checks"), {"fields": ["kind", "events", "params", "action"]}),
            (_("Version"), {"fields": ["version", "updated_at", "updated_by"]}),
            (_("Kinds and their thresholds"), {"fields": ["kind_reference"], "classes": ["collapse"]}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The code is how decisions name the rule: fixed once created.
        return [*self.readonly_fields, "code"] if obj is not None else self.readonly_fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # decisions name rules by code and version: disable a rule instead

    @admin.display(description=_("events"))
    def event_list(self, obj: RiskRule) -> str:
        return ", ".join(obj.events)

    @admin.display(description=_("kinds and their thresholds"))
    def kind_reference(self, obj: RiskRule | None = None) -> SafeString:
        return _kind_reference()

    def save_model(self, request: HttpRequest, obj: RiskRule, form: RiskRuleForm, change: bool) -> None:
        acting_user = request.user if isinstance(request.user, User) else None
        if not change:
            data = form.cleaned_data
            created = risk_rule_create(
                acting_user=acting_user,
                **{name: data[name] for name in ("code", "name", "description", "kind", "events", "params", "action", "enabled")},
            )
            obj.pk = created.pk
            obj.version = created.version
            staff_action_record(
                acting_user=acting_user,
                action="wallet.riskrule.add",
                target=created,
                after=risk_rule_snapshot(created),
                ip=client_ip(request),
            )
            return
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
        old_version = obj.version
        before = {name: form.initial.get(name) for name in changes}
        risk_rule_update(rule=obj, changes=changes, acting_user=acting_user)
        if obj.version != old_version:
            staff_action_record(
                acting_user=acting_user,
                action="wallet.riskrule.change",
                target=obj,
                before={**before, "version": old_version},
                after={**{name: getattr(obj, name) for name in changes}, "version": obj.version},
                ip=client_ip(request),
            )


# --- Limits --------------------------------------------------------------------------------


class LimitPolicyForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = LimitPolicy
        fields = ["per_charge_max_yen", "per_day_max_yen", "per_30_days_max_yen", "global_per_day_max_yen"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        ladder = [
            ("per_charge_max_yen", cleaned.get("per_charge_max_yen")),
            ("per_day_max_yen", cleaned.get("per_day_max_yen")),
            ("per_30_days_max_yen", cleaned.get("per_30_days_max_yen")),
        ]
        for name, value in ladder:
            if value is not None and value <= 0:
                self.add_error(name, _("Enter an amount above zero, or leave it empty for no limit."))
        present = [(name, value) for name, value in ladder if value is not None and value > 0]
        for (_smaller, low), (larger, high) in itertools.pairwise(present):
            if high < low:
                self.add_error(larger, _("A longer period's limit cannot be below a shorter one's (%(amount)s).") % {"amount": yen(low)})
        return cleaned


@admin.register(LimitPolicy, site=staff_admin_site)
class LimitPolicyAdmin(AuditedAdmin):
    """Caps the money services enforce (B01). Each edit is in the audit log with old and new values."""

    form = LimitPolicyForm
    list_display = ["kind", "per_charge", "per_day", "per_30_days", "global_per_day", "updated_at", "updated_by"]
    fields = ["kind", "per_charge_max_yen", "per_day_max_yen", "per_30_days_max_yen", "global_per_day_max_yen", "updated_at", "updated_by"]
    readonly_fields = ["kind", "updated_at", "updated_by"]
    list_select_related = ["updated_by"]
    ordering = ["kind"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the kinds are the ones the services read

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: LimitPolicy, form: Any, change: bool) -> None:
        obj.updated_at = timezone.now()
        obj.updated_by = request.user if isinstance(request.user, User) else None
        super().save_model(request, obj, form, change)

    @admin.display(description=_("per charge"), ordering="per_charge_max_yen")
    def per_charge(self, obj: LimitPolicy) -> str:
        return yen(obj.per_charge_max_yen)

    @admin.display(description=_("per day"))
    def per_day(self, obj: LimitPolicy) -> str:
        return yen(obj.per_day_max_yen)

    @admin.display(description=_("per 30 days"))
    def per_30_days(self, obj: LimitPolicy) -> str:
        return yen(obj.per_30_days_max_yen)

    @admin.display(description=_("all customers per day"))
    def global_per_day(self, obj: LimitPolicy) -> str:
        return yen(obj.global_per_day_max_yen)
