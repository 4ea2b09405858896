"""T12: a mass reset of at least 100k customer accounts, its Celery worker killed with
SIGKILL midway and a new worker started: the job resumes from its cursor and ends with
0 accounts missed, 0 live sessions or API tokens, balances and ledger unchanged, and no
account reset twice (one notice each).

The accounts, their sessions and tokens are written with set-based SQL (the point is
the job, not the seeding); the wallets with money get it through ledger transfers. The
worker is a real ``celery worker`` subprocess on the test database, fed through Redis.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.db.models import Count

from backoffice.models import MassReset
from backoffice.selectors.mass_reset import NOTICE_KIND, population_missed
from backoffice.services.approvals import approval_approve
from backoffice.services.mass_reset import mass_reset_request
from tests.backoffice.helpers import make_staff
from tests.reliability.celery_workers import Worker, transactions_open_elsewhere, wait_until, workers_running
from wallet.api.authentication import api_token_issue
from wallet.models import ApiToken, Entry, LedgerAccount, Notification, Transfer, User, UserSession
from wallet.services.ledger import Leg, system_account, transfer_post
from wallet.services.ledger_audit import ledger_verify

pytestmark = pytest.mark.django_db(transaction=True)

ACCOUNTS = int(os.environ.get("T12_ACCOUNTS", "100000"))
FUNDED = 500
BATCH_SIZE = 500


def _seed_customers(count: int) -> None:
    """``count`` verified customers, each with a web session (and its index row) and an API token."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO wallet_user (password, last_login, is_superuser, email, full_name, name_kana, phone, birth_date,
                email_verified_at, phone_verified_at, status, is_staff, is_active, date_joined, credentials_changed_at,
                must_reset_password, staff_enrollment_open_until, preferred_language)
            SELECT 'pbkdf2_sha256$1000000$t12seed$' || md5(g::text), now(), FALSE, 't12-' || g || '@example.jp', 'T12 ' || g, '',
                   '', NULL, now(), now(), 'active', FALSE, TRUE, now() - interval '30 days', now() - interval '30 days', FALSE,
                   NULL, 'ja'
            FROM generate_series(1, %s) g
            """,
            [count],
        )
        cursor.execute(
            """
            INSERT INTO django_session (session_key, session_data, expire_date)
            SELECT 't12' || lpad(id::text, 37, '0'), 'e30', now() + interval '1 day' FROM wallet_user WHERE email LIKE 't12-%%'
            """
        )
        cursor.execute(
            """
            INSERT INTO wallet_usersession (session_key, user_id, ip, user_agent, created_at, last_seen_at)
            SELECT 't12' || lpad(id::text, 37, '0'), id, '192.0.2.1', 'browser', now(), now() FROM wallet_user WHERE email LIKE 't12-%%'
            """
        )
        cursor.execute(
            """
            INSERT INTO wallet_apitoken (user_id, key_digest, key_prefix, label, created_at)
            SELECT id, md5('t12:' || id) || md5('token:' || id), 'anz_t12', 'app', now() FROM wallet_user WHERE email LIKE 't12-%%'
            """
        )
        cursor.execute("ANALYZE wallet_user; ANALYZE wallet_usersession; ANALYZE django_session; ANALYZE wallet_apitoken")


def _fund(count: int) -> None:
    """Balances only through ledger transfers, so the ledger proof holds before and after."""
    users = list(User.objects.filter(email__startswith="t12-").order_by("pk")[:count])
    wallets = LedgerAccount.objects.bulk_create(
        [LedgerAccount(kind=LedgerAccount.Kind.CUSTOMER_WALLET, code=f"wallet:{u.pk}", owner=u, balance_yen=0) for u in users]
    )
    clearing = system_account("cash_clearing")
    for start in range(0, len(wallets), 250):
        chunk = wallets[start : start + 250]
        transfer_post(
            kind=Transfer.Kind.TOPUP,
            legs=[Leg(clearing, -sum(1_000 + i for i in range(len(chunk)))), *(Leg(w, 1_000 + i) for i, w in enumerate(chunk))],
            idempotency_key=f"t12-seed:{start}",
            description="T12 seed",
        )


def _money() -> tuple[list[tuple[int, int | None]], int, int]:
    return list(LedgerAccount.objects.order_by("pk").values_list("pk", "balance_yen")), Entry.objects.count(), Transfer.objects.count()


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    with workers_running() as started:
        yield started


def _job(pk: int) -> MassReset:
    return MassReset.objects.get(pk=pk)


def test_t12_mass_reset_killed_midway_resumes_with_nothing_missed(workers: list[Worker], tmp_path: Path) -> None:
    _seed_customers(ACCOUNTS)
    _fund(FUNDED)
    maker = make_staff("maker@anzenpay.example", "supervisor", totp=False)
    checker = make_staff("checker@anzenpay.example", "supervisor", totp=False)
    staff_token, _key = api_token_issue(user=maker, label="tool", second_factor=True)
    money_before = _money()
    assert ledger_verify().ok

    first = Worker("t12-first", tmp_path / "worker-first.log")
    workers.append(first)
    first.wait_ready()
    job = mass_reset_request(filters={"all": True}, reason="T12", acting_user=maker, batch_size=BATCH_SIZE)
    assert job.accounts_estimated == ACCOUNTS and job.approval is not None
    approval_approve(approval=job.approval, checker=checker)

    # Kill the worker and its children with SIGKILL once about a third of the accounts are done.
    deadline = time.monotonic() + 120
    while _job(job.pk).accounts_reset < ACCOUNTS // 3:
        assert time.monotonic() < deadline, f"the job did not progress:\n{first.log.read_text()[-3000:]}"
        time.sleep(0.02)
    first.kill()
    # A COMMIT the worker had already sent may still land; a batch it was running is rolled back once its
    # backend notices the worker is gone. After that no session but this test's is on the database.
    wait_until(lambda: transactions_open_elsewhere() == 0, timeout=30, message="the killed worker's transaction stayed open")
    killed_at = _job(job.pk)
    assert killed_at.state == MassReset.State.RUNNING, "the job finished before the worker was killed"
    assert killed_at.accounts_reset < ACCOUNTS
    # Nobody works on it now: no worker runs, and the job row stays where the kill left it.
    assert not first.alive and transactions_open_elsewhere() == 0
    stalled = _job(job.pk)
    assert (stalled.accounts_reset, stalled.last_user_id) == (killed_at.accounts_reset, killed_at.last_user_id)

    second = Worker("t12-second", tmp_path / "worker-second.log")
    workers.append(second)
    second.wait_ready()
    deadline = time.monotonic() + 150
    while _job(job.pk).state != MassReset.State.DONE:
        assert time.monotonic() < deadline, f"the job did not resume:\n{second.log.read_text()[-3000:]}"
        time.sleep(0.2)

    done = _job(job.pk)
    customers = User.objects.filter(is_staff=False)
    missed = population_missed(done)
    live_sessions = UserSession.objects.filter(user__is_staff=False, ended_at__isnull=True).count() + Session.objects.count()
    live_tokens = ApiToken.objects.filter(user__is_staff=False).count()
    notices_twice = Notification.objects.filter(kind=NOTICE_KIND).values("user_id").annotate(n=Count("id")).filter(n__gt=1)
    sys.stdout.write(
        f"\nT12: accounts={ACCOUNTS} killed_at={killed_at.accounts_reset} reset={done.accounts_reset} missed={missed} "
        f"live_sessions={live_sessions} live_tokens={live_tokens} notices={done.notices_queued}\n"
    )
    assert missed == 0
    assert done.accounts_reset == ACCOUNTS == customers.filter(must_reset_password=True).count()
    assert not customers.filter(password__regex=r"^[^!]").exists()
    assert live_sessions == 0 and live_tokens == 0
    assert done.sessions_ended == ACCOUNTS and done.tokens_deleted == ACCOUNTS
    assert done.notices_queued == ACCOUNTS == Notification.objects.filter(kind=NOTICE_KIND).count()
    assert not notices_twice.exists()
    assert ApiToken.objects.filter(pk=staff_token.pk).exists()
    assert _money() == money_before
    assert ledger_verify().ok
