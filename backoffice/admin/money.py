"""Money records: the ledger, top-ups, store payments and refunds, merchants and
their terminals, cards, freezes and customers' reports.

Money moves only through the wallet services, so everything here is read-only
except a merchant's or terminal's name and whether it is active (an audited
change: switching off a terminal whose key leaked). Secrets never show: no
terminal key or key digest, no card token or fingerprint (L02, P02).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from wallet.models import (
    AccountFreeze,
    Card,
    Entry,
    LedgerAccount,
    Merchant,
    Payment,
    PaymentRefund,
    Terminal,
    TopUp,
    TransactionReport,
    Transfer,
)

from ..admin_site import staff_admin_site
from .base import AuditedAdmin, ReadOnlyAdmin, yen

# --- Ledger ------------------------------------------------------------------------


@admin.register(LedgerAccount, site=staff_admin_site)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ["code", "kind", "owner", "balance", "created_at"]
    list_filter = ["kind"]
    search_fields = ["code", "owner__email"]
    search_help_text = _("Search by account code or the wallet owner's email.")
    list_select_related = ["owner"]
    ordering = ["kind", "code"]

    @admin.display(description=_("balance"), ordering="balance_yen")
    def balance(self, obj: LedgerAccount) -> str:
        return yen(obj.balance_yen)


class EntryInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Entry
    fields = readonly_fields = ("account", "amount", "created_at")
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Entry]:
        return super().get_queryset(request).select_related("account")

    @admin.display(description=_("amount"))
    def amount(self, obj: Entry) -> str:
        return f"{obj.amount_yen:+,}"


@admin.register(Transfer, site=staff_admin_site)
class TransferAdmin(ReadOnlyAdmin):
    """One business event and its entries. Corrections are reversing transfers, never edits (B07)."""

    list_display = ["created_at", "kind", "public_id", "description", "reverses", "created_by"]
    list_filter = ["kind", "created_at"]
    search_fields = ["public_id", "description", "entries__account__owner__email"]
    search_help_text = _("Search by transfer id, description or a wallet owner's email.")
    list_select_related = ["reverses", "created_by"]
    ordering = ["-id"]
    inlines = [EntryInline]


@admin.register(Entry, site=staff_admin_site)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "transfer", "account", "amount"]
    list_filter = ["account__kind", "created_at"]
    search_fields = ["account__code", "account__owner__email"]
    search_help_text = _("Search by account code or the wallet owner's email.")
    list_select_related = ["transfer", "account"]
    ordering = ["-id"]

    @admin.display(description=_("amount"), ordering="amount_yen")
    def amount(self, obj: Entry) -> str:
        return f"{obj.amount_yen:+,}"


# --- Top-ups and payments ------------------------------------------------------------


@admin.register(TopUp, site=staff_admin_site)
class TopUpAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "channel", "amount", "status", "failure_code", "risk"]
    list_filter = ["status", "channel", "created_at"]
    search_fields = ["user__email", "public_id", "gateway_charge_id"]
    search_help_text = _("Search by customer email, top-up id or gateway charge id.")
    date_hierarchy = "created_at"
    list_select_related = ["user", "risk_decision"]
    ordering = ["-created_at"]

    @admin.display(description=_("amount"), ordering="amount_yen")
    def amount(self, obj: TopUp) -> str:
        return yen(obj.amount_yen)

    @admin.display(description=_("risk"))
    def risk(self, obj: TopUp) -> str:
        return obj.risk_decision.get_outcome_display() if obj.risk_decision else "—"


class PaymentRefundInline(admin.TabularInline):  # type: ignore[type-arg]
    model = PaymentRefund
    fields = readonly_fields = ("created_at", "amount_yen", "terminal", "transfer")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Payment, site=staff_admin_site)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "merchant", "terminal", "amount", "refunded", "status", "risk"]
    list_filter = ["status", "merchant", "created_at"]
    search_fields = ["user__email", "public_id", "merchant__name", "description"]
    search_help_text = _("Search by customer email, payment id, merchant or description.")
    date_hierarchy = "created_at"
    list_select_related = ["user", "merchant", "terminal__merchant", "risk_decision"]
    ordering = ["-created_at"]
    inlines = [PaymentRefundInline]

    @admin.display(description=_("amount"), ordering="amount_yen")
    def amount(self, obj: Payment) -> str:
        return yen(obj.amount_yen)

    @admin.display(description=_("refunded"))
    def refunded(self, obj: Payment) -> str:
        return yen(obj.refunded_yen)

    @admin.display(description=_("risk"))
    def risk(self, obj: Payment) -> str:
        return obj.risk_decision.get_outcome_display() if obj.risk_decision else "—"


@admin.register(PaymentRefund, site=staff_admin_site)
class PaymentRefundAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "payment", "terminal", "amount"]
    list_filter = ["created_at"]
    search_fields = ["payment__user__email", "public_id", "payment__public_id"]
    search_help_text = _("Search by customer email, refund id or payment id.")
    list_select_related = ["payment", "terminal__merchant"]
    ordering = ["-created_at"]

    @admin.display(description=_("amount"), ordering="amount_yen")
    def amount(self, obj: PaymentRefund) -> str:
        return yen(obj.amount_yen)


# --- Merchants and terminals -------------------------------------------------------------


class NoAddNoDeleteMixin:
    """Created by their services (which hand out keys once); closed, never deleted."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Merchant, site=staff_admin_site)
class MerchantAdmin(NoAddNoDeleteMixin, AuditedAdmin):
    list_display = ["name", "code", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "code"]
    fields = ["name", "code", "is_active", "created_at"]
    readonly_fields = ["code", "created_at"]


@admin.register(Terminal, site=staff_admin_site)
class TerminalAdmin(NoAddNoDeleteMixin, AuditedAdmin):
    """The key is shown once, when the terminal is created; here only its prefix."""

    list_display = ["name", "merchant", "kind", "key_prefix", "is_active", "last_used_at"]
    list_filter = ["kind", "is_active", "merchant"]
    search_fields = ["name", "merchant__name", "key_prefix"]
    fields = ["merchant", "name", "kind", "key_prefix", "is_active", "created_at", "last_used_at"]
    readonly_fields = ["merchant", "kind", "key_prefix", "created_at", "last_used_at"]
    list_select_related = ["merchant"]


# --- Cards, freezes, reports ---------------------------------------------------------------


@admin.register(Card, site=staff_admin_site)
class CardAdmin(ReadOnlyAdmin):
    """Brand, last four and expiry only (P02). "Other wallets" counts where the
    same card (by the gateway's fingerprint) is active too."""

    list_display = ["user", "card", "expiry", "funding", "status", "other_wallets", "created_at"]
    list_filter = ["status", "funding", "brand"]
    search_fields = ["user__email", "=last4"]
    search_help_text = _("Search by customer email or the card's last four digits.")
    fields = readonly_fields = ("user", "card", "expiry", "funding", "status", "other_wallets", "created_at", "removed_at")
    list_select_related = ["user"]
    ordering = ["-created_at"]

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Card]:
        others = (
            Card.objects.filter(fingerprint=OuterRef("fingerprint"), status=Card.Status.ACTIVE)
            .exclude(user_id=OuterRef("user_id"))
            .order_by()
            .values("fingerprint")
            .annotate(n=Count("user_id", distinct=True))
            .values("n")
        )
        return super().get_queryset(request).annotate(other_wallet_count=Coalesce(Subquery(others, output_field=IntegerField()), 0))

    @admin.display(description=_("card"))
    def card(self, obj: Card) -> str:
        return f"{obj.brand} •••• {obj.last4}"

    @admin.display(description=_("expiry"))
    def expiry(self, obj: Card) -> str:
        return f"{obj.exp_month:02d}/{obj.exp_year}"

    @admin.display(description=_("other wallets with this card"), ordering="other_wallet_count")
    def other_wallets(self, obj: Card) -> int:
        return int(getattr(obj, "other_wallet_count", 0))


@admin.register(AccountFreeze, site=staff_admin_site)
class AccountFreezeAdmin(ReadOnlyAdmin):
    list_display = ["user", "scope", "source", "reason", "set_by", "created_at", "expires_at", "lifted_at"]
    list_filter = ["scope", "source", ("lifted_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["user__email", "reason"]
    list_select_related = ["user", "set_by"]
    ordering = ["-created_at"]


@admin.register(TransactionReport, site=staff_admin_site)
class TransactionReportAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "transfer", "status", "wallet_locked"]
    list_filter = ["status", "wallet_locked", "created_at"]
    search_fields = ["user__email", "note", "transfer__public_id"]
    date_hierarchy = "created_at"
    list_select_related = ["user", "transfer"]
    ordering = ["-created_at"]
