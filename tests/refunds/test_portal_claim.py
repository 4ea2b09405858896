"""The refund portal's login route with the Django test client: the landing page, then a
claim by bank transfer and by cash at a Japan Post counter, end to end; errors per field
that change nothing; a balance that changed; a double submit that files one claim."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from refunds.models import BankDetails, PostalDetails, RefundClaim, ShutdownProgramme
from tests.conftest import enrol_totp, make_customer
from tests.money import fund_wallet
from tests.refunds.factories import funded_customer, make_programme
from tests.wallet.test_account import verified_client
from wallet.models import Notification, User
from wallet.selectors import wallet_balance

pytestmark = pytest.mark.django_db

BANK_FORM = {
    "account_kind": "bank",
    "bank": "みずほ",
    "bank_code": "",
    "branch": "東京営業部",
    "branch_code": "",
    "account_type": "1",
    "account_number": "1234567",
    "holder_name": "ヤマダ ハナコ",
}
POSTAL_FORM = {"name": "山田 花子", "name_kana": "ヤマダ ハナコ", "postal_code": "1000001", "address": "東京都千代田区千代田1-1 101号室"}


def claim_url(step: str, route: str = "login") -> str:
    return reverse(f"refunds:{'claim' if route == 'login' else 'contact_claim'}_{step}")


def main_text(response: Any) -> str:
    """The page's <main>, tags dropped and whitespace folded, for assertions on what a person reads."""
    html = response.content.decode()
    body = html.split("<main", 1)[1].split("</main>", 1)[0]
    return " ".join(re.sub(r"<[^>]+>", " ", body).split())


def claimer(email: str = "hanako@example.jp", amount_yen: int = 12_345) -> tuple[User, TOTPDevice, Client]:
    customer = funded_customer(email, amount_yen=amount_yen)
    device = enrol_totp(customer)
    return customer, device, verified_client(customer, device)


def confirm_balance(client: Client, amount_yen: int, route: str = "login") -> Any:
    return client.post(claim_url("balance", route), {"amount_yen": str(amount_yen)})


def choose(client: Client, method: str, route: str = "login") -> Any:
    return client.post(claim_url("method", route), {"method": method})


def claim_by_bank(client: Client, amount_yen: int, route: str = "login", **bank: str) -> Any:
    """The four steps with a bank account; returns the response to "Submit my claim"."""
    assert confirm_balance(client, amount_yen, route).status_code == 302
    assert choose(client, "bank", route).status_code == 302
    response = client.post(claim_url("details", route), {**BANK_FORM, **bank})
    assert response.status_code == 302, main_text(response)
    assert response["Location"] == claim_url("check", route)
    return client.post(claim_url("check", route))


@pytest.fixture
def programme() -> ShutdownProgramme:
    return make_programme()


# --- Landing ----------------------------------------------------------------------------


def test_landing_shows_notice_dates_routes_and_the_balance(programme: ShutdownProgramme) -> None:
    anonymous = main_text(Client(HTTP_ACCEPT_LANGUAGE="en").get(reverse("refunds:landing")))
    assert "AnzenPay is closing." in anonymous
    assert "Claim deadline" in anonymous and timezone.localtime(programme.claims_close_at).strftime("%Y-%m-%d %H:%M") in anonymous
    assert "Service ends" in anonymous
    assert "Log in and claim" in anonymous and "I can no longer log in" in anonymous
    assert "Check the status of your claim" in anonymous
    _customer, _device, client = claimer(amount_yen=4_321)
    logged_in = main_text(client.get(reverse("refunds:landing")))
    assert "¥4,321" in logged_in and "Claim this amount" in logged_in


def test_landing_notice_follows_the_page_language(programme: ShutdownProgramme) -> None:
    japanese = Client(HTTP_ACCEPT_LANGUAGE="ja")
    japanese.cookies["django_language"] = "ja"
    assert "AnzenPayはサービスを終了します。" in japanese.get(reverse("refunds:landing")).content.decode()
    english = Client(HTTP_ACCEPT_LANGUAGE="en").get(reverse("refunds:landing")).content.decode()
    assert "AnzenPay is closing." in english and "AnzenPayはサービスを終了します。" not in english


def test_landing_explains_before_opening_after_the_deadline_and_without_programme() -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert "no refund programme" in main_text(client.get(reverse("refunds:landing")))
    make_programme(open_now=False)
    before = main_text(client.get(reverse("refunds:landing")))
    assert "Claims are not open yet" in before and "Log in and claim" not in before
    ShutdownProgramme.objects.update(state=ShutdownProgramme.State.CANCELLED)
    make_programme(closed=True)
    after = main_text(client.get(reverse("refunds:landing")))
    assert "The claim deadline has passed" in after and "contact AnzenPay support" in after and "late claim" in after
    assert "Log in and claim" not in after


def test_navigation_shows_refund_while_a_programme_is_announced() -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    link = f'href="{reverse("refunds:landing")}"'
    assert link not in client.get(reverse("wallet:login")).content.decode()
    draft = make_programme(state=ShutdownProgramme.State.DRAFT)
    assert link not in client.get(reverse("wallet:login")).content.decode()
    ShutdownProgramme.objects.filter(pk=draft.pk).update(state=ShutdownProgramme.State.ANNOUNCED)
    page = client.get(reverse("wallet:login")).content.decode()
    assert link in page.split("<main", 1)[0], "the entry is in the header's navigation"


# --- Bank transfer ---------------------------------------------------------------------------


def test_bank_claim_end_to_end(programme: ShutdownProgramme, django_capture_on_commit_callbacks: Any) -> None:
    customer, _device, client = claimer(amount_yen=12_345)
    first = client.get(claim_url("balance"))
    assert first.status_code == 200
    assert "Step 1 of 4" in main_text(first) and "¥12,345" in main_text(first)
    assert confirm_balance(client, 12_345)["Location"] == claim_url("method")
    assert "Step 2 of 4" in main_text(client.get(claim_url("method")))
    assert choose(client, "bank")["Location"] == claim_url("details")
    details = client.get(claim_url("details"))
    assert "Step 3 of 4" in main_text(details)
    assert 'value="ヤマダ ハナコ"' in details.content.decode(), "the registered kana is offered"
    assert client.post(claim_url("details"), BANK_FORM)["Location"] == claim_url("check")
    check = main_text(client.get(claim_url("check")))
    assert "Step 4 of 4" in check
    assert "みずほ (0001)" in check and "東京営業部 (001)" in check and "1234567" in check and "ﾔﾏﾀﾞ ﾊﾅｺ" in check
    assert not RefundClaim.objects.exists(), "nothing is written before the last step"
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(claim_url("check"))
    claim = RefundClaim.objects.get(customer=customer)
    assert done["Location"] == reverse("refunds:claim_done", args=[claim.number])
    page = main_text(client.get(done["Location"]))
    assert claim.number in page and "¥12,345" in page
    assert claim.route == RefundClaim.Route.LOGIN and claim.method == RefundClaim.Method.BANK
    assert claim.state == RefundClaim.State.APPROVED and claim.amount_yen == 12_345
    details_row = BankDetails.objects.get(claim=claim)
    assert (details_row.bank_code, details_row.branch_code, details_row.account_type) == ("0001", "001", 1)
    assert (details_row.account_number, details_row.holder_name) == ("1234567", "ﾔﾏﾀﾞ ﾊﾅｺ")
    assert wallet_balance(customer) == 0
    assert [m.to for m in mail.outbox if claim.number in m.subject] == [[customer.email]]
    assert "refund_claim_login" not in client.session, "the steps' state is gone once the claim is filed"


def test_bank_and_branch_by_code_and_labels_from_the_script(programme: ShutdownProgramme) -> None:
    customer, _device, client = claimer(amount_yen=1_000)
    response = claim_by_bank(client, 1_000, bank="0005", branch="", branch_code="001", bank_code="")
    assert response.status_code == 302
    details_row = BankDetails.objects.get(claim__customer=customer)
    assert (details_row.bank_code, details_row.branch_code) == ("0005", "001")


def test_no_script_fallback_lists_matching_banks_to_pick(programme: ShutdownProgramme) -> None:
    _customer, _device, client = claimer(amount_yen=1_000)
    confirm_balance(client, 1_000)
    choose(client, "bank")
    response = client.post(claim_url("details"), {**BANK_FORM, "bank": "mizuho", "branch": ""})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Several banks match" in page
    assert re.search(r'<input type="radio" name="bank_code" value="0001">', page), "the matches are offered to pick"
    assert 'type="hidden" name="bank_code"' not in page
    # Picking one keeps the rest of what was typed; then the branch is asked for.
    picked = client.post(claim_url("details"), {**BANK_FORM, "bank": "mizuho", "bank_code": "0001", "branch": ""})
    assert picked.status_code == 400
    picked_page = picked.content.decode()
    assert 'value="みずほ (0001)"' in picked_page and 'name="bank_code" value="0001"' in picked_page
    assert "Enter the branch name" in picked_page
    done = client.post(claim_url("details"), {**BANK_FORM, "bank": "みずほ (0001)", "bank_code": "0001", "branch": "東京"})
    assert done.status_code == 400 and "Several branches match" in done.content.decode()
    final = client.post(claim_url("details"), {**BANK_FORM, "bank_code": "0001", "branch": "東京", "branch_code": "001"})
    assert final["Location"] == claim_url("check")


def test_bank_suffixes_people_type_are_understood(programme: ShutdownProgramme) -> None:
    _customer, _device, client = claimer(amount_yen=1_000)
    confirm_balance(client, 1_000)
    choose(client, "bank")
    response = client.post(claim_url("details"), {**BANK_FORM, "bank": "みずほ銀行", "branch": "東京営業部支店"})
    assert response["Location"] == claim_url("check")


def test_errors_per_field_change_nothing(programme: ShutdownProgramme) -> None:
    customer, _device, client = claimer(amount_yen=2_000)
    confirm_balance(client, 2_000)
    choose(client, "bank")
    response = client.post(
        claim_url("details"), {**BANK_FORM, "holder_name": "山田 花子", "account_number": "12345678", "account_type": ""}
    )
    assert response.status_code == 400
    page = response.content.decode()
    for field, words in [("holder_name", "is a kanji"), ("account_number", "1 to 7 digits"), ("account_type", "Choose the account type")]:
        error = re.search(rf'<ul class="errorlist" id="id_{field}_error"><li>([^<]+)', page)
        assert error and words in error.group(1), (field, page[:200])
    # Each message is tied to its input.
    assert re.search(r'<input type="text" name="holder_name"[^>]*aria-describedby="id_holder_name_helptext id_holder_name_error"', page)
    assert re.search(r'name="holder_name"[^>]*aria-invalid="true"', page)
    assert re.search(r'<fieldset aria-describedby="id_account_type_error">', page)
    assert "bank" not in client.session["refund_claim_login"], "nothing kept from a refused form"
    unknown = client.post(claim_url("details"), {**BANK_FORM, "bank": "9998"})
    assert unknown.status_code == 400 and "There is no bank with the code 9998" in unknown.content.decode()
    nowhere = client.post(claim_url("details"), {**BANK_FORM, "branch": "存在しない支店名"})
    assert nowhere.status_code == 400 and "No branch of this bank matches" in nowhere.content.decode()
    assert client.get(claim_url("check"))["Location"] == claim_url("details"), "no way round the details"
    assert not RefundClaim.objects.exists() and wallet_balance(customer) == 2_000


def test_yucho_kigou_and_bangou_are_converted(programme: ShutdownProgramme) -> None:
    customer, _device, client = claimer(amount_yen=3_000)
    yucho = {"account_kind": "yucho", "yucho_kigou": "12340", "yucho_bangou": "12345671", "holder_name": "ﾔﾏﾀﾞ ﾊﾅｺ"}
    confirm_balance(client, 3_000)
    choose(client, "bank")
    wrong = client.post(claim_url("details"), {**yucho, "yucho_bangou": "12345678"})
    assert wrong.status_code == 400
    assert re.search(r'id="id_yucho_bangou_error"><li>For a 記号 starting with 1, the 番号 always ends in 1', wrong.content.decode())
    assert 'id="id_account_type_error"' not in wrong.content.decode(), "no error about inputs the ゆうちょ form does not use"
    bad_kigou = client.post(claim_url("details"), {**yucho, "yucho_kigou": "123"})
    assert 'id="id_yucho_kigou_error"' in bad_kigou.content.decode()
    assert client.post(claim_url("details"), yucho)["Location"] == claim_url("check")
    check = main_text(client.get(claim_url("check")))
    assert "12340-12345671" in check and "(238)" in check and "1234567" in check
    client.post(claim_url("check"))
    row = BankDetails.objects.get(claim__customer=customer)
    assert (row.bank_code, row.branch_code, row.account_type, row.account_number) == ("9900", "238", 1, "1234567")
    assert (row.yucho_kigou, row.yucho_bangou) == ("12340", "12345671")


def test_going_back_shows_what_was_typed(programme: ShutdownProgramme) -> None:
    _customer, _device, client = claimer(amount_yen=1_000)
    confirm_balance(client, 1_000)
    choose(client, "bank")
    client.post(claim_url("details"), {**BANK_FORM, "account_number": "7654321"})
    again = client.get(claim_url("details")).content.decode()
    assert 'value="7654321"' in again and 'value="みずほ (0001)"' in again and 'name="bank_code" value="0001"' in again


# --- Japan Post ------------------------------------------------------------------------------


def test_postal_claim_end_to_end(programme: ShutdownProgramme) -> None:
    customer, _device, client = claimer(amount_yen=800)
    confirm_balance(client, 800)
    assert choose(client, "postal")["Location"] == claim_url("details")
    bad = client.post(claim_url("details"), {**POSTAL_FORM, "postal_code": "12-34", "address": "東京"})
    assert bad.status_code == 400
    page = bad.content.decode()
    assert 'id="id_postal_code_error"' in page and 'id="id_address_error"' in page
    assert client.post(claim_url("details"), POSTAL_FORM)["Location"] == claim_url("check")
    check = main_text(client.get(claim_url("check")))
    assert "〒100-0001" in check and "東京都千代田区千代田1-1 101号室" in check
    done = client.post(claim_url("check"))
    claim = RefundClaim.objects.get(customer=customer)
    assert done["Location"] == reverse("refunds:claim_done", args=[claim.number])
    # B09: no address is on record to compare with, so staff check every certificate's address first.
    assert claim.method == RefundClaim.Method.POSTAL and claim.state == RefundClaim.State.REVIEW
    assert claim.hold_reasons == ["postal_address_not_on_record"]
    assert "A member of our staff checks your claim before it is paid" in main_text(client.get(done["Location"]))
    postal = PostalDetails.objects.get(claim=claim)
    assert (postal.name, postal.postal_code) == ("山田 花子", "100-0001")


# --- Refusals ------------------------------------------------------------------------------


def test_a_changed_balance_is_refused_with_a_message(programme: ShutdownProgramme) -> None:
    customer, _device, client = claimer(amount_yen=5_000)
    confirm_balance(client, 5_000)
    choose(client, "postal")
    client.post(claim_url("details"), POSTAL_FORM)
    fund_wallet(customer, 1_000)  # a top-up arrives while the customer is on the summary
    response = client.post(claim_url("check"))
    assert response["Location"] == claim_url("balance")
    page = main_text(client.get(response["Location"]))
    assert "The balance changed since you confirmed it" in page and "¥6,000" in page
    assert not RefundClaim.objects.exists() and wallet_balance(customer) == 6_000
    # A stale amount on the balance step itself is refused there too.
    stale = confirm_balance(client, 5_000)
    assert stale.status_code == 409 and "Your balance changed" in main_text(stale)
    assert confirm_balance(client, 6_000)["Location"] == claim_url("method")
    assert client.post(claim_url("check")).status_code == 302
    assert RefundClaim.objects.get(customer=customer).amount_yen == 6_000


def test_double_submit_files_one_claim_and_shows_it(programme: ShutdownProgramme) -> None:
    customer, _device, client = claimer(amount_yen=3_210)
    first = claim_by_bank(client, 3_210)
    claim = RefundClaim.objects.get(customer=customer)
    second = client.post(claim_url("check"))
    assert first["Location"] == second["Location"] == reverse("refunds:claim_done", args=[claim.number])
    assert RefundClaim.objects.count() == 1
    assert Notification.objects.filter(kind="refund_claim_received").count() == 1
    # The browser's back button and a second attempt from the start end at the same claim.
    assert client.get(claim_url("balance"))["Location"] == reverse("refunds:claim_done", args=[claim.number])
    assert "already claimed" in main_text(client.get(reverse("refunds:claim_done", args=[claim.number])))


def test_a_race_of_two_submits_files_one_claim(programme: ShutdownProgramme) -> None:
    """Two browsers of the same customer at step 4: the service refuses the second, the page shows the first."""
    customer, device, client = claimer(amount_yen=900)
    other = verified_client(customer, device)
    for browser in (client, other):
        confirm_balance(browser, 900)
        choose(browser, "postal")
        browser.post(claim_url("details"), POSTAL_FORM)
    client.post(claim_url("check"))
    claim = RefundClaim.objects.get(customer=customer)
    assert other.post(claim_url("check"))["Location"] == reverse("refunds:claim_done", args=[claim.number])
    assert RefundClaim.objects.count() == 1


def test_steps_need_a_second_factor_and_open_claims(programme: ShutdownProgramme) -> None:
    anonymous = Client().get(claim_url("balance"))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("wallet:login"))
    customer, _device, client = claimer(amount_yen=1_000)
    password_only = Client()
    password_only.force_login(customer, backend="django.contrib.auth.backends.ModelBackend")
    assert reverse("wallet:login_otp") in password_only.get(claim_url("balance"))["Location"]
    assert client.get(claim_url("method"))["Location"] == claim_url("balance"), "steps in order"
    now = timezone.now()
    ShutdownProgramme.objects.filter(pk=programme.pk).update(
        claims_open_at=now - timedelta(days=61), claims_close_at=now - timedelta(minutes=1)
    )
    assert client.get(claim_url("balance"))["Location"] == reverse("refunds:landing")


def test_an_empty_wallet_has_nothing_to_claim(programme: ShutdownProgramme) -> None:
    customer = make_customer("empty@example.jp")
    client = verified_client(customer, enrol_totp(customer))
    response = client.get(claim_url("balance"))
    assert response.status_code == 200 and "Nothing to refund" in main_text(response)
    assert client.post(claim_url("method"), {"method": "bank"})["Location"] == claim_url("balance")
