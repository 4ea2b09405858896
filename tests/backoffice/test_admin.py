from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.models import StaffAction
from tests.backoffice.helpers import STAFF_PASSWORD, make_staff, otp_login
from tests.conftest import make_customer, totp_for
from wallet.models import AuthEvent, ChannelSwitch, Notification, User

pytestmark = pytest.mark.django_db


def test_staff_signs_in_with_password_and_code(client: Client) -> None:
    staff = make_staff("support@anzenpay.example", "support")
    code = totp_for(TOTPDevice.objects.get(user=staff)).now()
    response = client.post(reverse("admin:login"), {"username": "Support@AnzenPay.example", "password": STAFF_PASSWORD, "otp_token": code})
    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200
    assert AuthEvent.objects.filter(user=staff, kind=AuthEvent.Kind.SECOND_FACTOR_SUCCEEDED, detail__purpose="staff_login").exists()
    assert AuthEvent.objects.filter(user=staff, kind=AuthEvent.Kind.LOGIN_SUCCEEDED, detail__site="staff_admin").count() == 1


def test_staff_login_without_code_is_refused(client: Client) -> None:
    make_staff("support@anzenpay.example", "support")
    response = client.post(reverse("admin:login"), {"username": "support@anzenpay.example", "password": STAFF_PASSWORD})
    assert response.status_code == 200
    assert "Enter the code from your authenticator app." in response.content.decode()
    assert client.get(reverse("admin:index")).status_code == 302


def test_staff_login_code_works_once(client: Client) -> None:
    staff = make_staff("support@anzenpay.example", "support")
    code = totp_for(TOTPDevice.objects.get(user=staff)).now()
    data = {"username": staff.email, "password": STAFF_PASSWORD, "otp_token": code}
    assert client.post(reverse("admin:login"), data).status_code == 302
    other = Client()
    response = other.post(reverse("admin:login"), data)
    assert response.status_code == 200
    assert other.get(reverse("admin:index")).status_code == 302


def test_frozen_staff_cannot_sign_in(client: Client) -> None:
    staff = make_staff("support@anzenpay.example", "support")
    User.objects.filter(pk=staff.pk).update(status=User.Status.FROZEN)
    code = totp_for(TOTPDevice.objects.get(user=staff)).now()
    response = client.post(reverse("admin:login"), {"username": staff.email, "password": STAFF_PASSWORD, "otp_token": code})
    assert response.status_code == 200
    assert client.get(reverse("admin:index")).status_code == 302


def test_login_page_links_to_enrolment(client: Client) -> None:
    body = client.get(reverse("admin:login")).content.decode()
    assert reverse("backoffice:enrol") in body
    assert 'name="otp_token"' in body


def test_user_admin_never_offers_a_password(client: Client) -> None:
    admin = make_staff("admin@anzenpay.example", superuser=True)
    customer = make_customer()
    otp_login(client, admin)
    page = client.get(reverse("admin:wallet_user_change", args=[customer.pk])).content.decode()
    assert 'name="password"' not in page
    algorithm = customer.password.split("$", 1)[0]  # md5 under tests/settings.py, pbkdf2_sha256 in production
    assert customer.password not in page and algorithm not in page and "pbkdf2" not in page
    assert client.get(f"/admin/wallet/user/{customer.pk}/password/").status_code in {302, 404}
    assert client.get(reverse("admin:wallet_user_delete", args=[customer.pk])).status_code == 403
    support = make_staff("support@anzenpay.example", "support")
    viewer = otp_login(Client(), support)
    page = viewer.get(reverse("admin:wallet_user_change", args=[customer.pk])).content.decode()
    assert customer.email in page
    assert 'name="password"' not in page and 'name="full_name"' not in page  # view only, no password anywhere


def test_user_list_search_and_filters(client: Client) -> None:
    staff = make_staff("support@anzenpay.example", "support")
    make_customer("hanako@example.jp")
    make_customer("taro@example.jp", full_name="佐藤 太郎", phone="+819087654321")
    otp_login(client, staff)
    url = reverse("admin:wallet_user_changelist")
    body = client.get(url, {"q": "+81908765"}).content.decode()
    assert "taro@example.jp" in body and "hanako@example.jp" not in body
    assert client.get(url, {"status__exact": "active", "is_staff__exact": "0", "verified": "yes"}).status_code == 200


def test_staff_edit_of_a_customer_is_audited(client: Client) -> None:
    admin = make_staff("admin@anzenpay.example", superuser=True)
    customer = make_customer()
    otp_login(client, admin)
    response = client.post(
        reverse("admin:wallet_user_change", args=[customer.pk]),
        {
            "full_name": "山田 花子 (new)",
            "name_kana": customer.name_kana,
            "preferred_language": customer.preferred_language,
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    customer.refresh_from_db()
    assert customer.full_name == "山田 花子 (new)"
    row = StaffAction.objects.get(action="wallet.user.change")
    assert row.actor == admin
    assert row.before == {"full_name": "山田 花子"}
    assert row.after == {"full_name": "山田 花子 (new)"}


def test_superuser_creates_staff_without_choosing_a_password(client: Client) -> None:
    admin = make_staff("admin@anzenpay.example", superuser=True)
    otp_login(client, admin)
    from django.contrib.auth.models import Group

    support = Group.objects.get(name="support")
    response = client.post(
        reverse("admin:wallet_user_add"), {"email": "New.Staff@AnzenPay.example", "full_name": "New", "groups": [support.pk]}
    )
    assert response.status_code == 302
    user = User.objects.get(email="new.staff@anzenpay.example")
    assert user.is_staff and not user.has_usable_password()
    assert list(user.groups.all()) == [support]
    assert user.staff_enrollment_open_until is not None
    assert StaffAction.objects.filter(action="staff.created", actor=admin, target_id=str(user.pk)).exists()
    # The new member sets their own password from the reset mail (outbox row, sent on commit).
    assert list(Notification.objects.filter(user=user).values_list("kind", "to_address")) == [
        ("password_reset", "new.staff@anzenpay.example")
    ]


def test_support_cannot_add_users(client: Client) -> None:
    staff = make_staff("support@anzenpay.example", "support")
    otp_login(client, staff)
    assert client.get(reverse("admin:wallet_user_add")).status_code == 403


def test_channel_switch_list_shows_descriptions(client: Client) -> None:
    staff = make_staff("fraud@anzenpay.example", "fraud_analyst")
    otp_login(client, staff)
    body = client.get(reverse("admin:wallet_channelswitch_changelist")).content.decode()
    assert "Top-ups charged to a credit card." in body
    assert reverse("admin:wallet_channelswitch_flip", args=["charge.credit_card"]) in body
    # No plain edit form.
    switch = ChannelSwitch.objects.get(name="charge.credit_card")
    response = client.post(reverse("admin:wallet_channelswitch_change", args=[switch.pk]), {"enabled": ""})
    assert response.status_code == 403
    switch.refresh_from_db()
    assert switch.enabled


def test_flip_needs_a_reason(client: Client) -> None:
    staff = make_staff("fraud@anzenpay.example", "fraud_analyst")
    otp_login(client, staff)
    response = client.post(reverse("admin:wallet_channelswitch_flip", args=["charge.credit_card"]), {"reason": "   "})
    assert response.status_code == 400
    assert ChannelSwitch.objects.get(name="charge.credit_card").enabled
    assert not StaffAction.objects.exists()


def test_fraud_analyst_turns_a_channel_off_with_an_audit_row(client: Client) -> None:
    staff = make_staff("fraud@anzenpay.example", "fraud_analyst")
    otp_login(client, staff)
    url = reverse("admin:wallet_channelswitch_flip", args=["charge.credit_card"])
    assert "Top-ups charged to a credit card." in client.get(url).content.decode()
    response = client.post(url, {"reason": "Card testing from many accounts"})
    assert response.status_code == 302
    switch = ChannelSwitch.objects.get(name="charge.credit_card")
    assert not switch.enabled and switch.changed_by == staff and switch.reason == "Card testing from many accounts"
    row = StaffAction.objects.get()
    assert (row.action, row.actor, row.before, row.after) == ("channel.disable", staff, {"enabled": True}, {"enabled": False})
    assert "Card testing from many accounts" in client.get(url).content.decode()  # history


def test_unknown_channel_is_404(client: Client) -> None:
    staff = make_staff("fraud@anzenpay.example", "fraud_analyst")
    otp_login(client, staff)
    assert client.get(reverse("admin:wallet_channelswitch_flip", args=["nope"])).status_code == 404


def test_staff_action_log_is_read_only_for_everybody(client: Client) -> None:
    admin = make_staff("admin@anzenpay.example", superuser=True)
    otp_login(client, admin)
    client.post(reverse("admin:wallet_channelswitch_flip", args=["signup"]), {"reason": "test"})
    row = StaffAction.objects.get()
    assert client.get(reverse("admin:backoffice_staffaction_changelist")).status_code == 200
    assert client.get(reverse("admin:backoffice_staffaction_add")).status_code == 403
    assert client.post(reverse("admin:backoffice_staffaction_change", args=[row.pk]), {"reason": "edited"}).status_code == 403
    assert client.post(reverse("admin:backoffice_staffaction_delete", args=[row.pk]), {"post": "yes"}).status_code == 403
    row.refresh_from_db()
    assert row.reason == "test"


def test_supervisor_exports_csv_and_the_export_is_audited(client: Client) -> None:
    supervisor = make_staff("supervisor@anzenpay.example", "supervisor")
    otp_login(client, supervisor)
    client.post(reverse("admin:wallet_channelswitch_flip", args=["signup"]), {"reason": "=HYPERLINK(evil)"})
    assert "Export CSV" in client.get(reverse("admin:backoffice_staffaction_changelist")).content.decode()
    response = client.get(reverse("admin:backoffice_staffaction_export"), {"action__exact": "channel.disable"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    lines = body.strip().splitlines()
    assert lines[0].startswith("id,created_at,actor,action")
    assert len(lines) == 2 and "channel.disable" in lines[1]
    assert "'=HYPERLINK(evil)" in lines[1]  # no formula injection
    export = StaffAction.objects.get(action="staff_action.export")
    assert export.actor == supervisor and export.after["rows"] == 1


def test_staff_action_export_selected_action(client: Client) -> None:
    supervisor = make_staff("supervisor@anzenpay.example", "supervisor")
    otp_login(client, supervisor)
    client.post(reverse("admin:wallet_channelswitch_flip", args=["signup"]), {"reason": "x"})
    row = StaffAction.objects.get()
    response = client.post(reverse("admin:backoffice_staffaction_changelist"), {"action": "export_selected", "_selected_action": [row.pk]})
    assert response.status_code == 200
    content = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert len(content.decode().strip().splitlines()) == 2


def test_read_only_logs_hide_secrets(client: Client, customer_totp) -> None:
    admin = make_staff("admin@anzenpay.example", superuser=True)
    otp_login(client, admin)
    from wallet.models import UserSession

    session = UserSession.objects.filter(user=admin).first()
    assert session is not None
    page = client.get(reverse("admin:wallet_usersession_change", args=[session.pk])).content.decode()
    assert session.session_key not in page
    # OTP devices and their keys are not in the staff admin at all.
    assert client.get("/admin/otp_totp/totpdevice/").status_code == 404
