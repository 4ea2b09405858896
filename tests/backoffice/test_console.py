"""The incident console: switches with who and why, turn off at once, ask to turn on,
requests waiting, active freezes and recent changes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backoffice.models import Approval, StaffAction
from backoffice.services.approvals import approval_approve
from backoffice.services.freezes import account_freeze
from backoffice.services.switches import channel_switch_flip
from tests.backoffice.helpers import make_staff, otp_login
from tests.conftest import make_customer
from wallet.models import AccountFreeze, ChannelSwitch
from wallet.services.switches import channel_is_enabled

pytestmark = pytest.mark.django_db

CONSOLE = "admin:incident_console"


def switch_url(name: str) -> str:
    return reverse("admin:incident_console_switch", args=[name])


def test_console_lists_every_channel_with_what_it_stops(client: Client) -> None:
    otp_login(client, make_staff("support@anzenpay.example", "support"))
    response = client.get(reverse(CONSOLE))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Every channel is on." in body
    for name, stops in [("charge.credit_card", "Top-ups charged to a credit card."), ("payment.store", "Barcode payments at stores.")]:
        assert f"<code>{name}</code>" in body and stops in body
    # Support may look but not switch.
    assert switch_url("charge.credit_card") not in body


def test_turning_off_is_immediate_needs_one_person_and_is_audited(client: Client, django_capture_on_commit_callbacks) -> None:
    analyst = make_staff("fraud@anzenpay.example", "fraud_analyst")
    otp_login(client, analyst)
    body = client.get(reverse(CONSOLE)).content.decode()
    assert switch_url("charge.credit_card") in body and "Turn off charge.credit_card now" in body

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(switch_url("charge.credit_card"), {"turn": "off", "reason": "Stolen cards topping up wallets"})
    assert response.status_code == 302
    assert response["Location"].endswith(reverse(CONSOLE) + "#switch-charge-credit_card")

    switch = ChannelSwitch.objects.get(name="charge.credit_card")
    assert not switch.enabled and switch.changed_by == analyst
    assert not channel_is_enabled("charge.credit_card")
    assert not Approval.objects.exists()
    row = StaffAction.objects.get()
    assert (row.action, row.actor, row.reason, row.before, row.after) == (
        "channel.disable",
        analyst,
        "Stolen cards topping up wallets",
        {"enabled": True},
        {"enabled": False},
    )

    page = client.get(reverse(CONSOLE)).content.decode()
    assert "is off now, for every customer and terminal." in page
    assert "1 of 10 channels is off." in page
    # Who and why on the card and in the recent changes.
    assert page.count("Stolen cards topping up wallets") == 2
    assert "fraud@anzenpay.example" in page
    assert "Ask a second person to turn it on" in page


def test_turn_off_without_a_reason_changes_nothing(client: Client) -> None:
    otp_login(client, make_staff("fraud@anzenpay.example", "fraud_analyst"))
    response = client.post(switch_url("charge.credit_card"), {"turn": "off", "reason": "   "})
    assert response.status_code == 400
    assert "Give a reason for this change." in response.content.decode()
    assert 'aria-invalid="true"' in response.content.decode()
    assert ChannelSwitch.objects.get(name="charge.credit_card").enabled
    assert not StaffAction.objects.exists()


def test_turning_off_an_off_channel_again_writes_nothing(client: Client) -> None:
    analyst = make_staff("fraud@anzenpay.example", "fraud_analyst")
    channel_switch_flip(name="signup", enabled=False, reason="first", acting_user=analyst)
    otp_login(client, analyst)
    response = client.post(switch_url("signup"), {"turn": "off", "reason": "second"}, follow=True)
    assert "is already off. Nothing was changed." in response.content.decode()
    assert StaffAction.objects.count() == 1
    assert ChannelSwitch.objects.get(name="signup").reason == "first"


def test_turning_on_creates_an_approval_and_the_channel_stays_off(client: Client) -> None:
    analyst = make_staff("fraud@anzenpay.example", "fraud_analyst")
    channel_switch_flip(name="charge.credit_card", enabled=False, reason="attack", acting_user=analyst)
    otp_login(client, analyst)

    response = client.post(switch_url("charge.credit_card"), {"turn": "on", "reason": "Attack over, 3-D Secure enforced"}, follow=True)
    approval = Approval.objects.get()
    assert (approval.kind, approval.payload, approval.maker, approval.state) == (
        Approval.Kind.CHANNEL_ENABLE,
        {"channel": "charge.credit_card"},
        analyst,
        Approval.State.PENDING,
    )
    assert not ChannelSwitch.objects.get(name="charge.credit_card").enabled
    body = response.content.decode()
    assert f"Request #{approval.pk} made" in body
    # The card now shows the waiting request, linked, instead of a second request form.
    assert f"Request #{approval.pk} to turn it back on, by fraud@anzenpay.example, waits for a second person." in body
    assert reverse("admin:backoffice_approval_change", args=[approval.pk]) in body
    assert "Ask a second person to turn it on" not in body
    assert StaffAction.objects.filter(action="approval.request", actor=analyst).exists()

    # The same person cannot ask twice; a second person approves and the channel comes back.
    again = client.post(switch_url("charge.credit_card"), {"turn": "on", "reason": "again"}, follow=True)
    assert "The same request is already waiting for approval." in again.content.decode()
    supervisor = make_staff("boss@anzenpay.example", "supervisor")
    approval_approve(approval=approval, checker=supervisor)
    assert ChannelSwitch.objects.get(name="charge.credit_card").enabled


def test_asking_to_turn_on_a_channel_that_is_on_is_refused(client: Client) -> None:
    otp_login(client, make_staff("fraud@anzenpay.example", "fraud_analyst"))
    response = client.post(switch_url("signup"), {"turn": "on", "reason": "why not"}, follow=True)
    assert "is already on." in response.content.decode()
    assert not Approval.objects.exists()


def test_support_cannot_switch_and_unknown_channels_are_404(client: Client) -> None:
    otp_login(client, make_staff("support@anzenpay.example", "support"))
    assert client.post(switch_url("signup"), {"turn": "off", "reason": "x"}).status_code == 403
    assert ChannelSwitch.objects.get(name="signup").enabled
    otp_login(client, make_staff("fraud@anzenpay.example", "fraud_analyst"))
    assert client.post(switch_url("nope"), {"turn": "off", "reason": "x"}).status_code == 404
    assert client.get(switch_url("signup")).status_code == 405
    assert not StaffAction.objects.exists()


def test_console_shows_waiting_requests_and_active_freezes(client: Client) -> None:
    analyst = make_staff("fraud@anzenpay.example", "fraud_analyst")
    customer = make_customer("victim@example.jp")
    other = make_customer("other@example.jp", phone="+819011112222")
    freeze = account_freeze(user=customer, scope=AccountFreeze.Scope.DEBITS, reason="Drained by card top-ups", acting_user=analyst)
    lifted = account_freeze(user=other, scope=AccountFreeze.Scope.ALL, reason="old", acting_user=analyst)
    AccountFreeze.objects.filter(pk=lifted.pk).update(lifted_at=timezone.now())
    expired = account_freeze(
        user=other, scope=AccountFreeze.Scope.CREDITS, reason="ended", acting_user=analyst, expires_at=timezone.now() + timedelta(hours=1)
    )
    AccountFreeze.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    channel_switch_flip(name="payment.store", enabled=False, reason="attack", acting_user=analyst)
    approval = channel_switch_flip(name="payment.store", enabled=True, reason="over", acting_user=analyst)
    assert isinstance(approval, Approval)

    otp_login(client, analyst)
    body = client.get(reverse(CONSOLE)).content.decode()
    assert "Waiting for a second person" in body and "(1)" in body
    assert reverse("admin:backoffice_approval_change", args=[approval.pk]) in body
    assert "Active account freezes" in body
    assert "Drained by card top-ups" in body and reverse("admin:wallet_user_freezes", args=[customer.pk]) in body
    assert "Debits: payments and outgoing money" in body
    assert "Everything: 0 · Debits only: 1 · Credits only: 0" in body
    assert "old" not in body.split("Active account freezes")[1].split("Recent switch changes")[0]
    assert "ended" not in body
    assert freeze.pk


def test_support_sees_freezes_and_the_requests_waiting_for_a_second_person(client: Client) -> None:
    otp_login(client, make_staff("support@anzenpay.example", "support"))
    body = client.get(reverse(CONSOLE)).content.decode()
    assert "Active account freezes" in body
    assert "Waiting for a second person" in body


def test_console_needs_the_switch_view_permission(client: Client) -> None:
    otp_login(client, make_staff("norole@anzenpay.example"))
    assert client.get(reverse(CONSOLE)).status_code == 403
