"""Ledger corrections (B04, B07): asked by one person, posted only when a different
person approves, and always as a new transfer; no entry is ever changed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from backoffice.models import Approval, StaffAction
from backoffice.services.approvals import ApprovalRefused, approval_approve
from backoffice.services.ledger_corrections import ledger_correction_request
from tests.backoffice.helpers import make_staff
from tests.conftest import make_customer
from tests.money import fund_wallet, make_terminal, payment_code_for
from wallet.models import Entry, Transfer, User
from wallet.selectors import wallet_balance
from wallet.services.ledger_audit import ledger_verify
from wallet.services.payments import payment_redeem

pytestmark = pytest.mark.django_db


@pytest.fixture
def maker() -> User:
    """Finance staff holding the permission to ask for corrections (granted explicitly: no role has it by default)."""
    user = make_staff("finance@anzenpay.example", "finance", totp=False)
    user.user_permissions.add(Permission.objects.get(content_type__app_label="wallet", codename="add_transfer"))
    return User.objects.get(pk=user.pk)


@pytest.fixture
def checker() -> User:
    return make_staff("supervisor@anzenpay.example", "supervisor", totp=False)


def entry_rows() -> list[tuple[int, int, int, int]]:
    return list(Entry.objects.order_by("pk").values_list("pk", "transfer_id", "account_id", "amount_yen"))


def test_b07_a_reversal_is_a_new_transfer_after_approval(maker: User, checker: User) -> None:
    customer = make_customer()
    store = make_terminal()[0]
    fund_wallet(customer, 5_000, store)
    payment = payment_redeem(terminal=store, code=payment_code_for(user=customer).code, amount_yen=1_200, idempotency_key="p1")
    before = entry_rows()

    approval = ledger_correction_request(transfer=payment.transfer, reason="Store charged twice by mistake", acting_user=maker)
    assert approval.state == Approval.State.PENDING and approval.payload == {"action": "reverse", "transfer": payment.transfer_id}
    assert wallet_balance(customer) == 3_800 and entry_rows() == before

    approval_approve(approval=approval, checker=checker)
    reversal = Transfer.objects.get(reverses=payment.transfer)
    assert reversal.kind == Transfer.Kind.REVERSAL and reversal.created_by == checker
    assert wallet_balance(customer) == 5_000
    after = entry_rows()
    assert after[: len(before)] == before and len(after) == len(before) + 2  # old entries untouched, two new ones
    action = StaffAction.objects.get(action="ledger.correction")
    assert action.actor == checker and action.after["approval"] == approval.pk and action.after["maker"] == maker.email
    assert ledger_verify().ok

    with pytest.raises(ApprovalRefused) as again:
        ledger_correction_request(transfer=payment.transfer, reason="again", acting_user=maker)
    assert again.value.code == "already_reversed"


def test_an_adjustment_moves_money_between_a_wallet_and_a_system_account(maker: User, checker: User) -> None:
    customer = make_customer()
    fund_wallet(customer, 1_000)
    credit = ledger_correction_request(
        customer=customer, account_code="compensation_expense", amount_yen=500, reason="Goodwill agreed by phone", acting_user=maker
    )
    approval_approve(approval=credit, checker=checker)
    assert wallet_balance(customer) == 1_500
    posted = Transfer.objects.get(idempotency_key=f"ledger-correction:{credit.pk}")
    assert posted.kind == Transfer.Kind.ADJUSTMENT
    assert sorted(posted.entries.values_list("amount_yen", flat=True)) == [-500, 500]

    debit = ledger_correction_request(
        customer=customer, account_code="cash_clearing", amount_yen=-300, reason="Cash short", acting_user=maker
    )
    approval_approve(approval=debit, checker=checker)
    assert wallet_balance(customer) == 1_200
    assert ledger_verify().ok


def test_a_correction_that_would_overdraw_the_wallet_is_refused_and_waits(maker: User, checker: User) -> None:
    customer = make_customer()
    fund_wallet(customer, 100)
    approval = ledger_correction_request(customer=customer, account_code="cash_clearing", amount_yen=-500, reason="x", acting_user=maker)
    with pytest.raises(ApprovalRefused) as refused:
        approval_approve(approval=approval, checker=checker)
    assert refused.value.code == "insufficient_funds"
    approval.refresh_from_db()
    assert approval.state == Approval.State.PENDING
    assert wallet_balance(customer) == 100 and not Transfer.objects.filter(kind=Transfer.Kind.ADJUSTMENT).exists()


def test_b04_the_maker_cannot_approve_their_own_correction(maker: User) -> None:
    maker.user_permissions.add(Permission.objects.get(codename="check_approval"))
    maker = User.objects.get(pk=maker.pk)
    customer = make_customer()
    approval = ledger_correction_request(
        customer=customer, account_code="compensation_expense", amount_yen=100, reason="x", acting_user=maker
    )
    with pytest.raises(ApprovalRefused) as refused:
        approval_approve(approval=approval, checker=maker)
    assert refused.value.code == "own_request"
    assert wallet_balance(customer) == 0
    assert StaffAction.objects.filter(action="approval.refused", actor=maker).exists()


def test_only_holders_of_the_permission_may_ask() -> None:
    customer = make_customer()
    for role in ("support", "fraud_analyst"):
        staff = make_staff(f"{role}@anzenpay.example", role, totp=False)
        with pytest.raises(ApprovalRefused) as refused:
            ledger_correction_request(customer=customer, account_code="compensation_expense", amount_yen=100, reason="x", acting_user=staff)
        assert refused.value.code == "not_allowed", role
    assert not Approval.objects.exists()


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"account_code": "compensation_expense", "amount_yen": 0}, "invalid_amount"),
        ({"account_code": "compensation_expense", "amount_yen": 10_000_001}, "invalid_amount"),
        ({"account_code": "no_such_account", "amount_yen": 100}, "invalid_payload"),
        ({"account_code": "wallet:self", "amount_yen": 100}, "invalid_payload"),
    ],
)
def test_bad_adjustments_are_refused_up_front(maker: User, fields: dict[str, object], code: str) -> None:
    customer = make_customer()
    if fields["account_code"] == "wallet:self":
        fund_wallet(customer, 100)
        fields = {**fields, "account_code": f"wallet:{customer.pk}"}
    with pytest.raises(ApprovalRefused) as refused:
        ledger_correction_request(customer=customer, reason="x", acting_user=maker, **fields)  # type: ignore[arg-type]
    assert refused.value.code == code
    assert not Approval.objects.exists()


def test_compensation_and_reversals_are_not_reversed_here(maker: User, checker: User) -> None:
    customer = make_customer()
    fund_wallet(customer, 1_000)
    approval = ledger_correction_request(
        customer=customer, account_code="compensation_expense", amount_yen=100, reason="x", acting_user=maker
    )
    approval_approve(approval=approval, checker=checker)
    adjustment = Transfer.objects.get(kind=Transfer.Kind.ADJUSTMENT)
    reversal_request = ledger_correction_request(transfer=adjustment, reason="undo", acting_user=maker)
    approval_approve(approval=reversal_request, checker=checker)
    reversal = Transfer.objects.get(kind=Transfer.Kind.REVERSAL)
    with pytest.raises(ApprovalRefused) as refused:
        ledger_correction_request(transfer=reversal, reason="undo the undo", acting_user=maker)
    assert refused.value.code == "not_reversible"
    assert wallet_balance(customer) == 1_000
