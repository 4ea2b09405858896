"""Shared fixtures. Tests always run on PostgreSQL and Redis; a missing one is a clear failure."""

from __future__ import annotations

import os
from collections.abc import Iterator
from importlib import import_module

import pytest
from django.apps import apps as django_apps
from django.core.cache import cache
from django_otp.plugins.otp_totp.models import TOTPDevice

from scripts.check_services import reachable
from tests.factories import enrol_totp, make_customer, totp_for
from wallet.models import User

# The builders live in tests/factories; these names stay importable from here for older tests.
__all__ = ["enrol_totp", "make_customer", "totp_for"]


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


# Under pytest-xdist (`-n 2` in pyproject.toml) each of these directories is one unit of work, run by one
# worker one test after the other; every other module is a unit of its own (module-scoped fixtures are set up
# once). The reliability tests start real Celery workers and take the connection budget (tests/helpers.py),
# which two of them at once would exceed; the benchmark smoke tests share one migrated template database.
# They are collected first, so the long reliability unit starts at once and the other worker takes the rest.
XDIST_SERIAL_UNITS = ("tests/reliability/", "tests/bench/")


def _xdist_unit(nodeid: str) -> str:
    for unit in XDIST_SERIAL_UNITS:
        if nodeid.startswith(unit):
            return unit
    return nodeid.split("::", 1)[0]


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """xdist's ``loadscope`` scheduling with the units above. (``--dist loadgroup`` with ``xdist_group``
    marks would say the same, but xdist 3.8 marks a group by rewriting ``item._nodeid``, which pytest 9
    no longer reads.)"""
    from xdist.scheduler import LoadScopeScheduling

    class UnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _xdist_unit(nodeid)

    return UnitScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        unit = _xdist_unit(item.nodeid)
        return XDIST_SERIAL_UNITS.index(unit) if unit in XDIST_SERIAL_UNITS else len(XDIST_SERIAL_UNITS)

    items.sort(key=rank)


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


def _transactional(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("django_db")
    names = getattr(item, "fixturenames", ())
    return (marker is not None and bool(marker.kwargs.get("transaction"))) or "transactional_db" in names or "live_server" in names


@pytest.fixture(autouse=True)
def _reference_data(request: pytest.FixtureRequest) -> None:
    if _transactional(request.node):
        request.getfixturevalue("transactional_db")
        reference_data_restore()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After a ``transaction=True`` test's flush, write the reference data again (committed) and forget the
    content types Django cached: the flush recreated them under new ids. The tests that run next on this
    process, ordinary ``db`` tests included, then find the database as the migrations left it, whatever
    order xdist hands them out in (pytest-django alone would run the transactional ones last)."""
    result = yield
    # The last test of the session (``nextitem`` None) has just had the test database dropped too.
    if _transactional(item) and nextitem is not None:
        from django.contrib.contenttypes.models import ContentType
        from pytest_django.plugin import blocking_manager_key

        ContentType.objects.clear_cache()
        with item.config.stash[blocking_manager_key].unblock():
            reference_data_restore()
    return result


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def password() -> str:
    return "correct horse battery staple"


@pytest.fixture
def customer(db: None) -> User:
    return make_customer()


@pytest.fixture
def customer_totp(customer: User) -> TOTPDevice:
    return enrol_totp(customer)
