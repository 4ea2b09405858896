"""B08 for staff: each role (support, fraud analyst, finance, supervisor; and a staff
member with no role) opens and does only what its permissions allow, in the admin's
model lists, on the incident pages and in the acts that change something.

The matrix below is the intended one, read from the grant migrations
(backoffice/migrations/0004–0009); it is written out rather than derived from the
permissions so that a wrong grant fails here.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import NoReverseMatch, reverse

from backoffice.admin_site import staff_admin_site
from backoffice.models import Approval, MassReset, StaffAction
from backoffice.services.switches import channel_switch_flip
from tests.backoffice.helpers import make_staff, otp_login
from tests.conftest import make_customer
from wallet.models import AccountFreeze, ChannelSwitch, User

pytestmark = pytest.mark.django_db

ROLES = ["support", "fraud_analyst", "finance", "supervisor", None]

# --- Model lists in the admin ------------------------------------------------------

SUPPORT_MODELS = {
    "wallet.user", "wallet.authevent", "wallet.knowndevice", "wallet.usersession", "wallet.notification",
    "wallet.channelswitch", "wallet.channelswitchchange",
    "wallet.topup", "wallet.payment", "wallet.paymentrefund", "wallet.card", "wallet.transactionreport",
    "wallet.accountfreeze", "wallet.merchant", "wallet.terminal", "wallet.riskdecision",
    "backoffice.case", "backoffice.casetransaction", "backoffice.caseevent", "backoffice.compensation", "backoffice.massreset",
    "backoffice.approval",
}  # fmt: skip
FRAUD_ANALYST_MODELS = SUPPORT_MODELS | {
    "wallet.riskrule", "wallet.riskrulechange", "wallet.limitpolicy", "wallet.cardreversal",
    "backoffice.staffaction", "backoffice.hunt", "backoffice.hunthit",
}  # fmt: skip
FINANCE_MODELS = {
    "wallet.user", "wallet.ledgeraccount", "wallet.transfer", "wallet.entry", "wallet.topup", "wallet.payment",
    "wallet.paymentrefund", "wallet.merchant", "wallet.limitpolicy", "wallet.cardreversal",
    "backoffice.staffaction", "backoffice.case", "backoffice.casetransaction", "backoffice.caseevent", "backoffice.compensation",
    "wallet.channelswitch",
    # Finance follows payout-release requests (refunds), which a second finance user decides.
    "backoffice.approval",
    # and edits the payout schedule.
    "django_celery_beat.periodictask", "django_celery_beat.crontabschedule",
}  # fmt: skip
MODELS_SEEN = {
    "support": SUPPORT_MODELS,
    "fraud_analyst": FRAUD_ANALYST_MODELS,
    "finance": FINANCE_MODELS,
    "supervisor": FRAUD_ANALYST_MODELS | FINANCE_MODELS,
    None: set(),
}
# Seen by nobody but a superuser, whatever the role.
SUPERUSER_ONLY_MODELS = {"auth.group"}


def registered_models() -> set[str]:
    """The wallet's and back-office's models; the refund desk has its own matrix (test_b08_refund_staff_roles)."""
    return {model._meta.label_lower for model in staff_admin_site._registry if model._meta.app_label != "refunds"}


def changelist(label: str) -> str:
    app_label, model_name = label.split(".")
    return reverse(f"admin:{app_label}_{model_name}_changelist")


def login(client: Client, role: str | None) -> User:
    user = make_staff(f"{role or 'norole'}@anzenpay.example", role)
    otp_login(client, user)
    return user


def opens(client: Client, url: str) -> bool:
    """The list shows, itself or the incident page it hands over to (followed); refused is 403."""
    response = client.get(url, follow=True)
    assert not response.redirect_chain or not response.redirect_chain[-1][0].startswith(reverse("admin:login")), url
    assert response.status_code in (200, 403), (url, response.status_code)
    return response.status_code == 200


@pytest.mark.parametrize("role", ROLES)
def test_b08_each_role_opens_only_its_model_lists(client: Client, role: str | None) -> None:
    login(client, role)
    registered = registered_models()
    opened = {label for label in sorted(registered) if opens(client, changelist(label))}
    assert opened == MODELS_SEEN[role] & registered
    assert not SUPERUSER_ONLY_MODELS & opened


def test_b08_support_sees_customers_but_not_the_ledger_and_finance_the_reverse(client: Client) -> None:
    login(client, "support")
    assert client.get(changelist("wallet.user")).status_code == 200
    assert client.get(changelist("wallet.authevent")).status_code == 200
    for ledger in ("wallet.ledgeraccount", "wallet.transfer", "wallet.entry"):
        assert client.get(changelist(ledger)).status_code == 403
    login(client, "finance")
    for ledger in ("wallet.ledgeraccount", "wallet.transfer", "wallet.entry", "wallet.topup"):
        assert client.get(changelist(ledger)).status_code == 200
    for private in ("wallet.authevent", "wallet.knowndevice", "wallet.usersession", "wallet.card"):
        assert client.get(changelist(private)).status_code == 403


# --- Incident pages -----------------------------------------------------------------

# page name: {role: status}; a staff member without a role is refused everywhere.
INCIDENT_PAGES = {
    "incident_console": {"support": 200, "fraud_analyst": 200, "finance": 200, "supervisor": 200},
    "incident_dashboard": {"support": 200, "fraud_analyst": 200, "finance": 200, "supervisor": 200},
    "incident_review": {"support": 200, "fraud_analyst": 200, "finance": 403, "supervisor": 200},
    "incident_case_list": {"support": 200, "fraud_analyst": 200, "finance": 200, "supervisor": 200},
    "incident_hunt_list": {"support": 403, "fraud_analyst": 200, "finance": 403, "supervisor": 200},
    "incident_compensation_list": {"support": 200, "fraud_analyst": 200, "finance": 200, "supervisor": 200},
    "incident_compensation_report": {"support": 403, "fraud_analyst": 403, "finance": 200, "supervisor": 200},
    "incident_mass_reset_list": {"support": 200, "fraud_analyst": 200, "finance": 403, "supervisor": 200},
}


def incident_url(name: str) -> str:
    try:
        return reverse(f"admin:{name}")
    except NoReverseMatch:
        pytest.skip(f"admin:{name} is not built yet; its row of the matrix runs once it exists")


@pytest.mark.parametrize("page", sorted(INCIDENT_PAGES))
@pytest.mark.parametrize("role", ROLES)
def test_b08_incident_pages_open_only_for_their_roles(client: Client, role: str | None, page: str) -> None:
    url = incident_url(page)
    login(client, role)
    expected = INCIDENT_PAGES[page].get(role, 403) if role else 403
    assert client.get(url).status_code == expected


@pytest.mark.parametrize("page", ["incident_console", "incident_dashboard"])
def test_b08_incident_pages_need_a_verified_second_factor(client: Client, page: str) -> None:
    client.force_login(make_staff("admin@anzenpay.example", superuser=True))  # password only
    response = client.get(reverse(f"admin:{page}"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


INDEX_LINKS = {
    "incident_console": {"support", "fraud_analyst", "finance", "supervisor"},
    "incident_dashboard": {"support", "fraud_analyst", "finance", "supervisor"},
    "incident_review": {"support", "fraud_analyst", "supervisor"},
    "incident_case_list": {"support", "fraud_analyst", "finance", "supervisor"},
    "incident_hunt_list": {"fraud_analyst", "supervisor"},
    "incident_compensation_list": {"support", "fraud_analyst", "finance", "supervisor"},
    "incident_compensation_report": {"finance", "supervisor"},
    "incident_mass_reset_list": {"support", "fraud_analyst", "supervisor"},
}


@pytest.mark.parametrize("role", ROLES)
def test_b08_admin_index_links_only_the_incident_pages_the_role_opens(client: Client, role: str | None) -> None:
    login(client, role)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    body = response.content.decode()
    for name, roles in INDEX_LINKS.items():
        try:
            url = reverse(f"admin:{name}")
        except NoReverseMatch:
            continue  # not built yet: the index leaves the link out
        assert (f'href="{url}"' in body) == (role in roles), name
    assert ('id="incident-module"' in body) == (role is not None)


# --- Acts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "allowed"), [("support", False), ("fraud_analyst", True), ("finance", False), ("supervisor", True), (None, False)]
)
def test_b08_only_fraud_analysts_and_supervisors_turn_channels_off(client: Client, role: str | None, allowed: bool) -> None:
    login(client, role)
    response = client.post(reverse("admin:incident_console_switch", args=["charge.credit_card"]), {"turn": "off", "reason": "attack"})
    assert response.status_code == (302 if allowed else 403)
    assert ChannelSwitch.objects.get(name="charge.credit_card").enabled is not allowed
    assert StaffAction.objects.filter(action="channel.disable").exists() is allowed


@pytest.mark.parametrize(
    ("role", "allowed"), [("support", False), ("fraud_analyst", False), ("finance", False), ("supervisor", True), (None, False)]
)
def test_b08_only_supervisors_decide_approvals(client: Client, role: str | None, allowed: bool) -> None:
    maker = make_staff("maker@anzenpay.example", "fraud_analyst")
    channel_switch_flip(name="signup", enabled=False, reason="attack", acting_user=maker)
    approval = channel_switch_flip(name="signup", enabled=True, reason="over", acting_user=maker)
    assert isinstance(approval, Approval)
    login(client, role)
    response = client.post(reverse("admin:backoffice_approval_change", args=[approval.pk]), {"decision": "approve", "note": ""})
    assert response.status_code == (302 if allowed else 403)
    approval.refresh_from_db()
    assert (approval.state == Approval.State.APPROVED) is allowed
    assert ChannelSwitch.objects.get(name="signup").enabled is allowed


@pytest.mark.parametrize(
    ("role", "allowed"), [("support", True), ("fraud_analyst", True), ("finance", False), ("supervisor", True), (None, False)]
)
def test_b08_freezing_a_customer(client: Client, role: str | None, allowed: bool) -> None:
    customer = make_customer()
    login(client, role)
    response = client.post(
        reverse("admin:wallet_user_freezes", args=[customer.pk]), {"scope": AccountFreeze.Scope.DEBITS, "reason": "drained"}
    )
    assert response.status_code == (302 if allowed else 403)
    assert AccountFreeze.objects.filter(user=customer).exists() is allowed


@pytest.mark.parametrize(
    ("role", "allowed"), [("support", False), ("fraud_analyst", False), ("finance", False), ("supervisor", True), (None, False)]
)
def test_b08_only_supervisors_export_the_audit_log(client: Client, role: str | None, allowed: bool) -> None:
    login(client, role)
    assert client.get(reverse("admin:backoffice_staffaction_export")).status_code == (200 if allowed else 403)


@pytest.mark.parametrize("role", ROLES)
def test_b08_only_supervisors_control_a_running_mass_reset(client: Client, role: str | None) -> None:
    incident_url("incident_mass_reset_list")
    boss = make_staff("boss@anzenpay.example", "supervisor")
    job = MassReset.objects.create(reason="credential stuffing", filters={"all": True}, state=MassReset.State.RUNNING, created_by=boss)
    login(client, role)
    response = client.post(reverse("admin:incident_mass_reset_control", args=[job.pk]), {"action": "pause", "note": "wait"})
    job.refresh_from_db()
    if role == "supervisor":
        assert response.status_code == 302
    else:
        assert response.status_code == 403
        assert job.state == MassReset.State.RUNNING


# Acts whose pages other parts of the back-office provide: the grants themselves.
SUPERVISOR_ONLY = ["backoffice.check_approval", "backoffice.run_massreset", "backoffice.export_staffaction"]


@pytest.mark.parametrize("permission", SUPERVISOR_ONLY)
def test_b08_supervisor_only_permissions(permission: str) -> None:
    app_label, codename = permission.split(".")
    holders = set(
        Group.objects.filter(permissions__content_type__app_label=app_label, permissions__codename=codename).values_list("name", flat=True)
    )
    assert holders == {"supervisor"}
