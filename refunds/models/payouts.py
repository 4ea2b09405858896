"""Payout batches and payouts.

A batch gathers approved claims of one method; a bank batch is written as one
総合振込 file kept with its SHA-256, released only after a second finance
user approves, and delivered through the bank-delivery adapter. A payout is one
claim's money in one batch; customer code 1 of its Zengin record is its id, so
the bank's results come back to it. At most one live payout per claim (a
partial unique index), so no failure can pay a claim twice.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class PayoutBatch(models.Model):
    class Method(models.TextChoices):
        BANK = "bank", _("Bank transfer (総合振込)")
        POSTAL = "postal", _("Japan Post cash certificates")

    class State(models.TextChoices):
        AWAITING_RELEASE = "awaiting_release", _("Built, waiting for release")
        RELEASE_REQUESTED = "release_requested", _("Release waiting for a second person")
        RELEASED = "released", _("Released, being delivered")
        DELIVERED = "delivered", _("Delivered")
        CANCELLED = "cancelled", pgettext_lazy("batch state", "Cancelled")

    method = models.CharField(_("method"), max_length=10, choices=Method.choices)
    state = models.CharField(_("state"), max_length=20, choices=State.choices, default=State.AWAITING_RELEASE)
    transfer_date = models.DateField(_("transfer date"))
    payout_count = models.PositiveIntegerField(_("payouts"), default=0)
    total_yen = models.BigIntegerField(_("total (yen)"), default=0)
    file_name = models.CharField(_("file name"), max_length=100, blank=True)
    # The file as it leaves for the bank (cp932 Zengin records) or Japan Post (UTF-8 CSV), written once.
    file_content = models.BinaryField(_("file"), editable=False)
    file_sha256 = models.CharField(_("SHA-256"), max_length=64)
    built_by_task = models.CharField(max_length=64, blank=True)
    # The finance user who pressed "build a batch now"; empty for the scheduled job.
    built_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("built by")
    )
    built_at = models.DateTimeField(_("built at"), default=timezone.now)
    release_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("release requested by")
    )
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("released by")
    )
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    # The maker-checker request of the latest release attempt. A rejected or expired one leaves the
    # batch waiting for release again (there is no on-reject hook; readers treat it as awaiting release).
    release_approval = models.ForeignKey(
        "backoffice.Approval", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("release approval")
    )
    # The ledger transfer refund_payable → payout_clearing, posted at release.
    transfer = models.OneToOneField("wallet.Transfer", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    delivery_reference = models.CharField(_("delivery reference"), max_length=200, blank=True)
    delivery_attempts = models.PositiveSmallIntegerField(default=0)
    last_delivery_error = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = _("payout batch")
        verbose_name_plural = _("payout batches")
        ordering = ["-built_at", "-id"]
        constraints = [
            # The delivery adapter refuses a second file under one name, so every batch has its own.
            models.UniqueConstraint(fields=["file_name"], condition=~Q(file_name=""), name="payout_batch_file_name_once"),
        ]
        indexes = [models.Index(fields=["state", "id"], name="payout_batch_state")]
        permissions = [
            ("release_payoutbatch", "Can request or approve the release of a payout file"),
            ("download_payoutbatch", "Can download a payout file"),
            ("import_payoutresults", "Can import the bank's payout results"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_method_display()} {self.transfer_date:%Y-%m-%d} ({self.payout_count} / ¥{self.total_yen:,})"


class Payout(models.Model):
    class State(models.TextChoices):
        SCHEDULED = "scheduled", _("In a batch")
        SENT = "sent", _("Sent")
        PAID = "paid", pgettext_lazy("payout state", "Paid")
        RETURNED = "returned", _("Returned")
        CANCELLED = "cancelled", pgettext_lazy("payout state", "Cancelled")

    # Zengin new-code: 1 the first transfer to these details, 2 details changed after a return.
    class NewCode(models.IntegerChoices):
        FIRST = 1, _("First transfer")
        CHANGED = 2, _("Changed details")

    LIVE_STATES = ("scheduled", "sent", "paid")

    batch = models.ForeignKey(PayoutBatch, on_delete=models.PROTECT, related_name="payouts", verbose_name=_("batch"))
    claim = models.ForeignKey("refunds.RefundClaim", on_delete=models.PROTECT, related_name="payouts", verbose_name=_("claim"))
    bank_details = models.ForeignKey("refunds.BankDetails", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    postal_details = models.ForeignKey("refunds.PostalDetails", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    amount_yen = models.BigIntegerField(_("amount (yen)"))
    new_code = models.PositiveSmallIntegerField(_("new-code"), choices=NewCode.choices, default=NewCode.FIRST)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.SCHEDULED)
    result_reason = models.CharField(_("bank's reason"), max_length=200, blank=True)
    result_at = models.DateTimeField(_("result at"), null=True, blank=True)
    # The ledger transfer payout_clearing → refund_payable when the bank returned the money.
    return_transfer = models.OneToOneField("wallet.Transfer", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # The results file that reported this payout paid or returned.
    result_import = models.ForeignKey(
        "refunds.PayoutResultImport",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payouts",
        verbose_name=_("results file"),
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("payout")
        verbose_name_plural = _("payouts")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["claim"], condition=Q(state__in=["scheduled", "sent", "paid"]), name="payout_one_live_per_claim"
            ),
            models.CheckConstraint(condition=Q(amount_yen__gt=0), name="payout_amount_positive"),
            # Customer code 1 is ten digits.
            models.CheckConstraint(condition=Q(id__lt=10_000_000_000), name="payout_id_fits_customer_code"),
        ]
        indexes = [models.Index(fields=["batch", "id"])]

    def __str__(self) -> str:
        return f"payout {self.pk} ¥{self.amount_yen:,} ({self.get_state_display()})"


class PayoutResultImport(models.Model):
    """One imported results file from the bank; importing the same file twice changes nothing."""

    file_sha256 = models.CharField(max_length=64, unique=True)
    file_name = models.CharField(max_length=200, blank=True)
    rows = models.PositiveIntegerField(default=0)
    paid = models.PositiveIntegerField(default=0)
    returned = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    paid_yen = models.BigIntegerField(default=0)
    returned_yen = models.BigIntegerField(default=0)
    # The file as finance uploaded it, kept as the evidence of what the bank reported.
    content = models.BinaryField(default=b"", editable=False)
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("payout results import")
        verbose_name_plural = _("payout results imports")
        ordering = ["-imported_at", "-id"]

    def __str__(self) -> str:
        return f"{self.file_name or self.file_sha256[:12]} ({self.rows} rows)"


class BankMasterOverride(models.Model):
    """A correction staff make to the third-party Zengin master (``zengin-code``): a
    bank or branch it lacks or names wrongly, or one that has closed. Blank
    ``branch_code`` means the bank itself."""

    bank_code = models.CharField(_("bank code"), max_length=4)
    branch_code = models.CharField(_("branch code"), max_length=3, blank=True)
    name = models.CharField(_("name"), max_length=80, blank=True)
    kana = models.CharField(_("name in kana"), max_length=80, blank=True)
    closed = models.BooleanField(_("closed: refuse it"), default=False)
    note = models.CharField(_("note"), max_length=200, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("bank master correction")
        verbose_name_plural = _("bank master corrections")
        constraints = [models.UniqueConstraint(fields=["bank_code", "branch_code"], name="bank_override_once")]

    def __str__(self) -> str:
        return f"{self.bank_code}{'-' + self.branch_code if self.branch_code else ''} {self.name}"
