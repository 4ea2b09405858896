"""The money and risk screens of the staff admin: who sees what (B08), nothing
changes the ledger or money records (B07), no secrets on any page (L02, P02),
and rule and limit edits are versioned and audited."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from backoffice.models import StaffAction
from tests.backoffice.helpers import make_staff, otp_login
from tests.conftest import make_customer
from wallet.models import (
    AccountFreeze,
    Card,
    LimitPolicy,
    Payment,
    RiskDecision,
    RiskRule,
    RiskRuleChange,
    Terminal,
    TopUp,
    TransactionReport,
    Transfer,
    User,
)
from wallet.services.ledger import Leg, system_account, transfer_post, wallet_account_for
from wallet.services.risk import risk_rules_cache_clear
from wallet.services.terminals import merchant_create, terminal_create

pytestmark = pytest.mark.django_db


class _FormFields(HTMLParser):
    """What a browser would post back from the admin's change form, unchanged."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._textarea: str | None = None
        self._select: str | None = None
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id", "").endswith("_form"):
            self._in_form = True
        if not self._in_form or (not a.get("name") and tag != "option"):
            return
        if tag == "input" and a.get("type") not in {"submit", "button", "file"}:
            if a.get("type") in {"checkbox", "radio"} and "checked" not in a:
                return
            self.data.setdefault(a["name"], []).append(a.get("value", "on"))
        elif tag == "textarea":
            self._textarea = a["name"]
            self.data[a["name"]] = [""]
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.data.setdefault(self._select, []).append(a.get("value", ""))

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea][0] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None
        elif tag == "form":
            self._in_form = False


def change_form(client: Client, url: str, **changes: Any) -> dict[str, Any]:
    parser = _FormFields()
    page = client.get(url)
    assert page.status_code == 200
    parser.feed(page.content.decode())
    data: dict[str, Any] = {name: values if len(values) > 1 else values[0] for name, values in parser.data.items()}
    data.pop("csrfmiddlewaretoken", None)
    data.update(changes)
    return data


@pytest.fixture
def money(db: None) -> dict[str, Any]:
    """A customer who topped up at an ATM, paid at a store, holds a card and reported a payment."""
    customer = make_customer()
    merchant = merchant_create(name="AnzenMart 新宿店", code="anzenmart-shinjuku")
    terminal, raw_key = terminal_create(merchant=merchant, name="Register 1", kind=Terminal.Kind.STORE_REGISTER)
    wallet = wallet_account_for(customer)
    topup_transfer = transfer_post(
        kind=Transfer.Kind.TOPUP,
        legs=[Leg(system_account("atm_clearing"), -20_000), Leg(wallet, 20_000)],
        idempotency_key="test:topup",
    )
    decision = RiskDecision.objects.create(
        event="topup",
        outcome="review",
        user=customer,
        amount_yen=20_000,
        reasons=[{"rule": "topup-burst", "version": 3, "action": "review", "detail": "2 earlier topup events within 1 min (at most 2)"}],
    )
    topup = TopUp.objects.create(
        user=customer,
        channel=TopUp.Channel.ATM,
        amount_yen=20_000,
        status=TopUp.Status.SUCCEEDED,
        request_key="test:topup",
        transfer=topup_transfer,
        risk_decision=decision,
    )
    payment_transfer = transfer_post(
        kind=Transfer.Kind.PAYMENT,
        legs=[Leg(wallet, -5_432), Leg(system_account(f"merchant_payable:{merchant.pk}"), 5_432)],
        idempotency_key="test:payment",
    )
    payment = Payment.objects.create(user=customer, merchant=merchant, terminal=terminal, amount_yen=5_432, transfer=payment_transfer)
    card = Card.objects.create(
        user=customer,
        gateway_token="tok_secret_abcdef123456",
        brand="visa",
        last4="4242",
        exp_month=12,
        exp_year=2030,
        funding="credit",
        fingerprint="fp_secret_0123456789abcdef",
    )
    other = make_customer("taro@example.jp")
    Card.objects.create(
        user=other,
        gateway_token="tok_secret_other",
        brand="visa",
        last4="4242",
        exp_month=12,
        exp_year=2030,
        funding="credit",
        fingerprint="fp_secret_0123456789abcdef",
    )
    freeze = AccountFreeze.objects.create(user=customer, scope="debits", source="customer", reason="lost phone")
    report = TransactionReport.objects.create(user=customer, transfer=payment_transfer, note="not me")
    return {
        "customer": customer,
        "merchant": merchant,
        "terminal": terminal,
        "raw_key": raw_key,
        "topup": topup,
        "payment": payment,
        "card": card,
        "decision": decision,
        "freeze": freeze,
        "report": report,
        "transfer": payment_transfer,
    }


MONEY_MODELS = [
    "ledgeraccount", "transfer", "entry", "topup", "payment", "paymentrefund", "merchant", "terminal", "card",
    "accountfreeze", "transactionreport", "riskdecision", "riskrule", "limitpolicy",
]  # fmt: skip

ROLE_PAGES = {
    "finance": {"ledgeraccount", "transfer", "entry", "topup", "payment", "paymentrefund", "merchant", "limitpolicy"},
    # Support reads risk decisions to answer a customer whose top-up is held (the review queue shows them).
    "support": {"topup", "payment", "paymentrefund", "card", "transactionreport", "accountfreeze", "merchant", "terminal", "riskdecision"},
    "fraud_analyst": {
        "topup", "payment", "paymentrefund", "card", "transactionreport", "accountfreeze", "merchant", "terminal",
        "riskdecision", "riskrule", "limitpolicy",
    },
}  # fmt: skip


@pytest.mark.parametrize("role", sorted(ROLE_PAGES))
def test_b08_each_role_opens_only_its_money_pages(client: Client, money: dict[str, Any], role: str) -> None:
    otp_login(client, make_staff(f"{role}@anzenpay.example", role))
    opened = {model for model in MONEY_MODELS if client.get(reverse(f"admin:wallet_{model}_changelist")).status_code == 200}
    assert opened == ROLE_PAGES[role]


def test_superuser_sees_every_money_list_with_its_rows(client: Client, money: dict[str, Any]) -> None:
    otp_login(client, make_staff("admin@anzenpay.example", superuser=True))
    for model in MONEY_MODELS:
        response = client.get(reverse(f"admin:wallet_{model}_changelist"))
        assert response.status_code == 200, model
    assert "¥20,000" in client.get(reverse("admin:wallet_topup_changelist")).content.decode()
    assert "¥5,432" in client.get(reverse("admin:wallet_payment_changelist")).content.decode()
    assert "hanako@example.jp" in client.get(reverse("admin:wallet_ledgeraccount_changelist") + "?q=hanako").content.decode()
    page = client.get(reverse("admin:wallet_transfer_change", args=[money["transfer"].pk])).content.decode()
    assert "-5,432" in page and "+5,432" in page  # the entries of the transfer, read-only


@pytest.mark.parametrize("model", ["transfer", "entry", "ledgeraccount", "topup", "payment", "riskdecision", "card"])
def test_b07_money_records_cannot_be_added_changed_or_deleted_even_by_a_superuser(
    client: Client, money: dict[str, Any], model: str
) -> None:
    otp_login(client, make_staff("admin@anzenpay.example", superuser=True))
    obj = {"transfer": money["transfer"], "topup": money["topup"], "payment": money["payment"], "riskdecision": money["decision"],
           "card": money["card"]}.get(model)  # fmt: skip
    assert client.get(reverse(f"admin:wallet_{model}_add")).status_code == 403
    if obj is not None:
        change_url = reverse(f"admin:wallet_{model}_change", args=[obj.pk])
        page = client.get(change_url).content.decode()
        assert 'name="_save"' not in page
        assert client.post(change_url, {"amount_yen": 1}).status_code == 403
        assert client.post(reverse(f"admin:wallet_{model}_delete", args=[obj.pk]), {"post": "yes"}).status_code == 403
    assert not StaffAction.objects.exists()


def test_l02_terminal_and_card_pages_show_no_key_token_or_fingerprint(client: Client, money: dict[str, Any]) -> None:
    otp_login(client, make_staff("support@anzenpay.example", "support"))
    terminal: Terminal = money["terminal"]
    pages = [
        client.get(reverse("admin:wallet_terminal_changelist")).content.decode(),
        client.get(reverse("admin:wallet_terminal_change", args=[terminal.pk])).content.decode(),
        client.get(reverse("admin:wallet_card_changelist")).content.decode(),
        client.get(reverse("admin:wallet_card_change", args=[money["card"].pk])).content.decode(),
    ]
    assert terminal.key_prefix in pages[1]
    assert "visa •••• 4242" in pages[2] and "12/2030" in pages[3]
    for page in pages:
        assert terminal.key_digest not in page
        assert money["raw_key"] not in page
        assert "tok_secret" not in page and "fp_secret" not in page


def test_card_list_shows_other_wallets_holding_the_same_card(client: Client, money: dict[str, Any]) -> None:
    otp_login(client, make_staff("analyst@anzenpay.example", "fraud_analyst"))
    page = client.get(reverse("admin:wallet_card_changelist") + "?q=hanako").content.decode()
    assert 'class="field-other_wallets">1<' in page


def test_risk_decisions_filter_by_outcome_and_search_by_email(client: Client, money: dict[str, Any]) -> None:
    RiskDecision.objects.create(event="login", outcome="allow", user=make_customer("jiro@example.jp"))
    otp_login(client, make_staff("analyst@anzenpay.example", "fraud_analyst"))
    changelist = reverse("admin:wallet_riskdecision_changelist")
    review = client.get(changelist + "?outcome__exact=review").content.decode()
    assert "hanako@example.jp" in review and "jiro@example.jp" not in review
    assert "topup-burst v3" in review
    found = client.get(changelist + "?q=jiro").content.decode()
    assert "jiro@example.jp" in found and "hanako@example.jp" not in found
    detail = client.get(reverse("admin:wallet_riskdecision_change", args=[money["decision"].pk])).content.decode()
    assert "2 earlier topup events within 1 min (at most 2)" in detail


def test_fraud_analyst_rule_edit_is_a_new_version_and_audited(client: Client) -> None:
    analyst = make_staff("analyst@anzenpay.example", "fraud_analyst")
    otp_login(client, analyst)
    rule = RiskRule.objects.get(code="topup-then-spend")
    url = reverse("admin:wallet_riskrule_change", args=[rule.pk])
    params = '{"hours": 12, "topup_total_min_yen": 10000, "payment_min_yen": 8000}'
    response = client.post(url, change_form(client, url, params=params, action="block"))
    assert response.status_code == 302, response.content.decode()[:3000]
    rule.refresh_from_db()
    assert (rule.version, rule.action, rule.updated_by) == (2, "block", analyst)
    assert rule.params == {"hours": 12, "topup_total_min_yen": 10_000, "payment_min_yen": 8_000, "topup_channels": [], "channels": []}
    assert RiskRuleChange.objects.get(rule=rule, version=2).changed_by == analyst
    audit = StaffAction.objects.get(action="wallet.riskrule.change")
    assert audit.actor == analyst and audit.target_id == str(rule.pk)
    assert audit.before["version"] == 1 and audit.after["version"] == 2
    assert audit.before["action"] == "review" and audit.after["action"] == "block"
    assert audit.after["params"]["hours"] == 12
    page = client.get(url).content.decode()
    assert "payment_min_yen" in page  # the history and the kinds' reference are on the page
    # Saving without a change is not a new version and writes no audit row.
    assert client.post(url, change_form(client, url)).status_code == 302
    assert RiskRule.objects.get(pk=rule.pk).version == 2
    assert StaffAction.objects.filter(action="wallet.riskrule.change").count() == 1
    risk_rules_cache_clear()


def test_rule_edit_with_bad_thresholds_is_refused_with_the_reason(client: Client) -> None:
    otp_login(client, make_staff("analyst@anzenpay.example", "fraud_analyst"))
    rule = RiskRule.objects.get(code="topup-burst")
    url = reverse("admin:wallet_riskrule_change", args=[rule.pk])
    response = client.post(url, change_form(client, url, params='{"window_seconds": -5, "max_count": 2, "windw": 1}'))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Unknown parameters: windw." in body and "window_seconds must be between 1 and 2678400." in body
    assert RiskRule.objects.get(pk=rule.pk).version == 1
    assert not StaffAction.objects.exists()


def test_rules_cannot_be_deleted_and_support_cannot_edit_them(client: Client) -> None:
    rule = RiskRule.objects.get(code="topup-burst")
    otp_login(client, make_staff("admin@anzenpay.example", superuser=True))
    assert client.post(reverse("admin:wallet_riskrule_delete", args=[rule.pk]), {"post": "yes"}).status_code == 403
    support = otp_login(Client(), make_staff("support@anzenpay.example", "support"))
    assert support.post(reverse("admin:wallet_riskrule_change", args=[rule.pk]), {"name": "x"}).status_code == 403
    assert RiskRule.objects.filter(pk=rule.pk, version=1).exists()


def test_superuser_adds_a_rule_at_version_one_with_audit(client: Client) -> None:
    admin = make_staff("admin@anzenpay.example", superuser=True)
    otp_login(client, admin)
    data = {
        "code": "atm-burst",
        "name": "ATM burst",
        "description": "",
        "kind": "velocity_count",
        "events": ["topup"],
        "params": '{"window_seconds": 300, "max_count": 1, "channels": ["charge.atm"]}',
        "action": "review",
        "enabled": "on",
        "changes-TOTAL_FORMS": "0",
        "changes-INITIAL_FORMS": "0",
    }
    response = client.post(reverse("admin:wallet_riskrule_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    rule = RiskRule.objects.get(code="atm-burst")
    assert rule.version == 1 and rule.updated_by == admin and rule.params["channels"] == ["charge.atm"]
    assert RiskRuleChange.objects.filter(rule=rule, version=1).exists()
    assert StaffAction.objects.get(action="wallet.riskrule.add").after["params"]["window_seconds"] == 300
    risk_rules_cache_clear()


def test_limit_edit_is_audited_and_checked(client: Client) -> None:
    analyst = make_staff("analyst@anzenpay.example", "fraud_analyst")
    otp_login(client, analyst)
    policy = LimitPolicy.objects.get(kind="topup.card")
    url = reverse("admin:wallet_limitpolicy_change", args=[policy.pk])
    refused = client.post(url, change_form(client, url, per_day_max_yen="10000"))
    assert refused.status_code == 200
    assert "A longer period" in refused.content.decode()
    response = client.post(url, change_form(client, url, per_charge_max_yen="15000"))
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.per_charge_max_yen == 15_000 and policy.updated_by == analyst
    audit = StaffAction.objects.get(action="wallet.limitpolicy.change")
    assert (audit.before, audit.after) == ({"per_charge_max_yen": 20_000}, {"per_charge_max_yen": 15_000})
    assert client.get(reverse("admin:wallet_limitpolicy_add")).status_code == 403


def test_terminal_can_be_switched_off_with_an_audit_row_but_not_added(client: Client, money: dict[str, Any]) -> None:
    admin: User = make_staff("admin@anzenpay.example", superuser=True)
    otp_login(client, admin)
    terminal: Terminal = money["terminal"]
    url = reverse("admin:wallet_terminal_change", args=[terminal.pk])
    data = change_form(client, url)
    data.pop("is_active")
    assert client.post(url, data).status_code == 302
    terminal.refresh_from_db()
    assert terminal.is_active is False
    audit = StaffAction.objects.get(action="wallet.terminal.change")
    assert audit.after == {"is_active": False} and money["raw_key"] not in str(audit.after)
    assert client.get(reverse("admin:wallet_terminal_add")).status_code == 403
    assert client.get(reverse("admin:wallet_merchant_add")).status_code == 403
