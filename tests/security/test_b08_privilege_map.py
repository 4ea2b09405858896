"""B08: the privilege map of every staff-reachable page, generated from the URL conf.

Every URL under ``/admin/`` (the admin's model pages, the incident pages, the
refund desk, third-party admins such as django-celery-beat's) and ``/staff/`` is
found by walking ``django.urls.get_resolver()``, and every admin action through
``ModelAdmin.get_actions``. Each one must have a decision in the tables below,
for every role: support, fraud analyst, finance, supervisor, a customer and an
anonymous visitor. A page or action without a decision fails the test, so a new
staff page cannot be added without deciding who opens it.

"Allowed" is a 200, a redirect that stays in the staff area (a model list handing
over to its incident page, a missing object sending back to the index) or a 405
from a page that takes POST only once the permission check has passed. "Denied"
is a 403 or a redirect to the staff login. Pages are checked with GET, one client
per role; nothing is posted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from django.views.generic import RedirectView
from django_celery_beat.models import PeriodicTask

from backoffice.admin_site import staff_admin_site
from backoffice.models import Approval, Hunt, HuntHit, MassReset
from backoffice.services.audit import staff_action_record
from backoffice.services.cases import case_open_manual, case_transactions_add
from backoffice.services.freezes import account_freeze
from backoffice.services.switches import channel_switch_flip
from refunds.models import BankMasterOverride, PayoutBatch, PayoutResultImport, PostalDetails, ShutdownProgramme
from refunds.services.payouts import payout_batch_build
from tests.backoffice.helpers import make_staff, otp_login
from tests.conftest import enrol_totp, make_customer
from tests.money import fund_wallet, make_card, make_terminal
from tests.refunds.factories import bank_claim, make_programme
from wallet.models import AccountFreeze, AuthEvent, CardReversal, KnownDevice, TopUp, TransactionReport, Transfer, User, UserSession

pytestmark = pytest.mark.django_db

SUPPORT, FRAUD, FINANCE, SUPERVISOR, CUSTOMER, ANONYMOUS = "support", "fraud_analyst", "finance", "supervisor", "customer", "anonymous"
ROLES = [SUPPORT, FRAUD, FINANCE, SUPERVISOR, CUSTOMER, ANONYMOUS]
STAFF = frozenset({SUPPORT, FRAUD, FINANCE, SUPERVISOR})
NOBODY: frozenset[str] = frozenset()


def roles(*names: str) -> frozenset[str]:
    return frozenset(names)


# --- The decisions -------------------------------------------------------------------------------
# Model pages: (open the list, history and detail; add; delete). The detail page opens
# read-only for whoever may view; what a change does is decided by the acts' own tests
# (test_b08_staff_roles, test_b10_staff_tasks, ...). A list that hands over to an
# incident page is decided by where it lands.
EVERY_ROLE = roles(SUPPORT, FRAUD, FINANCE, SUPERVISOR)
CASEWORK = roles(SUPPORT, FRAUD, SUPERVISOR)
MODELS: dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]] = {
    # wallet: customers and their authentication (finance sees who a customer is, not their devices or log)
    "wallet.user": (EVERY_ROLE, NOBODY, NOBODY),
    "wallet.authevent": (CASEWORK, NOBODY, NOBODY),
    "wallet.knowndevice": (CASEWORK, NOBODY, NOBODY),
    "wallet.usersession": (CASEWORK, NOBODY, NOBODY),
    "wallet.notification": (CASEWORK, NOBODY, NOBODY),
    "wallet.card": (CASEWORK, NOBODY, NOBODY),
    "wallet.accountfreeze": (CASEWORK, NOBODY, NOBODY),
    "wallet.transactionreport": (CASEWORK, NOBODY, NOBODY),
    "wallet.riskdecision": (CASEWORK, NOBODY, NOBODY),
    "wallet.terminal": (CASEWORK, NOBODY, NOBODY),
    # wallet: money records
    "wallet.ledgeraccount": (roles(FINANCE, SUPERVISOR), NOBODY, NOBODY),
    "wallet.transfer": (roles(FINANCE, SUPERVISOR), NOBODY, NOBODY),
    "wallet.entry": (roles(FINANCE, SUPERVISOR), NOBODY, NOBODY),
    "wallet.topup": (EVERY_ROLE, NOBODY, NOBODY),
    "wallet.payment": (EVERY_ROLE, NOBODY, NOBODY),
    "wallet.paymentrefund": (EVERY_ROLE, NOBODY, NOBODY),
    "wallet.merchant": (EVERY_ROLE, NOBODY, NOBODY),
    "wallet.cardreversal": (roles(FRAUD, FINANCE, SUPERVISOR), NOBODY, NOBODY),
    # wallet: rules, limits, switches
    "wallet.riskrule": (roles(FRAUD, SUPERVISOR), NOBODY, NOBODY),
    "wallet.limitpolicy": (roles(FRAUD, FINANCE, SUPERVISOR), NOBODY, NOBODY),
    "wallet.channelswitch": (EVERY_ROLE, NOBODY, NOBODY),
    # back-office
    "auth.group": (NOBODY, NOBODY, NOBODY),
    "backoffice.staffaction": (roles(FRAUD, FINANCE, SUPERVISOR), NOBODY, NOBODY),
    "backoffice.approval": (EVERY_ROLE, NOBODY, NOBODY),
    "backoffice.case": (EVERY_ROLE, NOBODY, NOBODY),
    "backoffice.casetransaction": (EVERY_ROLE, NOBODY, NOBODY),
    "backoffice.caseevent": (EVERY_ROLE, NOBODY, NOBODY),
    "backoffice.compensation": (EVERY_ROLE, NOBODY, NOBODY),
    "backoffice.hunt": (roles(FRAUD, SUPERVISOR), NOBODY, NOBODY),
    "backoffice.massreset": (CASEWORK, NOBODY, NOBODY),
    # scheduled jobs (B10): finance times the payout build; nobody adds or deletes a job
    "django_celery_beat.periodictask": (roles(FINANCE, SUPERVISOR), NOBODY, NOBODY),
    # refunds
    "refunds.shutdownprogramme": (EVERY_ROLE, roles(SUPERVISOR), NOBODY),
    "refunds.refundclaim": (EVERY_ROLE, NOBODY, NOBODY),
    "refunds.claimevent": (EVERY_ROLE, NOBODY, NOBODY),
    "refunds.bankdetails": (EVERY_ROLE, NOBODY, NOBODY),
    "refunds.postaldetails": (roles(SUPPORT, FINANCE, SUPERVISOR), NOBODY, NOBODY),
    "refunds.payoutbatch": (EVERY_ROLE, NOBODY, NOBODY),
    "refunds.payout": (EVERY_ROLE, NOBODY, NOBODY),
    "refunds.payoutresultimport": (roles(FINANCE, SUPERVISOR), NOBODY, NOBODY),
    "refunds.bankmasteroverride": (roles(FINANCE, SUPERVISOR), roles(FINANCE, SUPERVISOR), NOBODY),
}

# Every other named page: the roles that open it.
PAGES: dict[str, frozenset[str]] = {
    # the admin's own pages
    "admin:index": EVERY_ROLE,
    "admin:app_list": EVERY_ROLE,
    "admin:login": roles(*ROLES),
    "admin:password_change": EVERY_ROLE,
    "admin:password_change_done": EVERY_ROLE,
    "admin:jsi18n": EVERY_ROLE,
    "admin:autocomplete": NOBODY,  # no model of ours offers autocompletion
    "admin:view_on_site": EVERY_ROLE,  # leads nowhere: no staff model has a public page (404, see NEEDS_INPUT)
    # a staff member's first factor: its own email-and-password sign-in, open to anybody
    "backoffice:enrol": roles(*ROLES),
    "backoffice:enrol_confirm": roles(*ROLES),
    # admin pages added by our ModelAdmins
    "admin:backoffice_staffaction_export": roles(SUPERVISOR),
    "admin:wallet_user_freezes": CASEWORK,
    "admin:wallet_user_unfreeze": CASEWORK,
    "admin:wallet_channelswitch_flip": roles(FRAUD, SUPERVISOR),
    "admin:refunds_shutdownprogramme_announce": roles(SUPERVISOR),
    "admin:django_celery_beat_periodictask_run": roles(FINANCE, SUPERVISOR),  # the page; the act's permission is checked on POST (B10)
    # incident pages
    "admin:incident_console": EVERY_ROLE,
    "admin:incident_console_switch": EVERY_ROLE,  # POST only
    "admin:incident_dashboard": EVERY_ROLE,
    "admin:incident_review": CASEWORK,
    "admin:incident_review_export": CASEWORK,
    "admin:incident_review_act": EVERY_ROLE,  # POST only
    "admin:incident_case_list": EVERY_ROLE,
    "admin:incident_case_export": EVERY_ROLE,
    "admin:incident_case_detail": EVERY_ROLE,
    "admin:incident_case_status": EVERY_ROLE,  # POST only
    "admin:incident_case_note": EVERY_ROLE,  # POST only
    "admin:incident_case_transaction": EVERY_ROLE,  # POST only
    "admin:incident_case_freeze": EVERY_ROLE,  # POST only
    "admin:incident_hunt_list": roles(FRAUD, SUPERVISOR),
    "admin:incident_hunt_detail": roles(FRAUD, SUPERVISOR),
    "admin:incident_hunt_progress": roles(FRAUD, SUPERVISOR),
    "admin:incident_hunt_cancel": roles(FRAUD, SUPERVISOR),
    "admin:incident_hunt_cases_open": roles(FRAUD, SUPERVISOR),
    "admin:incident_hunt_export": roles(FRAUD, SUPERVISOR),
    "admin:incident_compensation_list": EVERY_ROLE,
    "admin:incident_compensation_export": EVERY_ROLE,
    "admin:incident_compensation_new": roles(FRAUD, SUPERVISOR),
    "admin:incident_compensation_report": roles(FINANCE, SUPERVISOR),
    "admin:incident_compensation_report_export": roles(FINANCE, SUPERVISOR),
    "admin:incident_mass_reset_list": CASEWORK,
    "admin:incident_mass_reset_export": CASEWORK,
    "admin:incident_mass_reset_detail": CASEWORK,
    "admin:incident_mass_reset_progress": CASEWORK,
    "admin:incident_mass_reset_control": EVERY_ROLE,  # POST only
    # the refund desk
    "refunds_staff:claims_review": EVERY_ROLE,
    "refunds_staff:claims_export": EVERY_ROLE,
    "refunds_staff:late_claim": roles(SUPPORT, SUPERVISOR),
    "refunds_staff:claim_detail": EVERY_ROLE,
    "refunds_staff:claim_decide": EVERY_ROLE,  # POST only
    "refunds_staff:payout_batches": EVERY_ROLE,
    "refunds_staff:payout_batches_export": EVERY_ROLE,
    "refunds_staff:payout_batches_build": EVERY_ROLE,  # POST only
    "refunds_staff:payout_results_import": roles(FINANCE, SUPERVISOR),
    "refunds_staff:payout_results_import_detail": roles(FINANCE, SUPERVISOR),
    "refunds_staff:payout_batch": EVERY_ROLE,
    "refunds_staff:payout_batch_release": EVERY_ROLE,  # POST only
    "refunds_staff:payout_batch_download": roles(FINANCE, SUPERVISOR),
    "refunds_staff:payout_batch_postal_csv": roles(FINANCE, SUPERVISOR),
    "refunds_staff:reports": roles(FINANCE, SUPERVISOR),
    "refunds_staff:reports_export": roles(FINANCE, SUPERVISOR),
    "refunds_staff:unclaimed": roles(FINANCE, SUPERVISOR),
    "refunds_staff:unclaimed_export": roles(FINANCE, SUPERVISOR),
}

# Pages that take POST only and say so (405) before they check who asks: a GET cannot
# tell the roles apart, so for them the map only says the page is in the staff area.
# Who may post is decided by the acts' tests (test_b08_staff_roles, the refund desk's).
POST_ONLY = {
    "admin:incident_console_switch",
    "admin:incident_review_act",
    "admin:incident_case_status",
    "admin:incident_case_note",
    "admin:incident_case_transaction",
    "admin:incident_case_freeze",
    "admin:incident_mass_reset_control",
    "refunds_staff:claim_decide",
    "refunds_staff:payout_batches_build",
    "refunds_staff:payout_batch_release",
}
# Pages that check who asks first and then take POST only: 405 is "allowed", 403 "denied".
POST_AFTER_CHECK = {"admin:incident_hunt_cancel", "admin:incident_hunt_cases_open", "admin:django_celery_beat_periodictask_run"}
# Pages that, once past the permission check, answer 400/404 to a bare GET: they need a
# query (which transaction to compensate), an object of another kind (a Japan Post batch)
# or a model with a public page (none of ours has one).
NEEDS_INPUT = {"admin:incident_compensation_new", "refunds_staff:payout_batch_postal_csv", "admin:view_on_site"}

# Admin actions by model: the roles that are offered each one. Bulk deletion is off site-wide.
ACTIONS: dict[str, dict[str, frozenset[str]]] = {
    "backoffice.staffaction": {"export_selected": roles(SUPERVISOR)},
}


# --- The world the pages are opened in ----------------------------------------------------------


@dataclass
class World:
    objects: dict[str, models.Model]

    def pk(self, model: type[models.Model]) -> str:
        label = model._meta.label_lower
        if label in self.objects:
            return str(self.objects[label].pk)
        first = model._default_manager.order_by("pk").first()
        return str(first.pk) if first is not None else "0"


def build_world() -> World:
    boss = make_staff("map-boss@anzenpay.example", "supervisor")
    make_programme()
    customer = make_customer("map-holder@example.jp")
    enrol_totp(customer)
    fund_wallet(customer, 5_000)
    claim = bank_claim(customer, 5_000)
    batch = payout_batch_build(method=PayoutBatch.Method.BANK)
    assert batch is not None
    make_terminal()
    case, _joined = case_open_manual(email=customer.email, summary="map", acting_user=boss)
    case_transactions_add(case=case, transfers=Transfer.objects.order_by("pk")[:1], acting_user=boss)
    freeze = account_freeze(user=customer, scope=AccountFreeze.Scope.DEBITS, reason="map", acting_user=boss)
    now = timezone.now()
    hunt = Hunt.objects.create(
        rule_kind="velocity_count",
        period_start=now - timedelta(days=2),
        period_end=now - timedelta(days=1),
        state=Hunt.State.DONE,
        created_by=boss,
    )
    HuntHit.objects.create(hunt=hunt, customer=customer, transactions_count=1, amount_yen=1_000, first_at=now, last_at=now)
    mass_reset = MassReset.objects.create(reason="map", filters={"all": True}, state=MassReset.State.RUNNING, created_by=boss)
    maker = make_staff("map-maker@anzenpay.example", "fraud_analyst")
    channel_switch_flip(name="signup", enabled=False, reason="map", acting_user=maker)
    approval = channel_switch_flip(name="signup", enabled=True, reason="map", acting_user=maker)
    assert isinstance(approval, Approval)
    results = PayoutResultImport.objects.create(file_sha256="0" * 64, file_name="map.txt", imported_by=boss)
    with transaction.atomic():
        staff_action_record(acting_user=boss, action="map.seen", target=boss)
    # One row of each kind the steps above do not make, so every detail and history page has something to show.
    topup = TopUp.objects.filter(user=customer).order_by("pk").first()
    assert topup is not None
    AuthEvent.objects.create(kind=AuthEvent.Kind.LOGIN_FAILED, claimed_identifier=customer.email)
    KnownDevice.objects.create(user=customer, device_digest="0" * 64)
    UserSession.objects.create(user=customer, session_key="map0000000000000000000000000000")
    CardReversal.objects.create(topup=topup, charge_id="map-charge", amount_yen=1, reversed_at=now)
    TransactionReport.objects.create(user=customer, transfer=Transfer.objects.order_by("pk")[0])
    PostalDetails.objects.create(claim=claim, name="山田 花子", postal_code="100-0001", address="東京都千代田区千代田1-1")
    BankMasterOverride.objects.create(bank_code="0001")
    make_card(customer)
    return World(
        objects={
            "wallet.user": customer,
            "backoffice.case": case,
            "backoffice.hunt": hunt,
            "backoffice.massreset": mass_reset,
            "backoffice.approval": approval,
            "wallet.accountfreeze": freeze,
            "refunds.refundclaim": claim,
            "refunds.payoutbatch": batch,
            "refunds.payoutresultimport": results,
            "refunds.shutdownprogramme": ShutdownProgramme.objects.get(),
            "django_celery_beat.periodictask": PeriodicTask.objects.get(name="refund payout batches"),
        }
    )


# Arguments of the pages that take them.
ARGS: dict[str, Callable[[World], dict[str, Any]]] = {
    "refunds_staff:claim_detail": lambda w: {"pk": w.pk(claim_model())},
    "refunds_staff:claim_decide": lambda w: {"pk": w.pk(claim_model())},
    "refunds_staff:payout_results_import_detail": lambda w: {"pk": w.pk(PayoutResultImport)},
    "refunds_staff:payout_batch": lambda w: {"pk": w.pk(PayoutBatch)},
    "refunds_staff:payout_batch_release": lambda w: {"pk": w.pk(PayoutBatch)},
    "refunds_staff:payout_batch_download": lambda w: {"pk": w.pk(PayoutBatch)},
    "refunds_staff:payout_batch_postal_csv": lambda w: {"pk": w.pk(PayoutBatch)},
    "refunds_staff:reports_export": lambda w: {"table": "weeks"},
    "admin:incident_console_switch": lambda w: {"name": "signup"},
    "admin:wallet_channelswitch_flip": lambda w: {"name": "signup"},
    "admin:app_list": lambda w: {"app_label": "wallet"},
    "admin:view_on_site": lambda w: {"content_type_id": ContentType.objects.get_for_model(User).pk, "object_id": w.pk(User)},
    "admin:wallet_user_freezes": lambda w: {"user_id": w.pk(User)},
    "admin:wallet_user_unfreeze": lambda w: {"user_id": w.pk(User), "freeze_id": w.pk(AccountFreeze)},
}
for _name in ("incident_case_detail", "incident_case_status", "incident_case_note", "incident_case_transaction", "incident_case_freeze"):
    ARGS[f"admin:{_name}"] = lambda w: {"pk": w.objects["backoffice.case"].pk}
for _name in ("incident_hunt_detail", "incident_hunt_progress", "incident_hunt_cancel", "incident_hunt_cases_open", "incident_hunt_export"):
    ARGS[f"admin:{_name}"] = lambda w: {"pk": w.objects["backoffice.hunt"].pk}
for _name in ("incident_mass_reset_detail", "incident_mass_reset_progress", "incident_mass_reset_control"):
    ARGS[f"admin:{_name}"] = lambda w: {"pk": w.objects["backoffice.massreset"].pk}


def claim_model() -> type[models.Model]:
    from refunds.models import RefundClaim

    return RefundClaim


# --- Walking the URL conf -------------------------------------------------------------------------

STAFF_PREFIXES = ("admin/", "staff/")
MODEL_PAGES = ("changelist", "add", "change", "delete", "history")
# Pages that log out or only redirect: not opened, their decision is the page they lead to.
NOT_OPENED = {"admin:logout"}


@dataclass(frozen=True)
class Page:
    route: str
    name: str | None
    pattern: URLPattern


def staff_pages() -> Iterator[Page]:
    def walk(patterns: list[Any], prefix: str, namespace: str | None) -> Iterator[Page]:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                inner = namespace
                if entry.namespace:
                    inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
                yield from walk(entry.url_patterns, prefix + str(entry.pattern), inner)
            elif isinstance(entry, URLPattern):
                name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
                yield Page(prefix + str(entry.pattern), name, entry)

    for page in walk(get_resolver().url_patterns, "", None):
        if page.route.lstrip("^").startswith(STAFF_PREFIXES):
            yield page


def model_pages() -> dict[str, tuple[str, str]]:
    """URL name → (model label, which page) for every model on the staff site."""
    found = {}
    for model in staff_admin_site._registry:
        label = model._meta.label_lower
        for which in MODEL_PAGES:
            found[f"admin:{model._meta.app_label}_{model._meta.model_name}_{which}"] = (label, which)
    return found


def is_redirect_only(page: Page) -> bool:
    """The admin's unnamed patterns: ``<object_id>/`` redirecting to the change page and the final catch-all."""
    callback = page.pattern.callback
    view_class = getattr(callback, "view_class", None)
    return page.name is None and (
        (view_class is not None and issubclass(view_class, RedirectView)) or "catch_all" in getattr(callback, "__name__", "")
    )


def expected_roles(name: str, pages: dict[str, tuple[str, str]]) -> frozenset[str] | None:
    if name in pages:
        label, which = pages[name]
        if label not in MODELS:
            return None
        opens, adds, deletes = MODELS[label]
        return adds if which == "add" else deletes if which == "delete" else opens
    return PAGES.get(name)


def url_for(name: str, page: Page, world: World, pages: dict[str, tuple[str, str]]) -> str:
    if name in pages:
        label, which = pages[name]
        model = next(m for m in staff_admin_site._registry if m._meta.label_lower == label)
        return reverse(name, args=[] if which in ("changelist", "add") else [world.pk(model)])
    if name in ARGS:
        return reverse(name, kwargs=ARGS[name](world))
    if name.endswith(("_announce", "_run")) or "<" in page.route:
        label = name.split(":", 1)[1].rsplit("_", 1)[0]
        model = next(m for m in staff_admin_site._registry if f"{m._meta.app_label}_{m._meta.model_name}" == label)
        return reverse(name, args=[world.pk(model)])
    return reverse(name)


def login_url() -> str:
    return reverse("admin:login")


def outcome(client: Client, name: str, url: str) -> str:
    """allowed / denied, following one redirect that stays in the staff area (a list handing over to its page)."""
    response = client.get(url)
    if response.status_code == 302:
        location = response["Location"].split("?")[0]
        if location.startswith(login_url()) or location.endswith("/login/"):
            return "denied"
        if location.startswith(("/admin/", "/staff/")):
            response = client.get(response["Location"])
            if response.status_code == 302:
                return "denied" if response["Location"].startswith(login_url()) else "allowed"
    if response.status_code == 200:
        return "allowed"
    if response.status_code == 403:
        return "denied"
    if response.status_code == 405 and name in POST_ONLY | POST_AFTER_CHECK:
        return "allowed"
    if response.status_code in (400, 404) and name in NEEDS_INPUT:
        return "allowed"
    return f"unexpected {response.status_code}"


def client_for(role: str) -> Client:
    client = Client()
    if role == ANONYMOUS:
        return client
    if role == CUSTOMER:
        client.force_login(make_customer("map-customer@example.jp"))
        return client
    return otp_login(client, make_staff(f"map-{role}@anzenpay.example", role))


def test_b08_privilege_map_every_staff_page_and_role() -> None:
    world = build_world()
    pages = model_pages()
    missing: list[str] = []
    checks: list[tuple[str, str, frozenset[str]]] = []
    for page in staff_pages():
        if page.name is None:
            if not is_redirect_only(page):
                missing.append(f"unnamed {page.route}")
            continue
        if page.name in NOT_OPENED:
            continue
        expected = expected_roles(page.name, pages)
        if expected is None:
            missing.append(page.name)
            continue
        checks.append((page.name, url_for(page.name, page, world, pages), expected))
    assert not missing, "new staff page without a decision: add it to the map: " + ", ".join(sorted(missing))
    wrong = []
    for role in ROLES:
        client = client_for(role)
        for name, url, expected in checks:
            got = outcome(client, name, url)
            want = "allowed" if role in expected else "denied"
            if got != want:
                wrong.append(f"{role} {name} {url}: {got}, the map says {want}")
    assert not wrong, "\n".join(wrong)


def test_b08_privilege_map_every_admin_action_and_role(rf: Any) -> None:
    users = {role: make_staff(f"map-{role}@anzenpay.example", role) for role in sorted(STAFF)}
    missing: list[str] = []
    wrong: list[str] = []
    for model, model_admin in staff_admin_site._registry.items():
        label = model._meta.label_lower
        decided = ACTIONS.get(label, {})
        for role, user in users.items():
            request = rf.get("/admin/")
            request.user = user
            offered = set(model_admin.get_actions(request))
            missing.extend(f"{label}.{action}" for action in offered - set(decided))
            for action, allowed in decided.items():
                if (action in offered) != (role in allowed):
                    wrong.append(f"{role} {label}.{action}: {'offered' if action in offered else 'not offered'}")
    assert not missing, "new admin action without a decision: add it to the map: " + ", ".join(sorted(set(missing)))
    assert not wrong, "\n".join(wrong)
