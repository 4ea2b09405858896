"""Card refunds of approved compensation go to the gateway with no row locked, and a
gateway that is slow, unreachable or loses its answer never makes us pay twice
(issue 12): the approval marks and commits, the refund is asked for outside any
transaction, the answer is posted in a transaction of its own, and the sweep asks
again with the same idempotency key. Real threads and transactions; the gateway is
the development one, held or cut off through its adapter setting."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from backoffice.models import Approval, Case, Compensation
from backoffice.services.approvals import approval_approve
from backoffice.services.compensation import compensation_refunds_retry, compensation_request
from backoffice.tasks.compensation import compensations_release_stale_task
from tests.backoffice.helpers import make_staff
from tests.factories.fraud import drained_customer
from wallet.adapters.cards import DevCardGateway, GatewayTimeout, RefundResult
from wallet.models import GatewayCharge, LedgerAccount, TopUp, Transfer, User
from wallet.selectors import wallet_balance
from wallet.services.ledger_audit import ledger_verify

pytestmark = pytest.mark.django_db(transaction=True)

# A safety net so a broken test fails instead of hanging; nothing is measured against it.
STUCK = 60


class HeldGateway(DevCardGateway):
    """The development gateway, whose refunds wait until the test lets them go."""

    calls = 0
    entered = threading.Event()
    release = threading.Event()

    def refund(self, *, charge_id: str, amount_yen: int, idempotency_key: str) -> RefundResult:
        type(self).calls += 1
        type(self).entered.set()
        assert type(self).release.wait(STUCK), "the test never let the refund go"
        return super().refund(charge_id=charge_id, amount_yen=amount_yen, idempotency_key=idempotency_key)


class AnswerLostGateway(DevCardGateway):
    """Refunds the charge, then the answer is lost on the way back: a timeout after the fact."""

    def refund(self, *, charge_id: str, amount_yen: int, idempotency_key: str) -> RefundResult:
        super().refund(charge_id=charge_id, amount_yen=amount_yen, idempotency_key=idempotency_key)
        raise GatewayTimeout("the card gateway did not answer in time")


class UnreachableGateway(DevCardGateway):
    """Cannot be reached: nothing is refunded and no answer comes."""

    def refund(self, *, charge_id: str, amount_yen: int, idempotency_key: str) -> RefundResult:
        raise GatewayTimeout("the card gateway did not answer in time")


def backend(gateway: type[DevCardGateway]) -> str:
    return f"{__name__}.{gateway.__name__}"


def refunds_for(topup: TopUp) -> int:
    """The gateway's own record: refunds made under the compensation's key for this top-up."""
    return GatewayCharge.objects.filter(status="refund", idempotency_key=f"compensation-refund:{topup.transfer_id}").count()


def assert_paid_once(customer: User, case: Case, topup: TopUp) -> None:
    card_row = Compensation.objects.get(method=Compensation.Method.CARD_REFUND)
    assert card_row.state == Compensation.State.PAID and card_row.gateway_refund_id
    assert refunds_for(topup) == 1
    assert GatewayCharge.objects.get(charge_id=topup.gateway_charge_id).refunded_yen == 5_000
    assert Transfer.objects.filter(kind=Transfer.Kind.COMPENSATION, idempotency_key=f"compensation:{card_row.pk}").count() == 1
    assert Transfer.objects.filter(kind=Transfer.Kind.COMPENSATION).count() == 2
    assert wallet_balance(customer) == 3_000
    assert Case.objects.get(pk=case.pk).status == Case.Status.COMPENSATED
    assert ledger_verify().ok


def test_no_row_is_locked_while_the_gateway_refunds(settings: SettingsWrapper) -> None:
    analyst = make_staff("fraud@anzenpay.example", "fraud_analyst", totp=False)
    supervisor = make_staff("sup@anzenpay.example", "supervisor", totp=False)
    customer, case, topup = drained_customer(analyst)
    requested = compensation_request(case=case, reason="Drained on 07-03", acting_user=analyst)
    HeldGateway.calls, HeldGateway.entered, HeldGateway.release = 0, threading.Event(), threading.Event()
    settings.CARD_GATEWAY_BACKEND = backend(HeldGateway)
    errors: list[BaseException] = []

    def approve() -> None:
        try:
            approval_approve(approval=requested.approval, checker=supervisor, note="Checked")
        except BaseException as exc:  # shown by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    checker = threading.Thread(target=approve)
    checker.start()
    try:
        assert HeldGateway.entered.wait(STUCK), "the refund never reached the gateway"
        # The approval is decided and committed and the wallet credit paid before the gateway is asked.
        approval = Approval.objects.get(pk=requested.approval.pk)
        assert approval.state == Approval.State.APPROVED
        states = dict(Compensation.objects.values_list("method", "state"))
        assert states == {"ledger": "paid", "card_refund": "requested"}
        assert Case.objects.get(pk=case.pk).status == Case.Status.COMPENSATING
        # Another connection locks every row the approval and the refund touch, at once or not at all.
        rows: list[QuerySet[Any]] = [
            Approval.objects.filter(pk=approval.pk),
            Case.objects.filter(pk=case.pk),
            Compensation.objects.filter(case=case),
            LedgerAccount.objects.filter(owner=customer),
        ]
        with transaction.atomic():
            for queryset in rows:
                wanted = sorted(queryset.values_list("pk", flat=True))
                assert sorted(queryset.select_for_update(nowait=True).values_list("pk", flat=True)) == wanted, queryset.model
        # The sweep meanwhile does not send the same refund a second time.
        assert compensation_refunds_retry(older_than=timedelta(0)) == 0
        assert HeldGateway.calls == 1
    finally:
        HeldGateway.release.set()
        checker.join(STUCK)
    assert not checker.is_alive() and not errors, errors
    assert HeldGateway.calls == 1
    assert_paid_once(customer, case, topup)


@pytest.mark.parametrize("failing", [AnswerLostGateway, UnreachableGateway], ids=["answer-lost", "unreachable"])
def test_a_refund_without_an_answer_stays_pending_and_the_sweep_pays_it_once(
    settings: SettingsWrapper, failing: type[DevCardGateway]
) -> None:
    analyst = make_staff("fraud@anzenpay.example", "fraud_analyst", totp=False)
    supervisor = make_staff("sup@anzenpay.example", "supervisor", totp=False)
    customer, case, topup = drained_customer(analyst)
    requested = compensation_request(case=case, reason="Drained on 07-03", acting_user=analyst)
    settings.CARD_GATEWAY_BACKEND = backend(failing)
    mail.outbox.clear()

    approval_approve(approval=requested.approval, checker=supervisor, note="Checked")
    approved_at = timezone.now()

    # Approved; the wallet credit is paid; the card refund waits for an answer; nothing of it is booked or mailed.
    card_row = Compensation.objects.get(method=Compensation.Method.CARD_REFUND)
    assert Approval.objects.get(pk=requested.approval.pk).state == Approval.State.APPROVED
    assert (card_row.state, card_row.paid_transfer_id, card_row.failure) == ("requested", None, "")
    assert Compensation.objects.get(method=Compensation.Method.LEDGER).state == Compensation.State.PAID
    assert refunds_for(topup) == (1 if failing is AnswerLostGateway else 0)
    assert Case.objects.get(pk=case.pk).status == Case.Status.COMPENSATING
    assert not [m for m in mail.outbox if customer.email in m.to]

    # The gateway answers again. A sweep right away leaves the approver's own call be;
    # the scheduled sweep after a few minutes asks with the same key.
    settings.CARD_GATEWAY_BACKEND = backend(DevCardGateway)
    assert compensations_release_stale_task() == 0
    assert Compensation.objects.get(pk=card_row.pk).state == Compensation.State.REQUESTED
    with time_machine.travel(approved_at + timedelta(minutes=3), tick=False):
        assert compensations_release_stale_task() == 1
        assert compensations_release_stale_task() == 0

    assert_paid_once(customer, case, topup)
    sent = [m for m in mail.outbox if customer.email in m.to and "returned to you" in m.subject]
    assert len(sent) == 1 and "¥8,000" in sent[0].subject
