"""Demo accounts for a newcomer's first look: customers, one staff member per role
(two supervisors and two finance users, so one can approve what the other asks: B04), a superuser, and
one new staff member who still has to enrol an authenticator. Six customers carry
a 7pay-shaped history (a cash top-up, then store spending within the hour) for a
look-back hunt to find; each amount stays under the live rule's thresholds, as the
real attackers' did.

Idempotent: running it again keeps the same accounts and TOTP secrets and resets
the demo passwords. Refused when DEBUG is off, so demo passwords never reach a
production database.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from wallet.models import Merchant, Terminal, TopUp, User
from wallet.services.payments import payment_code_issue, payment_redeem
from wallet.services.terminals import merchant_create, terminal_create, terminal_key_rotate
from wallet.services.topups import topup_cash

DEMO_MERCHANT = ("anzenmart-shinjuku", "AnzenMart 新宿店")
DEMO_TERMINALS = [("Register 1", Terminal.Kind.STORE_REGISTER), ("ATM 1", Terminal.Kind.ATM)]


@dataclass(frozen=True)
class DemoAccount:
    email: str
    password: str
    full_name: str
    name_kana: str = ""
    phone: str = ""
    role: str = ""  # group name; "" for customers
    superuser: bool = False
    totp: bool = True
    enrolment_open: bool = False


ACCOUNTS = [
    DemoAccount("hanako@example.jp", "demo-pass-hanako-2026", "山田 花子", "ヤマダ ハナコ", "+819012345678"),
    DemoAccount("taro@example.jp", "demo-pass-taro-2026", "佐藤 太郎", "サトウ タロウ", "+819087654321", totp=False),
    DemoAccount("support@anzenpay.example", "demo-pass-support-2026", "Demo Support", role="support"),
    DemoAccount("fraud@anzenpay.example", "demo-pass-fraud-2026", "Demo Fraud Analyst", role="fraud_analyst"),
    DemoAccount("finance@anzenpay.example", "demo-pass-finance-2026", "Demo Finance", role="finance"),
    # A second finance user: a payout file leaves only when one asks and the other approves (B04).
    DemoAccount("treasury@anzenpay.example", "demo-pass-treasury-2026", "Demo Treasury", role="finance"),
    DemoAccount("supervisor@anzenpay.example", "demo-pass-supervisor-2026", "Demo Supervisor", role="supervisor"),
    DemoAccount("duty@anzenpay.example", "demo-pass-duty-2026", "Demo Duty Supervisor", role="supervisor"),
    DemoAccount("admin@anzenpay.example", "demo-pass-admin-2026", "Demo Superuser", superuser=True),
    DemoAccount("newstaff@anzenpay.example", "demo-pass-newstaff-2026", "Demo New Staff", role="support", totp=False, enrolment_open=True),
]


# (email, full name, kana, top-up, purchases): goods that resell easily, as in INCIDENT.md.
FRAUD_VICTIMS = [
    ("kenji@example.jp", "鈴木 健二", "スズキ ケンジ", 9_000, [("電子タバコ", 4_980), ("ギフトカード", 3_000)]),
    ("yuki@example.jp", "高橋 由紀", "タカハシ ユキ", 9_500, [("ギフトカード", 5_000), ("ギフトカード", 3_000)]),
    ("akira@example.jp", "田中 明", "タナカ アキラ", 8_000, [("電子タバコ", 7_560)]),
    ("mai@example.jp", "伊藤 舞", "イトウ マイ", 9_000, [("ギフトカード", 5_000), ("電子タバコ", 3_980)]),
    ("sho@example.jp", "渡辺 翔", "ワタナベ ショウ", 7_000, [("ギフトカード", 6_500)]),
    ("rin@example.jp", "山本 凛", "ヤマモト リン", 9_900, [("電子タバコ", 4_980), ("ギフトカード", 4_900)]),
]


def totp_secret(device: TOTPDevice) -> str:
    """The key as an authenticator app takes it for manual entry (base32)."""
    return base64.b32encode(device.bin_key).decode().rstrip("=")


class Command(BaseCommand):
    help = "Create or refresh the demo accounts (development only) and print their logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--quiet-table", action="store_true", help="Do not print the table of logins.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo creates accounts with published passwords; it runs only with DJANGO_DEBUG=1.")
        rows: list[tuple[str, str, str, str]] = []
        with transaction.atomic():
            for account in ACCOUNTS:
                user = self._account(account)
                secret = ""
                if account.totp:
                    device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
                    if device is None:
                        device = TOTPDevice.objects.create(
                            user=user, name="Authenticator app", confirmed=True, tolerance=settings.OTP_TOTP_TOLERANCE
                        )
                    secret = totp_secret(device)
                role = account.role or ("superuser" if account.superuser else "customer")
                if account.enrolment_open:
                    secret = "(enrol at /staff/enrol/)"
                rows.append((account.email, account.password, role, secret or "-"))
            terminal_rows = self._merchant()
            register = Terminal.objects.get(merchant__code=DEMO_MERCHANT[0], name="Register 1")
            atm = Terminal.objects.get(merchant__code=DEMO_MERCHANT[0], name="ATM 1")
            self._demo_money(User.objects.get(email=ACCOUNTS[0].email), register)
            for email, full_name, kana, topup_yen, purchases in FRAUD_VICTIMS:
                victim = self._account(DemoAccount(email, f"demo-pass-{email.split('@')[0]}-2026", full_name, kana, totp=False))
                # Money moves only for an account with an authenticator (A13): the taken-over accounts had one.
                if not TOTPDevice.objects.filter(user=victim, confirmed=True).exists():
                    TOTPDevice.objects.create(user=victim, name="Authenticator app", confirmed=True, tolerance=settings.OTP_TOTP_TOLERANCE)
                self._demo_fraud(victim, atm, register, topup_yen, purchases)
        if not options["quiet_table"]:
            self._print(rows)
            self._print_terminals(terminal_rows)

    def _account(self, account: DemoAccount) -> User:
        now = timezone.now()
        user = User.objects.filter(email=account.email).first()
        if user is None:
            user = User.objects.create_user(account.email, account.password, full_name=account.full_name)
        elif not user.check_password(account.password):
            user.set_password(account.password)
        user.full_name = account.full_name
        user.name_kana = account.name_kana
        user.phone = account.phone
        user.email_verified_at = user.email_verified_at or now
        user.phone_verified_at = (user.phone_verified_at or now) if account.phone else None
        user.is_staff = bool(account.role or account.superuser)
        user.is_superuser = account.superuser
        user.is_active = True
        user.status = User.Status.ACTIVE
        if account.enrolment_open and not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            user.staff_enrollment_open_until = now + timedelta(days=7)
        else:
            user.staff_enrollment_open_until = None
        user.preferred_language = "ja" if not user.is_staff else "en"
        user.save()
        groups = list(Group.objects.filter(name=account.role)) if account.role else []
        if account.role and not groups:
            raise CommandError(f"Group {account.role!r} is missing: run `manage.py migrate` first.")
        user.groups.set(groups)
        return user

    def _merchant(self) -> list[tuple[str, str, str]]:
        """The demo store with a register and an ATM. Keys are stored as digests only,
        so each run rotates them and prints the new ones."""
        code, name = DEMO_MERCHANT
        merchant = Merchant.objects.filter(code=code).first() or merchant_create(name=name, code=code)
        rows = []
        for terminal_name, kind in DEMO_TERMINALS:
            terminal = Terminal.objects.filter(merchant=merchant, name=terminal_name).first()
            if terminal is None:
                terminal, key = terminal_create(merchant=merchant, name=terminal_name, kind=kind)
            else:
                terminal, key = terminal_key_rotate(terminal=terminal)
            rows.append((f"{name} / {terminal_name}", str(terminal.get_kind_display()), key))
        return rows

    def _demo_money(self, customer: User, register: Terminal) -> None:
        """A first balance and a purchase for the demo customer, once."""
        if TopUp.objects.filter(user=customer).exists():
            return
        topup_cash(terminal=register, code=payment_code_issue(user=customer).code, amount_yen=20_000, idempotency_key="demo-topup")
        payment_redeem(
            terminal=register,
            code=payment_code_issue(user=customer).code,
            amount_yen=1_280,
            idempotency_key="demo-payment",
            description="おにぎり・お茶",
        )

    def _demo_fraud(self, victim: User, atm: Terminal, register: Terminal, topup_yen: int, purchases: list[tuple[str, int]]) -> None:
        """A taken-over account's day, once: cash in at the ATM, then resellable goods at the register."""
        if TopUp.objects.filter(user=victim).exists():
            return
        key = victim.email.split("@")[0]
        topup_cash(terminal=atm, code=payment_code_issue(user=victim).code, amount_yen=topup_yen, idempotency_key=f"demo-fraud-{key}-topup")
        for index, (description, amount_yen) in enumerate(purchases):
            payment_redeem(
                terminal=register,
                code=payment_code_issue(user=victim).code,
                amount_yen=amount_yen,
                idempotency_key=f"demo-fraud-{key}-{index}",
                description=description,
            )

    def _print_terminals(self, rows: list[tuple[str, str, str]]) -> None:
        out = self.stdout
        out.write("Store terminals (API keys; send as 'Authorization: Terminal <key>', new keys on every seed):")
        for name, kind, key in rows:
            out.write(f"  {name} ({kind}): {key}")
        out.write("")

    def _print(self, rows: list[tuple[str, str, str, str]]) -> None:
        site = settings.SITE_URL
        out = self.stdout
        out.write("")
        out.write(self.style.WARNING("DEMO ONLY: these passwords and secrets are public. Never use them outside development."))
        out.write("")
        header = ("login", "password", "role", "TOTP secret (base32)")
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
        line = "  ".join(f"{{:<{w}}}" for w in widths)
        out.write(line.format(*header))
        out.write(line.format(*("-" * w for w in widths)))
        for row in rows:
            out.write(line.format(*row))
        out.write("")
        out.write(f"Customer site:   {site}/")
        out.write(f"Customer API:    {site}/api/v1/  (docs: {site}/api/docs/)")
        out.write(f"Staff admin:     {site}/admin/  (email, password and a code from the TOTP secret)")
        out.write(f"Staff enrolment: {site}/staff/enrol/  (newstaff@ sets up an authenticator here)")
        victims = ", ".join(email.split("@")[0] + "@" for email, *_rest in FRAUD_VICTIMS)
        out.write(f"Taken-over accounts for a look-back hunt: {victims} (cash top-up, then store spending within the hour).")
        out.write("Add a secret to an authenticator app by manual entry, or print a code with:")
        out.write("  .venv/bin/python -c \"import pyotp; print(pyotp.TOTP('<secret>').now())\"")
