from __future__ import annotations

import re
from io import StringIO

import pyotp
import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from wallet.management.commands.seed_demo import FRAUD_VICTIMS
from wallet.models import Payment, RiskDecision, RiskOutcome, TopUp, User
from wallet.selectors import wallet_balance
from wallet.services.terminals import terminal_authenticate

pytestmark = pytest.mark.django_db


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def _without_keys(output: str) -> str:
    return re.sub(r"apt_\S+", "<key>", output)


def test_seed_demo_opens_a_store_whose_printed_keys_work_and_funds_the_demo_customer_once(settings) -> None:
    settings.DEBUG = True
    _seed()
    output = _seed()
    keys = re.findall(r"apt_\S+", output)
    assert len(keys) == 2
    assert sorted(terminal_authenticate(key).kind for key in keys) == ["atm", "store_register"]  # type: ignore[union-attr]
    assert wallet_balance(User.objects.get(email="hanako@example.jp")) == 20_000 - 1_280


def test_seed_demo_creates_every_demo_account_and_is_idempotent(settings) -> None:
    settings.DEBUG = True
    first = _seed()
    secrets_first = dict(TOTPDevice.objects.values_list("user__email", "key"))
    second = _seed()
    # 2 customers, 6 staff (two supervisors), the superuser and 6 taken-over customers.
    assert User.objects.count() == 16
    assert dict(TOTPDevice.objects.values_list("user__email", "key")) == secrets_first
    # Terminal keys are stored as digests, so each run rotates them; everything else reads the same.
    assert _without_keys(first) == _without_keys(second)
    assert "DEMO ONLY" in first and "demo-pass-hanako-2026" in first and "/admin/" in first

    hanako = User.objects.get(email="hanako@example.jp")
    taro = User.objects.get(email="taro@example.jp")
    assert hanako.check_password("demo-pass-hanako-2026") and hanako.is_fully_verified and not hanako.is_staff
    assert TOTPDevice.objects.filter(user=hanako, confirmed=True).exists()
    assert taro.is_fully_verified and not TOTPDevice.objects.filter(user=taro).exists()
    for email, role in [
        ("support@anzenpay.example", "support"),
        ("fraud@anzenpay.example", "fraud_analyst"),
        ("finance@anzenpay.example", "finance"),
        ("treasury@anzenpay.example", "finance"),
        ("supervisor@anzenpay.example", "supervisor"),
        ("duty@anzenpay.example", "supervisor"),
    ]:
        staff = User.objects.get(email=email)
        assert staff.is_staff and not staff.is_superuser
        assert list(staff.groups.values_list("name", flat=True)) == [role]
        assert TOTPDevice.objects.filter(user=staff, confirmed=True).exists()
    admin = User.objects.get(email="admin@anzenpay.example")
    assert admin.is_superuser and admin.is_staff
    newstaff = User.objects.get(email="newstaff@anzenpay.example")
    assert newstaff.staff_enrollment_open_until is not None


def test_printed_secret_signs_the_supervisor_in_to_the_admin(settings) -> None:
    settings.DEBUG = True
    output = _seed()
    line = next(row for row in output.splitlines() if row.startswith("supervisor@anzenpay.example"))
    _email, password, _role, secret = line.split()
    client = Client()
    response = client.post(
        reverse("admin:login"), {"username": "supervisor@anzenpay.example", "password": password, "otp_token": pyotp.TOTP(secret).now()}
    )
    assert response.status_code == 302
    assert client.get(reverse("admin:backoffice_staffaction_changelist")).status_code == 200


def test_seed_demo_refuses_to_run_in_production(settings) -> None:
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DJANGO_DEBUG=1"):
        call_command("seed_demo", stdout=StringIO())
    assert not User.objects.exists()


def test_seed_demo_leaves_a_7pay_shaped_history_under_the_live_rule_for_a_hunt_to_find(settings) -> None:
    settings.DEBUG = True
    _seed()
    _seed()
    for email, _name, _kana, topup_yen, purchases in FRAUD_VICTIMS:
        victim = User.objects.get(email=email)
        assert list(TopUp.objects.filter(user=victim).values_list("channel", "amount_yen")) == [("charge.atm", topup_yen)]
        assert sorted(Payment.objects.filter(user=victim).values_list("amount_yen", flat=True)) == sorted(p for _d, p in purchases)
        assert wallet_balance(victim) == topup_yen - sum(p for _d, p in purchases)
    assert not RiskDecision.objects.filter(outcome=RiskOutcome.REVIEW).exists()
