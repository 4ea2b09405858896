"""B08 for the refund staff side: each role (support, fraud analyst, finance,
supervisor; and a staff member with no role) opens only the refund desk pages and
refund admin lists its permissions allow, sees full account numbers only with the
finance permissions, and does only the acts it may.

Written out from refunds/migrations/0002_role_permissions.py rather than derived
from the grants, so a wrong grant fails here.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backoffice.admin_site import staff_admin_site
from backoffice.models import StaffAction
from refunds.models import BankDetails, BankMasterOverride, RefundClaim, ShutdownProgramme
from tests.backoffice.helpers import make_staff, otp_login
from tests.refunds.factories import bank_claim, funded_customer, make_programme
from wallet.models import User

pytestmark = pytest.mark.django_db

ROLES = ["support", "fraud_analyst", "finance", "supervisor", None]
EVERY_ROLE = {"support", "fraud_analyst", "finance", "supervisor"}
FINANCE = {"finance", "supervisor"}

# Refund desk pages (URL name, args key): the roles that open them; everyone else gets 403.
DESK_PAGES: dict[str, set[str]] = {
    "claims_review": EVERY_ROLE,
    "claims_export": EVERY_ROLE,
    "claim_detail": EVERY_ROLE,
    "late_claim": {"support", "supervisor"},
    "reports": FINANCE,
    "reports_export": FINANCE,
    "unclaimed": FINANCE,
    "unclaimed_export": FINANCE,
}

# Refund models in the admin: the roles whose list opens.
ADMIN_MODELS: dict[str, set[str]] = {
    "refunds.shutdownprogramme": EVERY_ROLE,
    "refunds.refundclaim": EVERY_ROLE,
    "refunds.claimevent": EVERY_ROLE,
    "refunds.bankdetails": EVERY_ROLE,
    "refunds.postaldetails": {"support", "finance", "supervisor"},
    "refunds.payoutbatch": EVERY_ROLE,
    "refunds.payout": EVERY_ROLE,
    "refunds.payoutresultimport": FINANCE,
    "refunds.bankmasteroverride": FINANCE,
}
# Never in the admin: the contact route's proof holds digests of a link token and an SMS code.
NEVER_REGISTERED = {"refunds.contactproof"}

INDEX_LINKS: dict[str, set[str]] = {
    "refunds_staff:claims_review": EVERY_ROLE,
    "refunds_staff:late_claim": {"support", "supervisor"},
    "refunds_staff:reports": FINANCE,
    "admin:refunds_shutdownprogramme_changelist": EVERY_ROLE,
}


@pytest.fixture
def claim() -> RefundClaim:
    """A claim in review (the account holder's name does not match), in a programme whose deadline has passed."""
    programme = make_programme()
    claim = bank_claim(funded_customer(amount_yen=2_500, password=None), 2_500, holder_name="ｻﾄｳ ｼﾞﾛｳ", account_number="7654321")
    now = timezone.now()
    ShutdownProgramme.objects.filter(pk=programme.pk).update(
        claims_open_at=now - timedelta(days=70), service_ends_at=now - timedelta(days=69), claims_close_at=now - timedelta(days=1)
    )
    funded_customer("late@example.jp", amount_yen=900, password=None)
    return claim


def login(client: Client, role: str | None) -> User:
    user = make_staff(f"{role or 'norole'}@anzenpay.example", role)
    otp_login(client, user)
    return user


def desk_url(name: str, claim: RefundClaim) -> str:
    arguments: dict[str, list[object]] = {"claim_detail": [claim.pk], "reports_export": ["states"]}
    args = arguments.get(name, [])
    return reverse(f"refunds_staff:{name}", args=args)


@pytest.mark.parametrize("page", sorted(DESK_PAGES))
@pytest.mark.parametrize("role", ROLES)
def test_b08_refund_desk_pages_open_only_for_their_roles(client: Client, claim: RefundClaim, role: str | None, page: str) -> None:
    login(client, role)
    status = client.get(desk_url(page, claim)).status_code
    assert status == (200 if role in DESK_PAGES[page] else 403), (role, page, status)


@pytest.mark.parametrize("role", ROLES)
def test_b08_refund_admin_lists_open_only_for_their_roles(client: Client, claim: RefundClaim, role: str | None) -> None:
    registered = {model._meta.label_lower for model in staff_admin_site._registry}
    assert set(ADMIN_MODELS) <= registered
    assert not NEVER_REGISTERED & registered
    login(client, role)
    for label, roles in ADMIN_MODELS.items():
        app_label, model_name = label.split(".")
        response = client.get(reverse(f"admin:{app_label}_{model_name}_changelist"))
        assert response.status_code == (200 if role in roles else 403), (role, label, response.status_code)


@pytest.mark.parametrize("role", ROLES)
def test_b08_only_supervisors_make_a_programme_and_only_finance_corrects_the_bank_master(client: Client, role: str | None) -> None:
    login(client, role)
    assert client.get(reverse("admin:refunds_shutdownprogramme_add")).status_code == (200 if role == "supervisor" else 403)
    assert client.get(reverse("admin:refunds_bankmasteroverride_add")).status_code == (200 if role in FINANCE else 403)
    for refused in ("refunds_refundclaim_add", "refunds_bankdetails_add", "refunds_payout_add", "refunds_payoutbatch_add"):
        assert client.get(reverse(f"admin:{refused}")).status_code == 403  # records, not forms


@pytest.mark.parametrize("role", ["finance", "supervisor"])
def test_b08_a_bank_master_correction_is_audited_and_seen_at_once(client: Client, role: str, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    from refunds.services.banks import bank_master

    login(client, role)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:refunds_bankmasteroverride_add"),
            {"bank_code": "0001", "branch_code": "999", "name": "新宿新支店", "kana": "ｼﾝｼﾞﾕｸｼﾝ", "note": "opened this month"},
        )
    assert response.status_code == 302
    override = BankMasterOverride.objects.get()
    assert StaffAction.objects.get(action="refunds.bankmasteroverride.add").target_id == str(override.pk)
    branch = bank_master().branch("0001", "999")
    assert branch is not None and branch.name == "新宿新支店"
    bad = client.post(reverse("admin:refunds_bankmasteroverride_add"), {"bank_code": "1", "branch_code": "99", "name": ""})
    assert bad.status_code == 200 and BankMasterOverride.objects.count() == 1


@pytest.mark.parametrize("role", ROLES)
def test_b08_full_account_numbers_only_for_finance(client: Client, claim: RefundClaim, role: str | None) -> None:
    login(client, role)
    details = BankDetails.objects.get(claim=claim)
    pages = [
        reverse("admin:refunds_refundclaim_change", args=[claim.pk]),
        reverse("admin:refunds_bankdetails_change", args=[details.pk]),
        reverse("admin:refunds_bankdetails_changelist"),
        desk_url("claim_detail", claim),
        desk_url("claims_review", claim),
    ]
    for url in pages:
        response = client.get(url)
        if role is None:
            assert response.status_code == 403
            continue
        body = response.content.decode()
        assert response.status_code == 200, url
        assert ("7654321" in body) is (role in FINANCE), (role, url)
        assert "****321" in body or role in FINANCE, (role, url)
        assert details.fingerprint not in body


@pytest.mark.parametrize("role", ROLES)
def test_b08_admin_index_links_only_the_refund_pages_the_role_opens(client: Client, role: str | None) -> None:
    login(client, role)
    body = client.get(reverse("admin:index")).content.decode()
    for name, roles in INDEX_LINKS.items():
        assert (f'href="{reverse(name)}"' in body) is (role in roles), (role, name)
    assert ('id="refunds-module"' in body) is (role is not None)


@pytest.mark.parametrize("role", ROLES)
def test_b08_only_reviewers_decide_claims(client: Client, claim: RefundClaim, role: str | None) -> None:
    login(client, role)
    response = client.post(
        reverse("refunds_staff:claim_decide", args=[claim.pk]), {"decision": "approve", "state": "review", "note": "ID seen"}
    )
    allowed = role in {"fraud_analyst", "finance", "supervisor"}
    assert response.status_code == (302 if allowed else 403)
    claim.refresh_from_db()
    assert (claim.state == RefundClaim.State.APPROVED) is allowed
    assert StaffAction.objects.filter(action="refund.claim_approve").exists() is allowed


@pytest.mark.parametrize("role", ROLES)
def test_b08_only_support_and_supervisors_file_late_claims(client: Client, claim: RefundClaim, role: str | None) -> None:
    login(client, role)
    response = client.post(
        reverse("refunds_staff:late_claim"),
        {
            "email": "late@example.jp",
            "method": "bank",
            "bank": "0001",
            "branch": "001",
            "account_type": "1",
            "account_number": "1234567",
            "holder_name": "ヤマダ ハナコ",
            "confirmed_amount_yen": "900",
            "reason": "Called support after the deadline.",
        },
    )
    allowed = role in {"support", "supervisor"}
    assert response.status_code == (302 if allowed else 403)
    assert RefundClaim.objects.filter(late=True).exists() is allowed


@pytest.mark.parametrize("name", ["claims_review", "reports", "late_claim"])
def test_b08_refund_desk_pages_need_a_verified_second_factor(client: Client, claim: RefundClaim, name: str) -> None:
    client.force_login(make_staff("admin@anzenpay.example", superuser=True))  # password only
    response = client.get(desk_url(name, claim))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
