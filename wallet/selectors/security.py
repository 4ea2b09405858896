"""Reads of the security page: login history, sessions, devices, second factors."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django_otp.plugins.otp_totp.models import TOTPDevice

from ..models import ApiToken, AuthEvent, BackupCodeDevice, KnownDevice, User, UserSession

LOGIN_HISTORY_LIMIT = 50


def login_history(*, user: User, limit: int = LOGIN_HISTORY_LIMIT) -> list[AuthEvent]:
    """The user's last authentication events, newest first."""
    return list(AuthEvent.objects.filter(user=user).order_by("-created_at", "-id")[:limit])


def active_sessions(*, user: User) -> QuerySet[UserSession]:
    return UserSession.objects.filter(user=user, ended_at__isnull=True).select_related("device").order_by("-last_seen_at", "-id")


def api_tokens(*, user: User) -> QuerySet[ApiToken]:
    """The customer app's live sign-ins (S07), newest use first."""
    return ApiToken.objects.filter(user=user).select_related("device").order_by("-last_used_at", "-created_at", "-id")


def known_devices(*, user: User) -> QuerySet[KnownDevice]:
    return KnownDevice.objects.filter(user=user, revoked_at__isnull=True).order_by("-last_seen_at", "-id")


@dataclass(frozen=True)
class FactorSummary:
    totp_devices: list[TOTPDevice]
    backup_device: BackupCodeDevice | None
    backup_remaining: int


def second_factor_summary(*, user: User) -> FactorSummary:
    totp = list(TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk"))
    backup = BackupCodeDevice.objects.filter(user=user, confirmed=True).first()
    return FactorSummary(totp_devices=totp, backup_device=backup, backup_remaining=backup.remaining if backup else 0)
