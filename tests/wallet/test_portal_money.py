"""The customer's money pages: home, top-up, payment code, history, CSV, receipts,
"I don't recognise this" and the wallet lock, as the customer uses them."""

from __future__ import annotations

import csv
import io
import json
from typing import Any
from urllib.parse import parse_qs, urlparse
from uuid import UUID

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import enrol_totp, make_customer
from tests.money import fund_wallet, make_card, payment_code_for
from tests.wallet.test_account import verified_client
from wallet.forms.money import TopUpForm, activity_date_max
from wallet.models import AccountFreeze, Card, Merchant, Payment, Terminal, TopUp, TransactionReport, User
from wallet.selectors import wallet_balance
from wallet.services.ledger import WalletFrozen
from wallet.services.payments import InvalidPaymentCode, payment_redeem
from wallet.services.switches import channel_switch_set
from wallet.services.terminals import merchant_create, terminal_create

pytestmark = pytest.mark.django_db


def store(name: str, code: str) -> Terminal:
    """A store register of a merchant with this name (the name is what the customer reads)."""
    merchant = Merchant.objects.filter(code=code).first() or merchant_create(name=name, code=code)
    return terminal_create(merchant=merchant, name="Register 1", kind=Terminal.Kind.STORE_REGISTER)[0]


def reference(topup: TopUp) -> UUID:
    assert topup.transfer is not None
    return topup.transfer.public_id


def pay(terminal: Terminal, user: User, amount: int, key: str) -> Payment:
    return payment_redeem(terminal=terminal, code=payment_code_for(user=user).code, amount_yen=amount, idempotency_key=key)


@pytest.fixture
def owner(customer: User, customer_totp: TOTPDevice) -> Client:
    return verified_client(customer, customer_totp, stepped_up=False)


@pytest.fixture
def history(customer: User) -> dict[str, Any]:
    """¥5,000 cashed in at a register, then ¥1,200 spent at a bakery."""
    bakery = store("Sunrise Bakery", "sunrise-bakery")
    topup = fund_wallet(customer, 5_000)
    payment = pay(bakery, customer, 1_200, "bread")
    return {"topup": topup, "payment": payment, "bakery": bakery}


def csv_rows(response: Any) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff"), "a BOM so Excel reads the UTF-8 text"
    return list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))


# --- Pages -----------------------------------------------------------------------


def test_home_shows_balance_pending_topups_and_recent_activity(customer: User, owner: Client, history: dict[str, Any]) -> None:
    held = TopUp.objects.create(
        user=customer, channel=TopUp.Channel.CREDIT_CARD, amount_yen=7_000, request_key="held-1", status=TopUp.Status.HELD
    )
    page = owner.get(reverse("wallet:home")).content.decode()
    assert "¥3,800" in page
    assert "Sunrise Bakery" in page and "-¥1,200" in page and "+¥5,000" in page
    assert "¥7,000" in page and reverse("wallet:topup_result", args=[held.public_id]) in page
    assert reverse("wallet:pay") in page and reverse("wallet:topup") in page


def test_home_keeps_the_landing_page_for_visitors_and_hides_money_without_a_second_factor(db: None) -> None:
    assert "Sign up" in Client(HTTP_ACCEPT_LANGUAGE="en").get(reverse("wallet:home")).content.decode()
    newcomer = make_customer(email="new@example.jp")
    page = verified_client(newcomer, stepped_up=False).get(reverse("wallet:home")).content.decode()
    assert "Set up your authenticator" in page and "Balance" not in page


@pytest.mark.parametrize("name", ["topup", "pay", "activity", "wallet_lock", "wallet_unlock"])
def test_a05_money_pages_need_a_verified_second_factor(customer: User, name: str) -> None:
    assert Client().get(reverse(f"wallet:{name}"))["Location"].startswith("/login/")
    enrol_totp(customer)
    # Logged in with the password only: sent for the code first.
    response = verified_client(customer).get(reverse(f"wallet:{name}"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("wallet:login_otp"))


def test_every_money_page_renders_for_the_owner(customer: User, customer_totp: TOTPDevice, history: dict[str, Any]) -> None:
    client = verified_client(customer, customer_totp)
    reference = history["payment"].transfer.public_id
    for url in [
        reverse("wallet:topup"),
        reverse("wallet:topup_result", args=[history["topup"].public_id]),
        reverse("wallet:pay"),
        reverse("wallet:activity"),
        reverse("wallet:receipt", args=[reference]),
        reverse("wallet:receipt_report", args=[reference]),
        reverse("wallet:wallet_lock"),
        reverse("wallet:wallet_unlock"),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Cache-Control"].startswith("max-age=0"), f"{url} must not be cached"


def test_receipt_says_what_when_where_how_much_and_the_reference(owner: Client, history: dict[str, Any]) -> None:
    payment: Payment = history["payment"]
    page = owner.get(reverse("wallet:receipt", args=[payment.transfer.public_id])).content.decode()
    assert "Store payment" in page and "-¥1,200" in page
    assert "Sunrise Bakery" in page and "Register 1" in page
    assert str(payment.transfer.public_id) in page and "Paid" in page
    assert reverse("wallet:receipt_report", args=[payment.transfer.public_id]) in page
    topup_page = owner.get(reverse("wallet:receipt", args=[reference(history["topup"])])).content.decode()
    assert "+¥5,000" in topup_page and "Cash at a store register" in topup_page


def test_b08_another_customers_transactions_are_not_found(owner: Client, history: dict[str, Any]) -> None:
    stranger = make_customer(email="stranger@example.jp")
    theirs = fund_wallet(stranger, 2_000)
    for url in [
        reverse("wallet:receipt", args=[reference(theirs)]),
        reverse("wallet:receipt_report", args=[reference(theirs)]),
        reverse("wallet:topup_result", args=[theirs.public_id]),
    ]:
        assert owner.get(url).status_code == 404, url
    assert owner.post(reverse("wallet:receipt_report", args=[reference(theirs)]), {"lock_wallet": "on"}).status_code == 404
    assert not TransactionReport.objects.exists()
    page = owner.get(reverse("wallet:activity")).content.decode()
    assert str(reference(theirs)) not in page and "¥2,000" not in page


# --- History and CSV -------------------------------------------------------------


def test_activity_lists_signed_amounts_and_filters_by_kind_search_and_date(owner: Client, history: dict[str, Any]) -> None:
    page = owner.get(reverse("wallet:activity")).content.decode()
    assert "-¥1,200" in page and "+¥5,000" in page
    payments_only = owner.get(reverse("wallet:activity"), {"kind": "payment"}).content.decode()
    assert "-¥1,200" in payments_only and "+¥5,000" not in payments_only
    searched = owner.get(reverse("wallet:activity"), {"search": "Sunrise"}).content.decode()
    assert "-¥1,200" in searched and "+¥5,000" not in searched
    # The latest day a filter accepts (L04: later ones are refused with a message).
    future = owner.get(reverse("wallet:activity"), {"date_from": activity_date_max().isoformat()}).content.decode()
    assert "No transactions match these filters." in future


def test_activity_is_paginated_and_the_pages_keep_the_filters(customer: User, owner: Client) -> None:
    register = store("Corner Shop", "corner")
    fund_wallet(customer, 30_000, register)
    for n in range(22):
        pay(register, customer, 100 + n, f"p{n}")
    first = owner.get(reverse("wallet:activity"), {"kind": "payment"}).content.decode()
    assert "Page 1 of 2" in first and "-¥121" in first and "-¥100" not in first
    assert "kind=payment&amp;page=2" in first
    second = owner.get(reverse("wallet:activity"), {"kind": "payment", "page": "2"}).content.decode()
    assert "-¥100" in second and "+¥30,000" not in second


def test_csv_export_has_every_row_and_respects_the_filters(owner: Client, history: dict[str, Any]) -> None:
    response = owner.get(reverse("wallet:activity_export"))
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    header, *rows = csv_rows(response)
    assert header == ["Date", "Type", "Details", "Amount (yen)", "Reference"]
    assert [(r[1], r[2].split(":")[0], r[3]) for r in rows] == [
        ("Store payment", "Sunrise Bakery", "-1200"),
        ("Top-up", "Cash at a store register", "5000"),
    ]
    assert rows[0][4] == str(history["payment"].transfer.public_id)

    _header, *filtered = csv_rows(owner.get(reverse("wallet:activity_export"), {"kind": "topup"}))
    assert [r[3] for r in filtered] == ["5000"]
    _header, *none = csv_rows(owner.get(reverse("wallet:activity_export"), {"date_to": "2000-01-01"}))
    assert none == []


def test_the_activity_page_links_the_csv_with_its_filters(owner: Client, history: dict[str, Any]) -> None:
    page = owner.get(reverse("wallet:activity"), {"kind": "payment", "page": "1"}).content.decode()
    assert f'{reverse("wallet:activity_export")}?kind=payment"' in page


def test_csv_cells_cannot_run_as_spreadsheet_formulas(customer: User, owner: Client) -> None:
    evil = store('=HYPERLINK("http://evil.example","click")', "evil")
    fund_wallet(customer, 1_000)
    pay(evil, customer, 500, "evil")
    _header, *rows = csv_rows(owner.get(reverse("wallet:activity_export"), {"kind": "payment"}))
    assert rows[0][2].startswith("'=")


# --- Top-up ------------------------------------------------------------------------


def topup_form(client: Client, card: Card, amount: str) -> dict[str, str]:
    attempt = client.get(reverse("wallet:topup")).context["form"].initial["attempt"]
    return {"card": str(card.pk), "amount": amount, "attempt": str(attempt)}


def test_topup_with_a_card_credits_the_wallet_and_shows_the_result(customer: User, owner: Client) -> None:
    card = make_card(customer)
    form = topup_form(owner, card, "5,000")
    response = owner.post(reverse("wallet:topup"), form)
    topup = TopUp.objects.get(user=customer)
    assert response["Location"] == reverse("wallet:topup_result", args=[topup.public_id])
    page = owner.get(response["Location"]).content.decode()
    assert "¥5,000 added to your wallet" in page
    assert wallet_balance(customer) == 5_000
    # Pressing the button again (or the browser resending) does not top up twice (B06).
    owner.post(reverse("wallet:topup"), form)
    assert TopUp.objects.filter(user=customer).count() == 1 and wallet_balance(customer) == 5_000


def test_s04_a_large_topup_asks_for_step_up_first_and_comes_back_filled_in(
    customer: User, customer_totp: TOTPDevice, owner: Client, settings: Any
) -> None:
    card = make_card(customer)
    amount = settings.TOPUP_STEP_UP_FROM_YEN
    response = owner.post(reverse("wallet:topup"), topup_form(owner, card, str(amount)))
    assert response.status_code == 302
    location = urlparse(response["Location"])
    assert location.path == reverse("wallet:step_up")
    back = urlparse(parse_qs(location.query)["next"][0])
    assert back.path == reverse("wallet:topup") and parse_qs(back.query) == {"card": [str(card.pk)], "amount": [str(amount)]}
    assert not TopUp.objects.exists()

    refilled = owner.get(f"{back.path}?{back.query}").context["form"]
    assert refilled.initial["amount"] == str(amount) and refilled.initial["card"] == card.pk

    stepped = verified_client(customer, customer_totp, stepped_up=True)
    response = stepped.post(reverse("wallet:topup"), topup_form(stepped, card, str(amount)))
    assert response.status_code == 302 and "/topup/" in response["Location"]
    assert wallet_balance(customer) == amount


def test_a_declined_card_is_shown_as_declined_and_nothing_is_added(customer: User, owner: Client) -> None:
    card = make_card(customer, behaviour="decline", last4="0002")
    response = owner.post(reverse("wallet:topup"), topup_form(owner, card, "3000"))
    page = owner.get(response["Location"]).content.decode()
    assert "Your card was declined" in page and "No money was taken" in page
    assert wallet_balance(customer) == 0


def test_l03_refusals_are_form_errors_not_server_errors(customer: User, owner: Client, django_capture_on_commit_callbacks: Any) -> None:
    card = make_card(customer)
    too_much = owner.post(reverse("wallet:topup"), topup_form(owner, card, "25000"), follow=False)
    # Above the step-up threshold: the step-up comes first, so ask with a fresh step-up.
    assert too_much.status_code == 302
    stepped = verified_client(customer, enrol_totp(customer))
    response = stepped.post(reverse("wallet:topup"), topup_form(stepped, card, "25000"))
    assert response.status_code == 400 and "The most you can use at once is ¥20,000." in response.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        channel_switch_set(name="charge.credit_card", enabled=False, reason="incident", acting_user=None)
    response = owner.post(reverse("wallet:topup"), topup_form(owner, card, "1000"))
    assert response.status_code == 400 and "temporarily suspended" in response.content.decode()

    response = owner.post(reverse("wallet:topup"), topup_form(owner, card, "five thousand"))
    assert response.status_code == 400 and "whole yen" in response.content.decode()
    assert not TopUp.objects.exists()


@pytest.mark.parametrize(
    ("typed", "amount"), [("5000", 5000), ("5,000", 5000), ("¥5,000", 5000), ("５，０００", 5000), (" 12000円 ", 12000)]
)
def test_amounts_are_read_as_people_type_them(customer: User, typed: str, amount: int) -> None:
    card = make_card(customer)
    form = TopUpForm({"card": card.pk, "amount": typed, "attempt": "6f1b2c1e-7c51-4b7e-9f0c-2f4b9d0f1a11"}, cards=Card.objects.all())
    assert form.is_valid(), form.errors
    assert form.cleaned_data["amount"] == amount


def test_the_topup_page_offers_to_add_a_card_when_there_is_none(owner: Client) -> None:
    page = owner.get(reverse("wallet:topup")).content.decode()
    assert "Add a card first" in page and reverse("wallet:card_add") in page
    assert "¥20,000" in page, "the limits are shown"


# --- Payment code -------------------------------------------------------------------


def test_the_pay_page_shows_a_code_as_qr_barcode_and_digits_that_a_register_accepts(customer: User, owner: Client) -> None:
    register = store("Corner Shop", "corner")
    fund_wallet(customer, 2_000, register)
    response = owner.get(reverse("wallet:pay"))
    page = response.content.decode()
    digits = "".join(response.context["payload"]["code"].split())
    assert len(digits) == 18 and " ".join(digits[i : i + 4] for i in range(0, 18, 4)) in page
    assert page.count('src="data:image/svg+xml;base64,') == 2
    assert "js/payment_code.js" in page
    payment = payment_redeem(terminal=register, code=digits, amount_yen=500, idempotency_key="scan")
    assert payment.user == customer


def test_the_refresh_endpoint_gives_a_new_code_and_retires_the_shown_one(customer: User, owner: Client) -> None:
    register = store("Corner Shop", "corner")
    fund_wallet(customer, 2_000, register)
    shown = "".join(owner.get(reverse("wallet:pay")).context["payload"]["code"].split())
    response = owner.post(reverse("wallet:pay_code_new"), HTTP_ACCEPT="application/json")
    data = json.loads(response.content)
    assert response.status_code == 200 and 0 < data["expires_in"] <= 300
    assert data["qr"].startswith("data:image/svg+xml") and data["barcode"].startswith("data:image/svg+xml")
    fresh = "".join(data["code"].split())
    assert fresh != shown
    with pytest.raises(InvalidPaymentCode):
        payment_redeem(terminal=register, code=shown, amount_yen=100, idempotency_key="old")
    assert payment_redeem(terminal=register, code=fresh, amount_yen=100, idempotency_key="new").amount_yen == 100


def test_s06_the_refresh_endpoint_needs_post_and_the_csrf_token(customer: User, customer_totp: TOTPDevice) -> None:
    client = verified_client(customer, customer_totp)
    assert client.get(reverse("wallet:pay_code_new")).status_code == 405
    strict = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
    strict.cookies = client.cookies
    assert strict.post(reverse("wallet:pay_code_new")).status_code == 403


# --- Lock and report -------------------------------------------------------------------


def test_locking_stops_payments_at_once_and_unlocking_needs_step_up(customer: User, customer_totp: TOTPDevice, owner: Client) -> None:
    register = store("Corner Shop", "corner")
    fund_wallet(customer, 2_000, register)
    code = payment_code_for(user=customer).code
    response = owner.post(reverse("wallet:wallet_lock"))
    assert response.status_code == 302
    with pytest.raises(WalletFrozen):
        payment_redeem(terminal=register, code=code, amount_yen=500, idempotency_key="after-lock")
    assert wallet_balance(customer) == 2_000
    assert "Your wallet is locked" in owner.get(reverse("wallet:home")).content.decode()
    pay_page = owner.get(reverse("wallet:pay"))
    assert pay_page.context["payload"] is None and reverse("wallet:wallet_unlock") in pay_page.content.decode()

    # Unlocking needs a fresh code from the authenticator.
    assert owner.post(reverse("wallet:wallet_unlock"))["Location"].startswith(reverse("wallet:step_up"))
    assert AccountFreeze.objects.active().filter(user=customer).exists()
    verified_client(customer, customer_totp, stepped_up=True).post(reverse("wallet:wallet_unlock"))
    assert not AccountFreeze.objects.active().filter(user=customer).exists()
    assert pay(register, customer, 500, "after-unlock").amount_yen == 500


def test_unlocking_leaves_a_lock_set_by_support(customer: User, customer_totp: TOTPDevice, owner: Client) -> None:
    owner.post(reverse("wallet:wallet_lock"))
    AccountFreeze.objects.create(user=customer, scope=AccountFreeze.Scope.ALL, source=AccountFreeze.Source.STAFF, reason="case 12")
    response = verified_client(customer, customer_totp, stepped_up=True).post(reverse("wallet:wallet_unlock"), follow=True)
    assert "support has also locked your wallet" in response.content.decode()
    assert list(AccountFreeze.objects.active().filter(user=customer).values_list("source", flat=True)) == ["staff"]


def test_i_dont_recognise_this_records_a_report_and_locks_by_default(customer: User, owner: Client, history: dict[str, Any]) -> None:
    transfer = history["payment"].transfer
    form = owner.get(reverse("wallet:receipt_report", args=[transfer.public_id])).context["form"]
    assert form["lock_wallet"].initial is True, "the lock box is ticked by default"
    response = owner.post(reverse("wallet:receipt_report", args=[transfer.public_id]), {"note": "I was at home", "lock_wallet": "on"})
    assert response["Location"] == reverse("wallet:receipt", args=[transfer.public_id])
    report = TransactionReport.objects.get(user=customer, transfer=transfer)
    assert report.note == "I was at home" and report.wallet_locked
    assert AccountFreeze.objects.active().filter(user=customer, source=AccountFreeze.Source.CUSTOMER).exists()
    page = owner.get(response["Location"]).content.decode()
    assert "You reported this transaction" in page and "your wallet is locked" in page


def test_a_report_without_the_lock_leaves_the_wallet_usable(customer: User, owner: Client, history: dict[str, Any]) -> None:
    transfer = history["topup"].transfer
    assert transfer is not None
    owner.post(reverse("wallet:receipt_report", args=[transfer.public_id]), {"note": ""})
    assert TransactionReport.objects.filter(user=customer, transfer=transfer, wallet_locked=False).exists()
    assert not AccountFreeze.objects.active().filter(user=customer).exists()
    assert pay(history["bakery"], customer, 100, "still-works").amount_yen == 100
