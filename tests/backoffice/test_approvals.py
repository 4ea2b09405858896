"""Maker-checker approvals: turning a channel back on needs a second person."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backoffice.models import Approval, StaffAction
from backoffice.services.approvals import ApprovalRefused, approval_approve, approval_reject, approval_request
from backoffice.services.switches import channel_switch_flip
from tests.backoffice.helpers import make_staff, otp_login
from wallet.models import ChannelSwitch, User
from wallet.services.switches import channel_is_enabled

pytestmark = pytest.mark.django_db


def _channel_off(staff: User, name: str = "charge.atm") -> None:
    channel_switch_flip(name=name, enabled=False, reason="ATM cash-out fraud", acting_user=staff)


def test_turning_off_is_immediate_and_needs_one_person() -> None:
    fraud = make_staff("fraud@anzenpay.example", "fraud_analyst", totp=False)
    result = channel_switch_flip(name="charge.atm", enabled=False, reason="ATM cash-out fraud", acting_user=fraud)
    assert isinstance(result, ChannelSwitch) and not result.enabled
    assert not channel_is_enabled("charge.atm")
    assert not Approval.objects.exists()


def test_turning_on_waits_until_another_person_approves() -> None:
    fraud = make_staff("fraud@anzenpay.example", "fraud_analyst", totp=False)
    supervisor = make_staff("supervisor@anzenpay.example", "supervisor", totp=False)
    _channel_off(fraud)
    approval = channel_switch_flip(name="charge.atm", enabled=True, reason="Bank fixed the ATM check", acting_user=fraud)
    assert isinstance(approval, Approval)
    assert approval.state == Approval.State.PENDING and approval.payload == {"channel": "charge.atm"}
    assert approval.expires_at - approval.created_at == timedelta(hours=24)
    assert not ChannelSwitch.objects.get(name="charge.atm").enabled

    done = approval_approve(approval=approval, checker=supervisor, note="Checked with the bank")
    assert done.state == Approval.State.APPROVED and done.checker == supervisor and done.executed_at is not None
    switch = ChannelSwitch.objects.get(name="charge.atm")
    assert switch.enabled and switch.changed_by == supervisor
    actions = list(StaffAction.objects.order_by("id").values_list("action", "actor__email"))
    assert actions == [
        ("channel.disable", fraud.email),
        ("approval.request", fraud.email),
        ("channel.enable", supervisor.email),
        ("approval.approve", supervisor.email),
    ]
    assert StaffAction.objects.get(action="channel.enable").after["approval"] == approval.pk


def test_reject_leaves_the_channel_off_and_needs_a_note() -> None:
    fraud = make_staff("fraud@anzenpay.example", "fraud_analyst", totp=False)
    supervisor = make_staff("supervisor@anzenpay.example", "supervisor", totp=False)
    _channel_off(fraud)
    approval = approval_request(kind=Approval.Kind.CHANNEL_ENABLE, payload={"channel": "charge.atm"}, reason="fixed", maker=fraud)
    with pytest.raises(ApprovalRefused):
        approval_reject(approval=approval, checker=supervisor, note="  ")
    rejected = approval_reject(approval=approval, checker=supervisor, note="Bank has not confirmed yet")
    assert rejected.state == Approval.State.REJECTED and rejected.executed_at is None
    assert not ChannelSwitch.objects.get(name="charge.atm").enabled
    assert StaffAction.objects.filter(action="approval.reject", actor=supervisor).exists()
    with pytest.raises(ApprovalRefused) as refused:
        approval_approve(approval=approval, checker=supervisor)
    assert refused.value.code == "not_pending"
    assert not ChannelSwitch.objects.get(name="charge.atm").enabled


def test_expired_approval_cannot_be_approved() -> None:
    fraud = make_staff("fraud@anzenpay.example", "fraud_analyst", totp=False)
    supervisor = make_staff("supervisor@anzenpay.example", "supervisor", totp=False)
    _channel_off(fraud)
    approval = approval_request(kind=Approval.Kind.CHANNEL_ENABLE, payload={"channel": "charge.atm"}, reason="fixed", maker=fraud)
    Approval.objects.filter(pk=approval.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(ApprovalRefused) as refused:
        approval_approve(approval=approval, checker=supervisor)
    assert refused.value.code == "expired"
    approval.refresh_from_db()
    assert approval.state == Approval.State.EXPIRED and approval.checker is None
    assert not ChannelSwitch.objects.get(name="charge.atm").enabled
    assert StaffAction.objects.get(action="approval.refused").after["refusal"] == "expired"


def test_requests_that_cannot_run_are_refused_up_front() -> None:
    supervisor = make_staff("supervisor@anzenpay.example", "supervisor", totp=False)
    support = make_staff("support@anzenpay.example", "support", totp=False)
    with pytest.raises(ApprovalRefused) as no_executor:
        approval_request(kind=Approval.Kind.FACTOR_RESET, payload={}, reason="reset", maker=supervisor)
    assert no_executor.value.code == "no_executor"
    with pytest.raises(ApprovalRefused) as already_on:
        approval_request(kind=Approval.Kind.CHANNEL_ENABLE, payload={"channel": "charge.atm"}, reason="x", maker=supervisor)
    assert already_on.value.code == "already_on"
    _channel_off(supervisor)
    with pytest.raises(ApprovalRefused) as not_allowed:
        approval_request(kind=Approval.Kind.CHANNEL_ENABLE, payload={"channel": "charge.atm"}, reason="x", maker=support)
    assert not_allowed.value.code == "not_allowed"
    approval_request(kind=Approval.Kind.CHANNEL_ENABLE, payload={"channel": "charge.atm"}, reason="x", maker=supervisor)
    with pytest.raises(ApprovalRefused) as duplicate:
        approval_request(kind=Approval.Kind.CHANNEL_ENABLE, payload={"channel": "charge.atm"}, reason="again", maker=supervisor)
    assert duplicate.value.code == "duplicate"
    assert Approval.objects.count() == 1


def test_a_fraud_analyst_cannot_approve() -> None:
    fraud = make_staff("fraud@anzenpay.example", "fraud_analyst", totp=False)
    other = make_staff("fraud2@anzenpay.example", "fraud_analyst", totp=False)
    _channel_off(fraud)
    approval = approval_request(kind=Approval.Kind.CHANNEL_ENABLE, payload={"channel": "charge.atm"}, reason="fixed", maker=fraud)
    with pytest.raises(ApprovalRefused) as refused:
        approval_approve(approval=approval, checker=other)
    assert refused.value.code == "not_allowed"
    assert not ChannelSwitch.objects.get(name="charge.atm").enabled


@pytest.mark.django_db(transaction=True)
def test_two_checkers_approving_at_once_carry_it_out_once() -> None:
    fraud = make_staff("fraud@anzenpay.example", "fraud_analyst", totp=False)
    checkers = [make_staff(f"supervisor{i}@anzenpay.example", "supervisor", totp=False) for i in range(2)]
    _channel_off(fraud)
    approval = approval_request(kind=Approval.Kind.CHANNEL_ENABLE, payload={"channel": "charge.atm"}, reason="fixed", maker=fraud)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def approve(checker: User) -> None:
        try:
            barrier.wait()
            approval_approve(approval=approval, checker=checker)
            outcomes.append("approved")
        except ApprovalRefused as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(checker,)) for checker in checkers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["approved", "not_pending"]
    assert StaffAction.objects.filter(action="channel.enable").count() == 1
    assert ChannelSwitch.objects.get(name="charge.atm").changes.filter(enabled=True).count() == 1


# Admin pages


def test_flip_page_turns_off_at_once(client: Client) -> None:
    fraud = make_staff("fraud@anzenpay.example", "fraud_analyst")
    otp_login(client, fraud)
    response = client.post(reverse("admin:wallet_channelswitch_flip", args=["charge.atm"]), {"reason": "fraud"}, follow=True)
    assert "Turned off at once." in response.content.decode()
    assert not ChannelSwitch.objects.get(name="charge.atm").enabled


def test_flip_page_asks_for_approval_and_a_supervisor_approves(client: Client) -> None:
    fraud = make_staff("fraud@anzenpay.example", "fraud_analyst")
    _channel_off(fraud)
    otp_login(client, fraud)
    flip = reverse("admin:wallet_channelswitch_flip", args=["charge.atm"])
    response = client.post(flip, {"reason": "Bank fixed it"}, follow=True)
    body = response.content.decode()
    assert "Waiting for a second person to approve turning it back on." in body
    approval = Approval.objects.get()
    assert response.redirect_chain[-1][0] == reverse("admin:backoffice_approval_change", args=[approval.pk])
    assert "You made this request, so you cannot approve" in body and 'value="approve"' not in body
    assert not ChannelSwitch.objects.get(name="charge.atm").enabled
    assert "Bank fixed it" in client.get(flip).content.decode()  # the waiting request is listed
    # The analyst cannot decide by POST either.
    detail = reverse("admin:backoffice_approval_change", args=[approval.pk])
    assert client.post(detail, {"decision": "approve"}).status_code == 403
    other_analyst = otp_login(Client(), make_staff("fraud2@anzenpay.example", "fraud_analyst"))
    assert "Only a supervisor can approve or reject this request." in other_analyst.get(detail).content.decode()

    supervisor = make_staff("supervisor@anzenpay.example", "supervisor")
    checker = otp_login(Client(), supervisor)
    listing = checker.get(reverse("admin:backoffice_approval_changelist"), {"state__exact": "pending", "q": "fraud@"})
    assert listing.status_code == 200 and "charge.atm" in listing.content.decode()
    page = checker.get(detail).content.decode()
    assert 'value="approve"' in page and 'value="reject"' in page and "csrfmiddlewaretoken" in page
    response = checker.post(detail, {"decision": "approve", "note": "ok"}, follow=True)
    assert "Approved and carried out." in response.content.decode()
    assert ChannelSwitch.objects.get(name="charge.atm").enabled


def test_supervisor_rejects_from_the_page(client: Client) -> None:
    fraud = make_staff("fraud@anzenpay.example", "fraud_analyst", totp=False)
    _channel_off(fraud)
    approval = approval_request(kind=Approval.Kind.CHANNEL_ENABLE, payload={"channel": "charge.atm"}, reason="fixed", maker=fraud)
    otp_login(client, make_staff("supervisor@anzenpay.example", "supervisor"))
    detail = reverse("admin:backoffice_approval_change", args=[approval.pk])
    response = client.post(detail, {"decision": "reject", "note": ""}, follow=True)
    assert "Say why you reject the request." in response.content.decode()
    response = client.post(detail, {"decision": "reject", "note": "not yet"}, follow=True)
    assert "Rejected." in response.content.decode()
    approval.refresh_from_db()
    assert approval.state == Approval.State.REJECTED
    assert not ChannelSwitch.objects.get(name="charge.atm").enabled


def test_finance_sees_approvals_but_cannot_decide_incident_ones_and_nobody_edits_them(client: Client) -> None:
    supervisor = make_staff("supervisor@anzenpay.example", "supervisor", totp=False)
    _channel_off(supervisor)
    approval = approval_request(kind=Approval.Kind.CHANNEL_ENABLE, payload={"channel": "charge.atm"}, reason="fixed", maker=supervisor)
    otp_login(client, make_staff("finance@anzenpay.example", "finance"))
    # Finance follows payout releases in the list; deciding a channel request is a supervisor's.
    assert client.get(reverse("admin:backoffice_approval_changelist")).status_code == 200
    detail = reverse("admin:backoffice_approval_change", args=[approval.pk])
    assert client.post(detail, {"decision": "approve", "note": ""}).status_code == 403
    admin_client = otp_login(Client(), make_staff("admin@anzenpay.example", superuser=True))
    assert admin_client.get(reverse("admin:backoffice_approval_add")).status_code == 403
    assert admin_client.post(reverse("admin:backoffice_approval_delete", args=[approval.pk]), {"post": "yes"}).status_code == 403


def test_db_constraint_needs_no_transaction_wrapper() -> None:
    # Sanity: creating a decided approval with a different checker is fine for the constraint.
    maker = make_staff("a@anzenpay.example", "supervisor", totp=False)
    checker = make_staff("b@anzenpay.example", "supervisor", totp=False)
    with transaction.atomic():
        Approval.objects.create(kind=Approval.Kind.CHANNEL_ENABLE, payload={}, reason="r", maker=maker, checker=checker)
    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.create(kind=Approval.Kind.CHANNEL_ENABLE, payload={}, reason="r", maker=maker, checker=maker)
