from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.models import Device, ThrottlingMixin

from .users import User


def secret_digest(value: str, *, purpose: str) -> str:
    """Keyed SHA-256 of a high-entropy one-time secret (backup code, SMS code, API token).

    A slow password hash is not needed: these secrets are random, short-lived or
    single-use, and rate-limited; the key keeps a database dump from being
    enough to test guesses offline.
    """
    key = f"{settings.SECRET_KEY}:{purpose}".encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


class BackupCodeDevice(ThrottlingMixin, Device):
    """Ten single-use recovery codes (A08): CSPRNG, stored only as digests, shown once.

    django-otp's own static-token plugin stores codes in clear text, hence this device.
    """

    class Meta:
        verbose_name = _("backup code set")

    def get_throttle_factor(self) -> int:
        return int(settings.OTP_TOTP_THROTTLE_FACTOR)

    def verify_token(self, token: object) -> bool:
        code = "".join(str(token or "").split()).replace("-", "").lower()
        if not code:
            return False
        verify_allowed, _unused = self.verify_is_allowed()
        if not verify_allowed:
            return False
        digest = secret_digest(code, purpose="backup-code")
        with transaction.atomic():
            # The row lock makes "used once" hold for two parallel requests (A06).
            match = self.codes.select_for_update().filter(code_digest=digest, used_at__isnull=True).first()
            if match is None:
                self.throttle_increment()
                return False
            match.used_at = timezone.now()
            match.save(update_fields=["used_at"])
        self.throttle_reset()
        return True

    @property
    def remaining(self) -> int:
        return self.codes.filter(used_at__isnull=True).count()


class BackupCode(models.Model):
    device = models.ForeignKey(BackupCodeDevice, on_delete=models.CASCADE, related_name="codes")
    code_digest = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device", "code_digest"], name="backup_code_unique_in_set")]

    def __str__(self) -> str:
        return f"backup code #{self.pk}"


class PhoneVerification(models.Model):
    """A six-digit SMS code proving control of a phone number, used once."""

    class Purpose(models.TextChoices):
        SIGNUP = "signup", _("Sign-up")
        PHONE_CHANGE = "phone_change", _("Phone change")
        RECOVERY = "recovery", _("Account recovery")

    MAX_ATTEMPTS = 5

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="phone_verifications")
    phone = models.CharField(max_length=16)
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    code_digest = models.CharField(max_length=64)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "purpose", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.purpose} code for {self.user_id}"

    @property
    def is_usable(self) -> bool:
        return self.used_at is None and self.attempts < self.MAX_ATTEMPTS and self.expires_at > timezone.now()


class ApiToken(models.Model):
    """A revocable bearer token for the customer app. Only the digest is stored.

    ``second_factor_at`` is set when the token was issued after a verified second
    factor (or later upgraded by one); money endpoints require it. ``step_up_at``
    records the last fresh code presented with this token (S04).
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    key_digest = models.CharField(max_length=64, unique=True)
    key_prefix = models.CharField(max_length=8)
    label = models.CharField(max_length=100, blank=True)
    device = models.ForeignKey("wallet.KnownDevice", null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    second_factor_at = models.DateTimeField(null=True, blank=True)
    step_up_at = models.DateTimeField(null=True, blank=True)
    # A13: a limited token may enrol the first factor only after proving the phone on record with it.
    contact_proven_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user"])]

    def __str__(self) -> str:
        return f"token {self.key_prefix}… of {self.user_id}"


class ContactProof(models.Model):
    """Proof that the person at the keyboard controls a contact on record (A13, A15):
    a six-digit code sent by SMS to the verified phone, or a link mailed to the
    verified email. It lets that session or token enrol the account's first second
    factor, or lifts the new-device code throttle for it. Only a digest is stored."""

    class Channel(models.TextChoices):
        SMS = "sms", _("SMS code to the phone on record")
        EMAIL = "email", _("Link to the email address on record")

    MAX_ATTEMPTS = 5

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="contact_proofs")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    secret_digest = models.CharField(max_length=64)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "channel", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.channel} contact proof for {self.user_id}"

    @property
    def is_usable(self) -> bool:
        return self.used_at is None and self.attempts < self.MAX_ATTEMPTS and self.expires_at > timezone.now()
