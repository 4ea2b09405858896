"""Shared fixtures. Tests always run on PostgreSQL and Redis; a missing one is a clear failure."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from importlib import import_module

import pyotp
import pytest
from django.apps import apps as django_apps
from django.core.cache import cache
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from scripts.check_services import reachable
from wallet.models import User


def pytest_sessionstart(session: pytest.Session) -> None:
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    problems = []
    if not database_url.startswith("postgres"):
        problems.append("DATABASE_URL must point at PostgreSQL (run the suite with `make test`).")
    elif not reachable(database_url, 5432):
        problems.append(
            f"PostgreSQL is not reachable at {database_url}. Start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`."
        )
    if not redis_url:
        problems.append("REDIS_URL must be set (run the suite with `make test`).")
    elif not reachable(redis_url, 6379):
        problems.append(
            f"Redis is not reachable at {redis_url}. Start it with "
            '`redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no`.'
        )
    if problems:
        pytest.exit("\n".join(problems), returncode=3)


def reference_data_restore() -> None:
    """Write again the rows the data migrations create (channel switches, system
    accounts, default limits, default risk rules, staff roles with their permissions).

    A ``transaction=True`` test ends with a flush that empties every table, so the
    next one would start without them. ``serialized_rollback`` cannot help: the
    flush's post_migrate recreates content types under new ids and restoring the
    serialized ones collides. The data steps are idempotent, so re-running them does.
    """
    import_module("wallet.migrations.0002_channel_switch_rows").create_rows(django_apps, None)
    import_module("wallet.migrations.0004_ledger_rules").rows_forward(django_apps, None)
    import_module("wallet.migrations.0005_default_risk_rules").forward(django_apps, None)
    import_module("wallet.migrations.0008_payout_clearing").create_rows(django_apps, None)
    # The staff roles and their permissions (backoffice's grant migrations, in order).
    import_module("backoffice.migrations.0004_staff_groups").forward(django_apps, None)
    for grants in ("0005_money_permissions", "0006_approvals", "0007_freeze_permissions", "0009_incident_permissions"):
        import_module(f"backoffice.migrations.{grants}").grant(django_apps, None)
    import_module("refunds.migrations.0002_role_permissions").grant(django_apps, None)
    import_module("refunds.migrations.0003_payout_schedule").schedule_create(django_apps, None)
    from wallet.services.risk import risk_rules_cache_clear

    risk_rules_cache_clear()


@pytest.fixture(autouse=True)
def _reference_data(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("django_db")
    if (marker is not None and marker.kwargs.get("transaction")) or "transactional_db" in request.fixturenames:
        request.getfixturevalue("transactional_db")
        reference_data_restore()


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def totp_for(device: TOTPDevice) -> pyotp.TOTP:
    """An independent TOTP implementation computing codes from the device's secret."""
    return pyotp.TOTP(base64.b32encode(device.bin_key).decode())


def make_customer(email: str = "hanako@example.jp", password: str = "correct horse battery staple", **extra: object) -> User:
    now = timezone.now()
    defaults: dict[str, object] = {
        "full_name": "山田 花子",
        "name_kana": "ヤマダ ハナコ",
        "phone": "+819012345678",
        "email_verified_at": now,
        "phone_verified_at": now,
    }
    defaults.update(extra)
    return User.objects.create_user(email, password, **defaults)


def enrol_totp(user: User) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True, tolerance=1)


@pytest.fixture
def password() -> str:
    return "correct horse battery staple"


@pytest.fixture
def customer(db: None) -> User:
    return make_customer()


@pytest.fixture
def customer_totp(customer: User) -> TOTPDevice:
    return enrol_totp(customer)
