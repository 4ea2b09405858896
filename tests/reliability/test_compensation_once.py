"""Compensation is paid at most once per fraudulent transaction, however people race
(issue 4 §7, B02, B04): supervisors approving the same request at once, and
analysts requesting the same case at once. Real threads, real transactions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from functools import partial

import pytest

from backoffice.models import Case, Compensation
from backoffice.services.approvals import ApprovalRefused, approval_approve
from backoffice.services.compensation import CompensationRefused, compensation_request
from tests.factories import make_staff
from tests.factories.fraud import drained_customer
from tests.helpers import race as race_threads
from wallet.models import GatewayCharge, TopUp, Transfer, User
from wallet.selectors import wallet_balance
from wallet.services.ledger_audit import ledger_verify

PARALLEL = 8


def race(attempts: list[Callable[[], object]]) -> Counter[str]:
    return race_threads(attempts, refusals=(ApprovalRefused, CompensationRefused), success="done")


def assert_paid_once(customer: User, topup: TopUp) -> None:
    paid = Compensation.objects.filter(state=Compensation.State.PAID)
    assert sorted(paid.values_list("method", "amount_yen")) == [("card_refund", 5_000), ("ledger", 3_000)]
    assert Transfer.objects.filter(kind=Transfer.Kind.COMPENSATION).count() == 2
    assert GatewayCharge.objects.filter(status="refund", token=topup.gateway_charge_id).count() == 1
    assert GatewayCharge.objects.get(charge_id=topup.gateway_charge_id).refunded_yen == 5_000
    assert wallet_balance(customer) == 3_000
    assert ledger_verify().ok


@pytest.mark.django_db(transaction=True)
def test_b04_supervisors_approving_at_once_pay_once() -> None:
    analyst = make_staff("fraud@anzenpay.example", "fraud_analyst", totp=False)
    checkers = [make_staff(f"sup{i}@anzenpay.example", "supervisor", totp=False) for i in range(PARALLEL)]
    customer, case, topup = drained_customer(analyst)
    requested = compensation_request(case=case, reason="Drained on 07-03", acting_user=analyst)

    outcomes = race([partial(approval_approve, approval=requested.approval, checker=checker) for checker in checkers])

    assert outcomes == Counter({"done": 1, "not_pending": PARALLEL - 1}), outcomes
    assert_paid_once(customer, topup)
    assert Case.objects.get(pk=case.pk).status == Case.Status.COMPENSATED


@pytest.mark.django_db(transaction=True)
def test_b02_requests_racing_for_one_case_request_once() -> None:
    analysts = [make_staff(f"fraud{i}@anzenpay.example", "fraud_analyst", totp=False) for i in range(PARALLEL)]
    checker = make_staff("sup@anzenpay.example", "supervisor", totp=False)
    customer, case, topup = drained_customer(analysts[0])

    outcomes = race([partial(compensation_request, case=case, reason="Drained", acting_user=analyst) for analyst in analysts])

    assert outcomes == Counter({"done": 1, "nothing_to_pay": PARALLEL - 1}), outcomes
    live = Compensation.objects.filter(state__in=Compensation.LIVE_STATES)
    assert live.count() == 2 and len({c.approval_id for c in live}) == 1
    approval = live.first().approval  # type: ignore[union-attr]
    assert approval is not None
    approval_approve(approval=approval, checker=checker)
    assert_paid_once(customer, topup)


@pytest.mark.django_db(transaction=True)
def test_b02_a_request_racing_an_approval_pays_once() -> None:
    """While one supervisor pays a case, analysts ask again for it: nothing is requested twice or paid twice."""
    analysts = [make_staff(f"fraud{i}@anzenpay.example", "fraud_analyst", totp=False) for i in range(PARALLEL - 1)]
    checker = make_staff("sup@anzenpay.example", "supervisor", totp=False)
    customer, case, topup = drained_customer(analysts[0])
    requested = compensation_request(case=case, reason="Drained", acting_user=analysts[0])

    attempts: list[Callable[[], object]] = [partial(approval_approve, approval=requested.approval, checker=checker)]
    attempts += [partial(compensation_request, case=case, reason="again", acting_user=analyst) for analyst in analysts]
    outcomes = race(attempts)

    assert outcomes == Counter({"done": 1, "nothing_to_pay": PARALLEL - 1}), outcomes
    assert Compensation.objects.count() == 2
    assert_paid_once(customer, topup)
