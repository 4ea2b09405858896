"""Staff accounts: creation without a password anyone else sees (R07) and the
first-login enrolment of the staff member's own second factor (A05)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from wallet.models import User
from wallet.request_meta import RequestMeta
from wallet.services.notifications import notification_enqueue
from wallet.services.second_factor import totp_device_confirm, totp_device_start

from .audit import staff_action_record

STAFF_ENROLMENT_WINDOW = timedelta(hours=72)


def staff_enrolment_is_open(user: User) -> bool:
    """A staff member may enrol a first TOTP device only inside the window a superuser
    (or ``seed_demo``) opened, and only while they have none confirmed."""
    window = user.staff_enrollment_open_until
    return bool(
        user.is_staff
        and user.is_active
        and user.status == User.Status.ACTIVE
        and window is not None
        and window > timezone.now()
        and not TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    )


def staff_enrolment_begin(*, user: User) -> TOTPDevice:
    """A fresh unconfirmed device for the enrolment page. Refuses a closed window."""
    if not staff_enrolment_is_open(user):
        raise PermissionError("enrolment is not open for this account")
    return totp_device_start(user=user)


def staff_enrolment_complete(*, user: User, device_id: int, code: str, meta: RequestMeta) -> TOTPDevice | None:
    """Confirm the device with its first code, close the window and audit, in one transaction."""
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if not staff_enrolment_is_open(locked):
            return None
        device = totp_device_confirm(user=locked, device_id=device_id, code=code, meta=meta)
        if device is None:
            return None
        locked.staff_enrollment_open_until = None
        locked.save(update_fields=["staff_enrollment_open_until"])
        user.staff_enrollment_open_until = None
        staff_action_record(
            acting_user=locked,
            action="staff.factor_enrolled",
            target=locked,
            after={"device": "totp"},
            ip=meta.ip,
        )
    return device


def staff_enrolment_window_open(*, user: User, acting_user: User, ip: str | None = None) -> User:
    """A superuser lets a staff member (new, or one who lost their device) enrol a factor."""
    if not acting_user.is_superuser:
        raise PermissionError("only a superuser can open an enrolment window")
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        before = locked.staff_enrollment_open_until
        locked.staff_enrollment_open_until = timezone.now() + STAFF_ENROLMENT_WINDOW
        locked.save(update_fields=["staff_enrollment_open_until"])
        staff_action_record(
            acting_user=acting_user,
            action="staff.enrolment_opened",
            target=locked,
            before={"open_until": before.isoformat() if before else None},
            after={"open_until": locked.staff_enrollment_open_until.isoformat()},
            ip=ip,
        )
    return locked


def staff_user_create(
    *,
    acting_user: User,
    email: str,
    full_name: str,
    groups: list[Group],
    ip: str | None = None,
) -> User:
    """Create a staff account with no usable password (R07: nobody chooses or sees it).

    The new staff member receives a password-reset mail at the address, sets their
    own password, then enrols a TOTP device at /staff/enrol/ within the window.
    """
    if not acting_user.is_superuser:
        raise PermissionError("only a superuser can create staff accounts")
    with transaction.atomic():
        user = User.objects.create_user(
            email,
            None,
            full_name=full_name,
            is_staff=True,
            email_verified_at=timezone.now(),
            staff_enrollment_open_until=timezone.now() + STAFF_ENROLMENT_WINDOW,
        )
        user.groups.set(groups)
        staff_action_record(
            acting_user=acting_user,
            action="staff.created",
            target=user,
            after={"email": user.email, "groups": sorted(g.name for g in groups)},
            ip=ip,
        )
        notification_enqueue(user=user, kind="password_reset")
    return user
