"""B04: one person cannot act alone on re-enabling a channel; maker ≠ checker,
enforced by the service (refused and audited) and by the database."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from backoffice.models import Approval, StaffAction
from backoffice.services.approvals import ApprovalRefused, approval_approve, approval_reject
from backoffice.services.switches import channel_switch_flip
from tests.backoffice.helpers import make_staff, otp_login
from wallet.models import ChannelSwitch

pytestmark = pytest.mark.django_db


def _pending_enable(maker_email: str = "supervisor@anzenpay.example", *, totp: bool = False) -> Approval:
    maker = make_staff(maker_email, "supervisor", totp=totp)
    channel_switch_flip(name="charge.atm", enabled=False, reason="ATM fraud", acting_user=maker)
    approval = channel_switch_flip(name="charge.atm", enabled=True, reason="fixed", acting_user=maker)
    assert isinstance(approval, Approval)
    return approval


def test_b04_maker_approving_own_request_is_refused_and_audited() -> None:
    approval = _pending_enable()
    with pytest.raises(ApprovalRefused) as refused:
        approval_approve(approval=approval, checker=approval.maker, note="trust me")
    assert refused.value.code == "own_request"
    assert "different person" in str(refused.value)
    approval.refresh_from_db()
    assert approval.state == Approval.State.PENDING and approval.checker is None and approval.executed_at is None
    assert not ChannelSwitch.objects.get(name="charge.atm").enabled
    row = StaffAction.objects.get(action="approval.refused")
    assert row.actor == approval.maker and row.target_id == str(approval.pk)
    assert row.after["refusal"] == "own_request" and row.after["attempt"] == "approve"


def test_b04_superuser_maker_cannot_approve_or_reject_own_request() -> None:
    admin = make_staff("admin@anzenpay.example", superuser=True, totp=False)
    channel_switch_flip(name="charge.atm", enabled=False, reason="ATM fraud", acting_user=admin)
    approval = channel_switch_flip(name="charge.atm", enabled=True, reason="fixed", acting_user=admin)
    assert isinstance(approval, Approval)
    with pytest.raises(ApprovalRefused):
        approval_approve(approval=approval, checker=admin)
    with pytest.raises(ApprovalRefused):
        approval_reject(approval=approval, checker=admin, note="withdraw")
    assert StaffAction.objects.filter(action="approval.refused").count() == 2
    assert not ChannelSwitch.objects.get(name="charge.atm").enabled


def test_b04_database_refuses_checker_equal_to_maker_even_via_orm_update() -> None:
    approval = _pending_enable()
    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.filter(pk=approval.pk).update(checker=approval.maker, state=Approval.State.APPROVED)
    approval.refresh_from_db()
    assert approval.checker is None and approval.state == Approval.State.PENDING


def test_b04_maker_sees_own_request_but_cannot_approve_it_in_the_admin(client: Client) -> None:
    approval = _pending_enable(totp=True)
    otp_login(client, approval.maker)
    detail = reverse("admin:backoffice_approval_change", args=[approval.pk])
    page = client.get(detail).content.decode()
    assert "You made this request, so you cannot approve or reject it." in page
    assert 'value="approve"' not in page
    response = client.post(detail, {"decision": "approve", "note": ""}, follow=True)
    assert "a different person must approve or reject it" in response.content.decode()
    assert not ChannelSwitch.objects.get(name="charge.atm").enabled
    assert StaffAction.objects.filter(action="approval.refused", actor=approval.maker).count() == 1
