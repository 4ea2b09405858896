"""Maker-checker approvals (B04). Fraud analysts and supervisors see approvals
(they request channel re-enables from the switch page); only supervisors hold
``check_approval``, the right to approve or reject someone else's request.
"""


import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from backoffice.migrations._grants import role_grants

import backoffice.models

ADDED = {
    "fraud_analyst": ["backoffice.view_approval"],
    "supervisor": ["backoffice.view_approval", "backoffice.check_approval"],
}


grant, revoke = role_grants(ADDED)


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0005_money_permissions"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Approval",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("channel_enable", "Turn a channel back on"),
                            ("unfreeze", "Unfreeze an account"),
                            ("compensation", "Compensation"),
                            ("mass_reset", "Mass password reset"),
                            ("payout_release", "Release a payout file"),
                            ("late_claim", "Late refund claim"),
                            ("ledger_correction", "Ledger correction"),
                            ("factor_reset", "Second-factor reset"),
                        ],
                        max_length=32,
                        verbose_name="kind",
                    ),
                ),
                ("payload", models.JSONField(blank=True, default=dict, verbose_name="details")),
                ("reason", models.TextField(verbose_name="reason")),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("pending", "Waiting for approval"),
                            ("approved", "Approved"),
                            ("rejected", "Rejected"),
                            ("expired", "Expired"),
                        ],
                        default="pending",
                        max_length=16,
                        verbose_name="state",
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now, verbose_name="requested at")),
                ("expires_at", models.DateTimeField(default=backoffice.models.approval_default_expiry, verbose_name="expires at")),
                ("decided_at", models.DateTimeField(blank=True, null=True, verbose_name="decided at")),
                ("decision_note", models.TextField(blank=True, verbose_name="decision note")),
                ("executed_at", models.DateTimeField(blank=True, null=True, verbose_name="carried out at")),
                (
                    "checker",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="approvals_checked",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="decided by",
                    ),
                ),
                (
                    "maker",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="approvals_made",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="requested by",
                    ),
                ),
            ],
            options={
                "verbose_name": "approval",
                "verbose_name_plural": "approvals",
                "ordering": ["-created_at", "-id"],
                "permissions": [("check_approval", "Can approve or reject another person's request")],
                "indexes": [models.Index(fields=["state", "created_at"], name="backoffice__state_cb9a5f_idx")],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("checker__isnull", True), models.Q(("checker", models.F("maker")), _negated=True), _connector="OR"
                        ),
                        name="approval_checker_is_not_maker",
                    )
                ],
            },
        ),
        migrations.RunPython(grant, revoke),
    ]
