"""The route for holders who cannot log in: proving control of the email address
and phone number on record (a link to the one, an SMS code to the other).

Nothing a person types chooses where the link or code goes: both go to what
the account already has (R01). Name and birth date are asked only as
supporting data for the reviewer, never as proof (R05)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

CONTACT_PROOF_LIFETIME = timedelta(minutes=30)
CONTACT_CODE_ATTEMPTS_MAX = 5


def contact_proof_default_expiry() -> datetime:
    return timezone.now() + CONTACT_PROOF_LIFETIME


class ContactProof(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # Binds the proof to the browser that asked: the session's key digest.
    session_digest = models.CharField(max_length=64)
    email_token_digest = models.CharField(max_length=64, unique=True)
    sms_code_digest = models.CharField(max_length=64)
    email_proved_at = models.DateTimeField(null=True, blank=True)
    phone_proved_at = models.DateTimeField(null=True, blank=True)
    code_attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(default=contact_proof_default_expiry)

    class Meta:
        verbose_name = _("contact proof")
        verbose_name_plural = _("contact proofs")
        indexes = [models.Index(fields=["user", "created_at"])]

    def __str__(self) -> str:
        return f"contact proof {self.pk} of {self.user_id}"

    @property
    def is_complete(self) -> bool:
        return self.email_proved_at is not None and self.phone_proved_at is not None and self.used_at is None
