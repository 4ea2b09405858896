"""T6: a process dies between commit and publish; what it committed is still carried out, once.

The dying process is a real Python process on the test database (a script this test
writes). Its own code replaces Celery's ``send_task`` with a hook that notes the task
name and calls ``os._exit``: the transaction has committed, its ``on_commit`` callback
is publishing, and the process is gone before a byte reaches Redis. Production code is
not touched.

(a) A payout release: the approval commits (ledger transfer posted, batch released)
    and the delivery task is never published. The sweep
    (``refunds.tasks.payout_deliveries_sweep``, every five minutes in beat) finds the
    released batch and delivers it: run twice at once and once more on a real worker,
    the file reaches the bank folder once and the batch is marked delivered once.
(b) The notifications outbox: a refund claim is submitted, its mail row commits, and the
    relay publish is lost. ``wallet.tasks.notifications_relay`` run twice at once and once
    more on a real worker sends the mail once.

0 lost, 0 duplicated in both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core import mail

from backoffice.models import StaffAction
from refunds.models import PayoutBatch, RefundClaim
from refunds.services.payouts import payout_batch_build, payout_batch_release_request, payout_deliveries_pending
from tests.backoffice.helpers import make_staff
from tests.refunds.factories import funded_customer, make_programme
from tests.refunds.seeding import approved_bank_claims_seed
from tests.reliability.celery_workers import ROOT, Worker, broker_clear, broker_pending, wait_until, worker_database_url, workers_running
from wallet.models import DevInboxMessage, Notification, Transfer
from wallet.services.ledger_audit import ledger_verify
from wallet.services.notifications import notifications_relay_due

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

EXIT_AT_PUBLISH = 17
SWEEP = "refunds.tasks.payout_deliveries_sweep"
RELAY = "wallet.tasks.notifications_relay"

# The dying process. The hook is installed only when T6_LOST_PUBLISHES names a file, by this script.
DYING_PROCESS = r'''
import json
import os
import sys

import django

django.setup()

from celery import Celery


def _die_at_publish(app, name, *args, **kwargs):
    """The transaction has committed and on_commit is publishing: die before the broker hears of it."""
    with open(os.environ["T6_LOST_PUBLISHES"], "a") as lost:
        lost.write(name + "\n")
    os._exit(int(os.environ["T6_EXIT_CODE"]))


if os.environ.get("T6_LOST_PUBLISHES"):
    Celery.send_task = _die_at_publish

action, arguments = sys.argv[1], json.loads(sys.argv[2])
if action == "approve":
    from backoffice.models import Approval
    from backoffice.services.approvals import approval_approve
    from wallet.models import User

    approval_approve(approval=Approval.objects.get(pk=arguments["approval"]), checker=User.objects.get(pk=arguments["checker"]))
elif action == "claim":
    from refunds.models import RefundClaim
    from refunds.services.claims import claim_submit
    from refunds.services.payee import CleanBankDetails
    from wallet.models import User
    from django.utils import timezone

    claim_submit(
        customer=User.objects.get(pk=arguments["customer"]),
        route=RefundClaim.Route.LOGIN,
        method=RefundClaim.Method.BANK,
        confirmed_amount_yen=arguments["amount_yen"],
        bank=CleanBankDetails(**arguments["bank"]),
        step_up_at=timezone.now(),  # the customer's fresh step-up (B09)
    )
print("the action returned without publishing anything")
'''


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    with workers_running() as started:
        yield started


def _die_after_commit(tmp_path: Path, action: str, arguments: dict[str, object]) -> list[str]:
    """Run ``action`` in a process that exits hard at its first publish; returns what it was publishing."""
    script = tmp_path / "dying_process.py"
    script.write_text(DYING_PROCESS)
    lost = tmp_path / f"lost-{action}.txt"
    env = {
        **os.environ,
        "DATABASE_URL": worker_database_url(),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONPATH": str(ROOT),
        "T6_LOST_PUBLISHES": str(lost),
        "T6_EXIT_CODE": str(EXIT_AT_PUBLISH),
    }
    done = subprocess.run(
        [sys.executable, str(script), action, json.dumps(arguments)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == EXIT_AT_PUBLISH, f"exit {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"
    return lost.read_text().split()


def _quiet(worker: Worker, queue: str, task: str, runs: int) -> bool:
    return (
        broker_pending(queue) == (0, 0)
        and len(worker.succeeded(task)) >= runs
        and len(worker.received(task)) == len(worker.succeeded(task))
    )


def _run_on_worker(worker: Worker, queue: str, task: str, times_at_once: int) -> None:
    """Publish ``task`` ``times_at_once`` times together and wait until every run finished."""
    from config.celery import app

    already = len(worker.succeeded(task))
    for _ in range(times_at_once):
        app.send_task(task)
    wait_until(
        lambda: _quiet(worker, queue, task, already + times_at_once),
        timeout=60,
        message=lambda: f"{task} did not finish:\n{worker.text()[-3000:]}",
    )


def test_t06a_release_committed_publish_lost_sweep_delivers_once(workers: list[Worker], tmp_path: Path) -> None:
    outbox = tmp_path / "bank-outbox"
    worker = Worker(
        "t6-payouts", tmp_path / "t6-payouts.log", queues=("payouts",), concurrency=2, settings={"BANK_DELIVERY_DIR": str(outbox)}
    )
    workers.append(worker)
    approved_bank_claims_seed(count=50)
    maker = make_staff("maker@anzenpay.example", "finance", totp=False)
    checker = make_staff("checker@anzenpay.example", "finance", totp=False)
    batch = payout_batch_build(method=PayoutBatch.Method.BANK)
    assert batch is not None
    approval = payout_batch_release_request(batch=batch, acting_user=maker, reason="T6")
    broker_clear()

    lost = _die_after_commit(tmp_path, "approve", {"approval": approval.pk, "checker": checker.pk})
    batch.refresh_from_db()
    transfers = Transfer.objects.filter(kind=Transfer.Kind.REFUND_PAYOUT)
    assert lost == ["refunds.tasks.payout_batch_deliver"]
    assert batch.state == PayoutBatch.State.RELEASED and batch.transfer_id is not None  # committed
    assert transfers.count() == 1
    assert broker_pending("payouts") == (0, 0) and not outbox.exists()  # never published, never delivered
    assert payout_deliveries_pending() == [batch.pk]

    worker.wait_ready()
    _run_on_worker(worker, "payouts", SWEEP, times_at_once=2)
    _run_on_worker(worker, "payouts", SWEEP, times_at_once=1)

    batch.refresh_from_db()
    files = sorted(path.name for path in outbox.iterdir() if not path.name.startswith("."))
    marks = StaffAction.objects.filter(action="payout_batch.deliver", target_id=str(batch.pk)).count()
    report = ledger_verify()
    sys.stdout.write(
        f"\nT6a: lost publish {lost}; after 3 sweeps: state={batch.state} files={files} delivery marks={marks} "
        f"attempts={batch.delivery_attempts} payout transfers={transfers.count()} pending={payout_deliveries_pending()} "
        f"ledger_ok={report.ok}\n"
    )
    assert batch.state == PayoutBatch.State.DELIVERED and payout_deliveries_pending() == []  # 0 lost
    assert files == [batch.file_name] and (outbox / batch.file_name).read_bytes() == bytes(batch.file_content)  # 0 duplicated
    assert marks == 1 and batch.delivery_attempts == 1
    assert transfers.count() == 1
    assert report.ok, "\n".join(report.lines())


def test_t06b_outbox_row_committed_publish_lost_relay_sends_once(workers: list[Worker], tmp_path: Path) -> None:
    worker = Worker(
        "t6-mail",
        tmp_path / "t6-mail.log",
        queues=("notifications",),
        concurrency=2,
        env={"EMAIL_BACKEND": "wallet.adapters.mail.DevInboxEmailBackend"},
    )
    workers.append(worker)
    make_programme()
    customer = funded_customer("t6@example.jp", 4_321)
    notifications_relay_due()  # the top-up receipt, here and now: only the claim's mail is left to relay
    assert not Notification.objects.filter(status=Notification.Status.PENDING).exists() and len(mail.outbox) == 1
    broker_clear()

    bank = {
        "bank_code": "0001",
        "bank_name": "みずほ銀行",
        "bank_name_kana": "ミズホ",
        "branch_code": "001",
        "branch_name": "東京営業部",
        "branch_name_kana": "トウキヨウ",
        "account_type": 1,
        "account_number": "7654321",
        "holder_name": "ﾔﾏﾀﾞ ﾊﾅｺ",
    }
    lost = _die_after_commit(tmp_path, "claim", {"customer": customer.pk, "amount_yen": 4_321, "bank": bank})
    claim = RefundClaim.objects.get(customer=customer)
    row = Notification.objects.get(kind="refund_claim_received")
    assert lost == [RELAY]
    assert row.status == Notification.Status.PENDING and row.context["claim_number"] == claim.number  # committed
    assert broker_pending("notifications") == (0, 0) and not DevInboxMessage.objects.exists()  # never published, never sent

    worker.wait_ready()
    _run_on_worker(worker, "notifications", RELAY, times_at_once=2)
    _run_on_worker(worker, "notifications", RELAY, times_at_once=1)

    row.refresh_from_db()
    sent = Counter(DevInboxMessage.objects.filter(to=customer.email).values_list("subject", flat=True))
    pending = Notification.objects.filter(status=Notification.Status.PENDING).count()
    sys.stdout.write(
        f"\nT6b: lost publish {lost}; after 3 relays: status={row.status} attempts={row.attempts} mails={dict(sent)} pending={pending}\n"
    )
    assert row.status == Notification.Status.SENT and row.attempts == 1 and pending == 0  # 0 lost
    assert sum(sent.values()) == 1 and claim.number in DevInboxMessage.objects.get(to=customer.email).body  # 0 duplicated
    assert ledger_verify().ok
