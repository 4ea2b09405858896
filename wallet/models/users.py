from __future__ import annotations

import unicodedata
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def normalize_email(raw: str) -> str:
    """The one canonical form of an address, used for storage and every lookup.

    NFKC folds full-width and compatibility characters onto ASCII, then the whole
    address is lower-cased. Anything still outside ASCII is refused (see
    ``validate_ascii_email``) so two visually identical addresses in different
    scripts can never both exist or match each other (R01).
    """
    return unicodedata.normalize("NFKC", raw or "").strip().lower()


def validate_ascii_email(value: str) -> None:
    if not value.isascii():
        raise ValidationError(_("Use an address written in ASCII letters, digits and symbols."), code="non_ascii")


def default_language() -> str:
    return settings.LANGUAGE_CODE


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email=normalize_email(username or ""))

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        email = normalize_email(email)
        validate_ascii_email(email)
        user = self.model(email=email, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("email_verified_at", timezone.now())
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):  # type: ignore[django-manager-missing]
    """Customers and staff. Email is the login; the stored value is already normalised."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        FROZEN = "frozen", _("Frozen")
        CLOSED = "closed", _("Closed")

    email = models.EmailField(_("email address"), max_length=254, unique=True, validators=[validate_ascii_email])
    full_name = models.CharField(_("full name"), max_length=150, blank=True)
    name_kana = models.CharField(_("name in kana"), max_length=150, blank=True)
    phone = models.CharField(_("phone (E.164)"), max_length=16, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    email_verified_at = models.DateTimeField(_("email verified at"), null=True, blank=True)
    phone_verified_at = models.DateTimeField(_("phone verified at"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    is_staff = models.BooleanField(_("staff status"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)
    # Sessions and API tokens created before this instant are dead (S02).
    credentials_changed_at = models.DateTimeField(_("credentials changed at"), default=timezone.now)
    # Set by a staff or mass reset: the next login is guided to the reset flow.
    must_reset_password = models.BooleanField(_("must reset password"), default=False)
    # A staff member may enrol their first second factor only while this is in the future.
    staff_enrollment_open_until = models.DateTimeField(_("staff enrolment open until"), null=True, blank=True)
    preferred_language = models.CharField(_("preferred language"), max_length=8, default=default_language)
    # A13: a first second factor added to an account that already existed without one
    # (not the sign-up enrolment) caps and reviews money leaving the wallet until then.
    factor_cooling_off_until = models.DateTimeField(_("new second factor cooling-off until"), null=True, blank=True)

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = ["full_name"]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        indexes = [models.Index(fields=["date_joined"]), models.Index(fields=["status"])]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = normalize_email(self.email)

    @property
    def is_fully_verified(self) -> bool:
        return self.email_verified_at is not None and self.phone_verified_at is not None

    def is_verified(self) -> bool:
        """Replaced per request by django-otp's middleware; outside a request nothing is verified."""
        return False

    def get_full_name(self) -> str:
        return self.full_name

    def get_short_name(self) -> str:
        return self.full_name or self.email


class KnownDevice(models.Model):
    """A browser or app install that has completed a login with the second factor.

    Identified by a random id in a signed long-lived cookie; only its SHA-256 is
    stored. A known device is exempt from the per-account lockout (OWASP's
    device-cookie design), so an attacker guessing passwords elsewhere cannot lock
    the owner out.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="devices")
    device_digest = models.CharField(max_length=64)
    label = models.CharField(max_length=200, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    last_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("known device")
        verbose_name_plural = _("known devices")
        constraints = [models.UniqueConstraint(fields=["user", "device_digest"], name="known_device_unique_per_user")]

    def __str__(self) -> str:
        return f"{self.label or 'device'} ({self.user_id})"


class UserSession(models.Model):
    """Index of a user's web sessions so they can be listed and ended (S02, S03)."""

    session_key = models.CharField(max_length=40, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="web_sessions")
    device = models.ForeignKey(KnownDevice, null=True, blank=True, on_delete=models.SET_NULL)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("web session")
        verbose_name_plural = _("web sessions")
        indexes = [models.Index(fields=["user", "ended_at"])]

    def __str__(self) -> str:
        return f"session of {self.user_id} from {self.ip}"


class AuthEvent(models.Model):
    """L01: who, what, when, from where, for every authentication event. Never a secret."""

    class Kind(models.TextChoices):
        LOGIN_SUCCEEDED = "login_succeeded", _("Login succeeded")
        LOGIN_FAILED = "login_failed", _("Login failed")
        LOGIN_LOCKED = "login_locked", _("Login refused: locked")
        SECOND_FACTOR_SUCCEEDED = "otp_succeeded", _("Second factor accepted")
        SECOND_FACTOR_FAILED = "otp_failed", _("Second factor refused")
        STEP_UP = "step_up", _("Step-up verification")
        LOGOUT = "logout", _("Logout")
        NEW_DEVICE = "new_device", _("Login from a new device")
        SIGNUP = "signup", _("Sign-up")
        EMAIL_VERIFIED = "email_verified", _("Email verified")
        PHONE_VERIFIED = "phone_verified", _("Phone verified")
        PASSWORD_CHANGED = "password_changed", _("Password changed")
        PASSWORD_RESET_REQUESTED = "reset_requested", _("Password reset requested")
        PASSWORD_RESET_COMPLETED = "reset_completed", _("Password reset completed")
        FACTOR_ADDED = "factor_added", _("Second factor added")
        FACTOR_REMOVED = "factor_removed", _("Second factor removed")
        EMAIL_CHANGED = "email_changed", _("Email changed")
        PHONE_CHANGED = "phone_changed", _("Phone changed")
        SESSIONS_ENDED = "sessions_ended", _("Other sessions ended")
        ACCESS_DENIED = "access_denied", _("Access denied")
        UNLOCK_LINK_USED = "unlock_used", _("Unlock link used")
        CONTACT_PROVEN = "contact_proven", _("Contact on record proven")
        CONTACT_PROOF_FAILED = "contact_proof_failed", _("Contact proof refused")
        FACTOR_ENROLMENT_REFUSED = "factor_refused", _("Second factor enrolment refused")
        NOT_ME_REPORTED = "not_me", _("Owner reported a change as not theirs")

    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="auth_events")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    # What the client claimed to be, for failures against unknown accounts.
    claimed_identifier = models.CharField(max_length=254, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    channel = models.CharField(max_length=10, default="web")  # web or api
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("authentication event")
        verbose_name_plural = _("authentication events")
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.user_id or self.claimed_identifier} {self.created_at:%Y-%m-%d %H:%M}"
