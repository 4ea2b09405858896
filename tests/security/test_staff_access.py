"""A05 (staff part), B07 (audit log) and B08 (staff roles) from SECURITY.md."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.test import Client
from django.urls import reverse

from backoffice.models import StaffAction
from tests.backoffice.helpers import make_staff, otp_login
from tests.conftest import enrol_totp, make_customer
from wallet.models import ChannelSwitch

pytestmark = pytest.mark.django_db

ADMIN_PAGES = [
    "admin:index",
    "admin:wallet_user_changelist",
    "admin:wallet_authevent_changelist",
    "admin:wallet_channelswitch_changelist",
    "admin:backoffice_staffaction_changelist",
]


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_a05_no_admin_page_without_a_verified_second_factor(client: Client, page: str) -> None:
    admin = make_staff("admin@anzenpay.example", superuser=True)
    client.force_login(admin)  # password only: the session has no verified device
    response = client.get(reverse(page))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_a05_staff_flip_view_needs_a_verified_second_factor(client: Client) -> None:
    staff = make_staff("fraud@anzenpay.example", "fraud_analyst")
    client.force_login(staff)
    response = client.post(reverse("admin:wallet_channelswitch_flip", args=["signup"]), {"reason": "x"})
    assert response.status_code == 302
    assert ChannelSwitch.objects.get(name="signup").enabled


def test_a05_customer_with_totp_cannot_open_the_admin(client: Client) -> None:
    customer = make_customer()
    enrol_totp(customer)
    otp_login(client, customer)
    assert client.get(reverse("admin:index")).status_code == 302


def test_a05_staff_without_a_device_cannot_sign_in(client: Client) -> None:
    staff = make_staff("new@anzenpay.example", "support", totp=False)
    response = client.post(
        reverse("admin:login"), {"username": staff.email, "password": "staff horse battery staple", "otp_token": "123456"}
    )
    assert response.status_code == 200
    assert client.get(reverse("admin:index")).status_code == 302


def test_b07_trigger_refuses_update_and_delete_of_staff_actions_even_raw_sql() -> None:
    staff = make_staff("admin@anzenpay.example", superuser=True)
    with transaction.atomic():
        row = StaffAction.objects.create(actor=staff, action="test.act", reason="original")
    for sql in (
        "UPDATE backoffice_staffaction SET reason = 'tampered' WHERE id = %s",
        "DELETE FROM backoffice_staffaction WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [row.pk])
    row.refresh_from_db()
    assert row.reason == "original"
    with pytest.raises(DatabaseError), transaction.atomic():
        StaffAction.objects.filter(pk=row.pk).update(reason="tampered")
    with pytest.raises(DatabaseError), transaction.atomic():
        StaffAction.objects.filter(pk=row.pk).delete()
    assert StaffAction.objects.filter(pk=row.pk, reason="original").exists()


# B08: each role sees and does only what its permissions allow.
ROLE_ACCESS = {
    # role: (users list, auth events, switch list, flip a switch, audit log, export audit log)
    "support": (200, 200, 200, 403, 403, 403),
    "fraud_analyst": (200, 200, 200, 200, 200, 403),
    "finance": (200, 403, 200, 403, 200, 403),
    "supervisor": (200, 200, 200, 200, 200, 200),
}


@pytest.mark.parametrize("role", sorted(ROLE_ACCESS))
def test_b08_staff_roles_see_only_what_their_permissions_allow(client: Client, role: str) -> None:
    staff = make_staff(f"{role}@anzenpay.example", role)
    otp_login(client, staff)
    got = (
        client.get(reverse("admin:wallet_user_changelist")).status_code,
        client.get(reverse("admin:wallet_authevent_changelist")).status_code,
        client.get(reverse("admin:wallet_channelswitch_changelist")).status_code,
        client.get(reverse("admin:wallet_channelswitch_flip", args=["signup"])).status_code,
        client.get(reverse("admin:backoffice_staffaction_changelist")).status_code,
        client.get(reverse("admin:backoffice_staffaction_export")).status_code,
    )
    assert got == ROLE_ACCESS[role]


def test_b08_support_cannot_flip_a_switch_by_post(client: Client) -> None:
    staff = make_staff("support@anzenpay.example", "support")
    otp_login(client, staff)
    response = client.post(reverse("admin:wallet_channelswitch_flip", args=["signup"]), {"reason": "I want to"})
    assert response.status_code == 403
    assert ChannelSwitch.objects.get(name="signup").enabled
    assert not StaffAction.objects.exists()


def test_b08_no_role_edits_customers(client: Client) -> None:
    customer = make_customer()
    for role in ROLE_ACCESS:
        staff = make_staff(f"{role}@anzenpay.example", role)
        otp_login(client, staff)
        response = client.post(reverse("admin:wallet_user_change", args=[customer.pk]), {"full_name": "changed"})
        assert response.status_code == 403
    customer.refresh_from_db()
    assert customer.full_name != "changed"
