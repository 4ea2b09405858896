"""Refund claims: one per holder and programme, a guarded state machine with a
history row per change, and the payee details (bank account or postal address)
the customer gave. Corrections add a new details row; the old one is kept."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class RefundClaimQuerySet(models.QuerySet["RefundClaim"]):
    def live(self) -> RefundClaimQuerySet:
        """Claims that still stand: a rejected claim gave the money back and lets the holder claim again."""
        return self.exclude(state=RefundClaim.State.REJECTED)

    def live_for(self, *, programme: object, customer: object) -> RefundClaimQuerySet:
        """The holder's standing claim in the programme (at most one)."""
        return self.filter(programme=programme, customer=customer).live()


class RefundClaim(models.Model):
    class State(models.TextChoices):
        REVIEW = "review", _("Waiting for staff review")
        APPROVED = "approved", _("Approved, waiting for the next payout")
        SCHEDULED = "scheduled", _("In a payout batch")
        PAID = "paid", pgettext_lazy("claim state", "Paid")
        RETURNED = "returned", _("Returned by the bank: details to correct")
        REJECTED = "rejected", pgettext_lazy("claim state", "Rejected")

    class Route(models.TextChoices):
        LOGIN = "login", _("Logged in with the second factor")
        CONTACT = "contact", _("Proved the registered email and phone")
        STAFF = "staff", _("Filed by staff after the deadline")

    class Method(models.TextChoices):
        BANK = "bank", _("Bank transfer")
        POSTAL = "postal", _("Cash at a Japan Post counter")

    # Allowed moves; ``claim_state_set`` refuses anything else.
    TRANSITIONS: dict[str, tuple[str, ...]] = {
        "review": ("approved", "rejected"),
        "approved": ("scheduled", "review", "rejected"),
        "scheduled": ("paid", "returned"),
        "returned": ("approved", "review"),
        "paid": (),
        "rejected": (),
    }
    # A claim in one of these still holds the customer's money in refund_payable.
    OPEN_STATES = ("review", "approved", "scheduled", "returned")

    number = models.CharField(_("claim number"), max_length=16, unique=True)
    programme = models.ForeignKey("refunds.ShutdownProgramme", on_delete=models.PROTECT, related_name="claims", verbose_name=_("programme"))
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="refund_claims", verbose_name=_("customer")
    )
    route = models.CharField(_("route"), max_length=10, choices=Route.choices)
    method = models.CharField(_("method"), max_length=10, choices=Method.choices)
    amount_yen = models.BigIntegerField(_("amount (yen)"))
    state = models.CharField(_("state"), max_length=12, choices=State.choices)
    # Why the checks sent the claim to review (codes from ``refunds.services.checks``).
    hold_reasons = models.JSONField(_("review reasons"), default=list, blank=True)
    # The transfer that moved the balance from the wallet to refund_payable at claim time.
    transfer = models.OneToOneField("wallet.Transfer", on_delete=models.PROTECT, related_name="+", verbose_name=_("claim transfer"))
    # Name and birth date a contact-route claimant typed: supporting data for the reviewer, never proof (R05).
    stated_name = models.CharField(_("name given"), max_length=150, blank=True)
    stated_birth_date = models.DateField(_("birth date given"), null=True, blank=True)
    late = models.BooleanField(_("filed after the deadline"), default=False)
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("filed by staff")
    )
    created_at = models.DateTimeField(_("claimed at"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)

    objects = RefundClaimQuerySet.as_manager()

    class Meta:
        verbose_name = _("refund claim")
        verbose_name_plural = _("refund claims")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "method", "id"], name="claim_state_method")]
        constraints = [
            models.UniqueConstraint(fields=["programme", "customer"], condition=~Q(state="rejected"), name="claim_one_live_per_customer"),
            models.CheckConstraint(condition=Q(amount_yen__gt=0), name="claim_amount_positive"),
        ]
        permissions = [
            ("review_refundclaim", "Can approve or reject refund claims in review"),
            ("report_refundclaim", "Can see refund reports and export them"),
        ]

    def __str__(self) -> str:
        return f"{self.number} ¥{self.amount_yen:,} ({self.get_state_display()})"

    def can_move_to(self, state: str) -> bool:
        return state in self.TRANSITIONS.get(self.state, ())

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES


class ClaimEvent(models.Model):
    """History: one row per state change, correction or note. Never edited."""

    claim = models.ForeignKey(RefundClaim, on_delete=models.PROTECT, related_name="events", verbose_name=_("claim"))
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=32)
    from_state = models.CharField(max_length=12, blank=True)
    to_state = models.CharField(max_length=12, blank=True)
    note = models.TextField(_("note"), blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("claim event")
        verbose_name_plural = _("claim events")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["claim", "created_at"])]

    def __str__(self) -> str:
        return f"{timezone.localtime(self.created_at):%Y-%m-%d %H:%M} {self.kind} {self.from_state}→{self.to_state}"


def bank_account_fingerprint(*, bank_code: str, branch_code: str, account_number: str) -> str:
    """Keyed digest of one bank account, so 'several customers name one account' is
    one indexed lookup without comparing full numbers in SQL or logs."""
    message = f"{bank_code}:{branch_code}:{account_number}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


class BankDetails(models.Model):
    """A bank account a claim pays to, already in Zengin form (codes, 7-digit
    number, half-width kana name). The full number is kept because the payout
    file needs it (L02); pages show the last digits only."""

    class AccountType(models.IntegerChoices):
        ORDINARY = 1, _("Ordinary (普通)")
        CURRENT = 2, _("Current (当座)")
        SAVINGS = 4, _("Savings (貯蓄)")

    claim = models.ForeignKey(RefundClaim, on_delete=models.PROTECT, related_name="bank_details", verbose_name=_("claim"))
    bank_code = models.CharField(_("bank code"), max_length=4)
    bank_name = models.CharField(_("bank"), max_length=80)
    bank_name_kana = models.CharField(max_length=80, blank=True)
    branch_code = models.CharField(_("branch code"), max_length=3)
    branch_name = models.CharField(_("branch"), max_length=80)
    branch_name_kana = models.CharField(max_length=80, blank=True)
    account_type = models.PositiveSmallIntegerField(_("account type"), choices=AccountType.choices)
    account_number = models.CharField(_("account number"), max_length=7)
    holder_name = models.CharField(_("account holder (Zengin kana)"), max_length=30)
    fingerprint = models.CharField(max_length=64, db_index=True)
    # The ゆうちょ 記号・番号 the customer typed, when they gave those instead of a branch and number.
    yucho_kigou = models.CharField(max_length=5, blank=True)
    yucho_bangou = models.CharField(max_length=8, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("bank details")
        verbose_name_plural = _("bank details")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["claim"], condition=Q(superseded_at__isnull=True), name="bank_details_one_current_per_claim")
        ]

    def __str__(self) -> str:
        return f"{self.bank_code}-{self.branch_code} ****{self.account_number[-3:]} {self.holder_name}"

    @property
    def masked_number(self) -> str:
        return "****" + self.account_number[-3:]


class PostalDetails(models.Model):
    """Where Japan Post mails the cash certificate (払出証書)."""

    claim = models.ForeignKey(RefundClaim, on_delete=models.PROTECT, related_name="postal_details", verbose_name=_("claim"))
    name = models.CharField(_("name"), max_length=150)
    name_kana = models.CharField(_("name in kana"), max_length=150, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=8)
    address = models.CharField(_("address"), max_length=300)
    created_at = models.DateTimeField(default=timezone.now)
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("postal details")
        verbose_name_plural = _("postal details")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["claim"], condition=Q(superseded_at__isnull=True), name="postal_details_one_current_per_claim")
        ]

    def __str__(self) -> str:
        return f"〒{self.postal_code} {self.name}"
