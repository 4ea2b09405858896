"""Staff freezes: scope stops exactly one money direction; lifting needs a second person (B04)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backoffice.models import Approval, StaffAction
from backoffice.services.approvals import ApprovalRefused, approval_approve, approval_request
from backoffice.services.freezes import FreezeRefused, account_freeze, account_unfreeze_request, freezes_expired_release
from tests.backoffice.helpers import make_staff, otp_login
from tests.money import fund_wallet, make_terminal, payment_code_for
from wallet.models import AccountFreeze, Terminal, User
from wallet.selectors import wallet_balance
from wallet.services.ledger import MoneyError
from wallet.services.payments import payment_redeem

pytestmark = pytest.mark.django_db


def _pay(user: User, terminal: Terminal, amount_yen: int = 300) -> None:
    code = payment_code_for(user=user).code
    payment_redeem(terminal=terminal, code=code, amount_yen=amount_yen, idempotency_key=secrets.token_hex(8))


def _moves(action: Callable[[], object]) -> bool:
    try:
        action()
    except MoneyError:
        return False
    return True


@pytest.mark.parametrize(
    ("scope", "payments_move", "topups_move"),
    [("all", False, False), ("debits", False, True), ("credits", True, False)],
)
def test_freeze_scope_stops_exactly_its_direction(customer: User, scope: str, payments_move: bool, topups_move: bool) -> None:
    terminal, _key = make_terminal()
    fund_wallet(customer, 5_000, terminal)
    support = make_staff("support@anzenpay.example", "support", totp=False)
    account_freeze(user=customer, scope=scope, reason="Suspicious activity", acting_user=support)

    assert _moves(lambda: _pay(customer, terminal)) is payments_move
    assert _moves(lambda: fund_wallet(customer, 1_000, terminal)) is topups_move
    expected = 5_000 - (300 if payments_move else 0) + (1_000 if topups_move else 0)
    assert wallet_balance(customer) == expected
    action = StaffAction.objects.get(action="account.freeze")
    assert action.actor == support and action.reason == "Suspicious activity" and action.after["scope"] == scope


@pytest.mark.parametrize("role", ["support", "fraud_analyst", "supervisor"])
def test_roles_that_may_freeze(customer: User, role: str) -> None:
    staff = make_staff(f"{role}@anzenpay.example", role, totp=False)
    freeze = account_freeze(user=customer, scope="debits", reason="Check", acting_user=staff)
    assert freeze.source == AccountFreeze.Source.STAFF and freeze.set_by == staff


def test_finance_may_not_freeze_and_bad_input_changes_nothing(customer: User) -> None:
    finance = make_staff("finance@anzenpay.example", "finance", totp=False)
    with pytest.raises(FreezeRefused) as refused:
        account_freeze(user=customer, scope="all", reason="x", acting_user=finance)
    assert refused.value.code == "not_allowed"
    support = make_staff("support@anzenpay.example", "support", totp=False)
    for kwargs, code in [
        ({"scope": "everything", "reason": "x"}, "invalid_scope"),
        ({"scope": "all", "reason": "  "}, "no_reason"),
        ({"scope": "all", "reason": "x", "expires_at": timezone.now() - timedelta(minutes=1)}, "expiry_past"),
    ]:
        with pytest.raises(FreezeRefused) as bad:
            account_freeze(user=customer, acting_user=support, **kwargs)  # type: ignore[arg-type]
        assert bad.value.code == code
    with pytest.raises(FreezeRefused):
        account_freeze(user=support, scope="all", reason="x", acting_user=make_staff("sv@anzenpay.example", "supervisor", totp=False))
    assert not AccountFreeze.objects.exists() and not StaffAction.objects.exists()


def test_unfreeze_needs_a_second_person_then_money_moves_again(customer: User) -> None:
    terminal, _key = make_terminal()
    fund_wallet(customer, 5_000, terminal)
    fraud = make_staff("fraud@anzenpay.example", "fraud_analyst", totp=False)
    supervisor = make_staff("supervisor@anzenpay.example", "supervisor", totp=False)
    freeze = account_freeze(user=customer, scope="all", reason="Account takeover", acting_user=supervisor)
    assert not _moves(lambda: _pay(customer, terminal))

    approval = account_unfreeze_request(freeze=freeze, reason="Customer verified by phone", maker=supervisor)
    assert approval.kind == Approval.Kind.UNFREEZE and approval.payload == {"freeze_id": freeze.pk}
    with pytest.raises(ApprovalRefused) as own:
        approval_approve(approval=approval, checker=supervisor)
    assert own.value.code == "own_request"
    with pytest.raises(ApprovalRefused) as not_checker:
        approval_approve(approval=approval, checker=fraud)
    assert not_checker.value.code == "not_allowed"
    freeze.refresh_from_db()
    assert freeze.lifted_at is None and not _moves(lambda: _pay(customer, terminal))

    other_supervisor = make_staff("supervisor2@anzenpay.example", "supervisor", totp=False)
    approval_approve(approval=approval, checker=other_supervisor, note="Call recording checked")
    freeze.refresh_from_db()
    customer.refresh_from_db()
    assert freeze.lifted_at is not None and freeze.lifted_by == other_supervisor
    assert customer.status == User.Status.ACTIVE
    assert _moves(lambda: _pay(customer, terminal)) and wallet_balance(customer) == 4_700
    actions = list(StaffAction.objects.order_by("id").values_list("action", "actor__email"))
    assert actions == [
        ("account.freeze", supervisor.email),
        ("approval.request", supervisor.email),
        ("approval.refused", supervisor.email),
        ("approval.refused", fraud.email),
        ("account.unfreeze", other_supervisor.email),
        ("approval.approve", other_supervisor.email),
    ]
    assert StaffAction.objects.get(action="account.unfreeze").after["approval"] == approval.pk


def test_unfreeze_request_refused_for_ended_or_customer_freezes(customer: User) -> None:
    support = make_staff("support@anzenpay.example", "support", totp=False)
    own_lock = AccountFreeze.objects.create(user=customer, scope="debits", source=AccountFreeze.Source.CUSTOMER, reason="lost phone")
    with pytest.raises(ApprovalRefused):
        account_unfreeze_request(freeze=own_lock, reason="x", maker=support)
    ends = timezone.now() + timedelta(hours=1)
    freeze = account_freeze(user=customer, scope="debits", reason="Check", expires_at=ends, acting_user=support)
    with time_machine.travel(ends + timedelta(minutes=1)), pytest.raises(ApprovalRefused) as ended:
        account_unfreeze_request(freeze=freeze, reason="x", maker=support)
    assert ended.value.code == "not_active"
    with pytest.raises(ApprovalRefused) as bad:
        approval_request(kind=Approval.Kind.UNFREEZE, payload={"freeze_id": "1"}, reason="x", maker=support)
    assert bad.value.code == "invalid_payload"


def test_expired_freeze_stops_applying_and_sign_in_comes_back(customer: User) -> None:
    terminal, _key = make_terminal()
    fund_wallet(customer, 5_000, terminal)
    support = make_staff("support@anzenpay.example", "support", totp=False)
    ends = timezone.now() + timedelta(hours=2)
    account_freeze(user=customer, scope="all", reason="Cooling off", expires_at=ends, acting_user=support)
    assert freezes_expired_release() == 0
    with time_machine.travel(ends + timedelta(minutes=1)):
        assert freezes_expired_release() == 1
        assert _moves(lambda: fund_wallet(customer, 1_000, terminal))
        assert _moves(lambda: _pay(customer, terminal))
    customer.refresh_from_db()
    assert customer.status == User.Status.ACTIVE
    assert StaffAction.objects.filter(action="account.freeze_expired").count() == 1


def test_admin_freeze_and_request_unfreeze(customer: User) -> None:
    support = make_staff("support@anzenpay.example", "support")
    client = otp_login(Client(), support)
    page = client.get(reverse("admin:wallet_user_change", args=[customer.pk])).content.decode()
    assert reverse("admin:wallet_user_freezes", args=[customer.pk]) in page
    url = reverse("admin:wallet_user_freezes", args=[customer.pk])
    assert client.post(url, {"scope": "debits", "reason": ""}).status_code == 400
    response = client.post(url, {"scope": "debits", "reason": "Reported stolen phone"})
    assert response.status_code == 302
    freeze = AccountFreeze.objects.get(user=customer)
    assert freeze.scope == "debits" and freeze.set_by == support
    page = client.get(url).content.decode()
    assert "Reported stolen phone" in page and "Request unfreeze" in page
    response = client.post(reverse("admin:wallet_user_unfreeze", args=[customer.pk, freeze.pk]), {"reason": "Phone found"})
    approval = Approval.objects.get(kind=Approval.Kind.UNFREEZE)
    assert response["Location"] == reverse("admin:backoffice_approval_change", args=[approval.pk])
    assert "Unfreeze waiting for approval" in client.get(url).content.decode()


def test_admin_freeze_forbidden_without_permission(customer: User) -> None:
    finance = make_staff("finance@anzenpay.example", "finance")
    client = otp_login(Client(), finance)
    url = reverse("admin:wallet_user_freezes", args=[customer.pk])
    assert client.post(url, {"scope": "all", "reason": "x"}).status_code == 403
    assert not AccountFreeze.objects.exists()
