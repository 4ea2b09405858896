"""The whole refund loop in real browsers: a customer claims by bank transfer with a fresh
code before the account is saved; the name on the account differs from the registered kana,
so finance approves the claim in the review queue; finance builds the batch and asks for the
release, a second finance user approves it, the 総合振込 file is downloaded and read back;
the bank returns the payout, finance imports the result, and the customer corrects the
details, which leave in the next batch with new-code 2."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from refunds.models import Payout, PayoutBatch, RefundClaim
from refunds.services.payouts import payout_batch_build, payout_batch_file
from refunds.zengin.transfer_file import read_transfer_file
from tests.backoffice.helpers import STAFF_PASSWORD, make_staff
from tests.refunds.factories import funded_customer, make_programme
from wallet.models import LedgerAccount, User

from .conftest import Shots, secret_of, totp_code_unused
from .test_refund_portal import authenticator_of, let_step_up_age, log_in, submit

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def staff_page(browser: Browser) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    context.set_default_timeout(15_000)
    return context.new_page()


def staff_login(page: Page, live_server: LiveServer, user: User) -> None:
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.locator("#id_username").fill(user.email)
    page.locator("#id_password").fill(STAFF_PASSWORD)
    page.locator("#id_otp_token").fill(totp_code_unused(secret_of(TOTPDevice.objects.get(user=user)), TOTPDevice.objects.get(user=user)))
    page.locator("#login-form input[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}/admin/")


def pick_bank_and_branch(page: Page, bank: str, bank_option: str, branch: str, branch_option: str) -> None:
    page.locator("#id_bank").fill("")
    page.locator("#id_bank").press_sequentially(bank, delay=40)
    page.locator("#bank-listbox li[role=option]", has_text=bank_option).first.click()
    page.locator("#id_branch").fill("")
    page.locator("#id_branch").press_sequentially(branch, delay=40)
    page.locator("#branch-listbox li[role=option]", has_text=branch_option).first.click()


def eventually(check: Callable[[], bool], what: str, seconds: float = 15) -> None:
    """The page posted; the server answers in its own thread, so wait for the row to change."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def step_up_if_asked(page: Page, secret: str, customer: User) -> None:
    if page.locator("h1").inner_text() == "Confirm it is you":
        page.locator("#id_code").fill(totp_code_unused(secret, TOTPDevice.objects.get(user=customer)))
        submit(page)


def test_claim_review_release_download_return_and_correction(
    page: Page, browser: Browser, live_server: LiveServer, shot: Shots, settings: Any, tmp_path: Path
) -> None:
    settings.BANK_DELIVERY_DIR = tmp_path / "bank-outbox"
    make_programme()
    customer = funded_customer(amount_yen=23_456)
    secret = secret_of(authenticator_of(customer))
    finance = make_staff("finance@anzenpay.example", "finance")
    treasury = make_staff("treasury@anzenpay.example", "finance")

    # --- The customer claims; the account is in her married name, so staff look first.
    log_in(page, live_server, customer, secret)
    page.goto(f"{live_server.url}/refund/claim/")
    submit(page)
    page.get_by_label("Bank transfer to an account in your name").check()
    let_step_up_age(page.context)
    submit(page)
    expect(page.locator("h1")).to_have_text("Confirm it is you")
    page.locator("#id_code").fill(totp_code_unused(secret, TOTPDevice.objects.get(user=customer)))
    submit(page)
    pick_bank_and_branch(page, "みずほ", "(0001)", "東京営業", "(001)")
    page.locator("#id_account_number").fill("1234567")
    page.locator("#id_holder_name").fill("スズキ ハナコ")
    submit(page)
    page.get_by_role("button", name="Submit my claim").click()
    expect(page.locator("h1")).to_have_text("We have received your claim")
    claim = RefundClaim.objects.get(customer=customer)
    assert claim.state == RefundClaim.State.REVIEW and claim.hold_reasons == ["name_mismatch"]
    assert LedgerAccount.objects.get(owner=customer).balance_yen == 0
    shot(page, "customer-claim-received")

    # --- Finance approves it in the review queue.
    desk = staff_page(browser)
    staff_login(desk, live_server, finance)
    desk.goto(f"{live_server.url}/admin/refund-desk/claims/")
    expect(desk.locator("main, #content").first).to_contain_text(claim.number)
    shot(desk, "finance-review-queue")
    desk.goto(f"{live_server.url}/admin/refund-desk/claims/{claim.pk}/")
    desk.locator("form.decide-form textarea, form.decide-form input[type=text]").first.fill("Married name; the bank book was shown.")
    desk.locator("form.decide-form button[value=approve]").click()
    eventually(lambda: RefundClaim.objects.get(pk=claim.pk).state == RefundClaim.State.APPROVED, "the claim approved")

    # --- Finance builds the batch and asks for the release.
    desk.goto(f"{live_server.url}/admin/refund-desk/payouts/")
    desk.locator("form[action$='/payouts/build/'] select").first.select_option("bank")
    desk.get_by_role("button", name="Build a batch now").click()
    eventually(PayoutBatch.objects.exists, "the batch built")
    batch = PayoutBatch.objects.get()
    expect(desk).to_have_url(f"{live_server.url}/admin/refund-desk/payouts/{batch.pk}/")
    desk.locator("form[action$='/release/'] textarea, form[action$='/release/'] input[type=text]").first.fill("Today's refunds.")
    desk.get_by_role("button", name="Ask a second finance user to release it").click()
    eventually(lambda: PayoutBatch.objects.get(pk=batch.pk).state == PayoutBatch.State.RELEASE_REQUESTED, "the release requested")
    shot(desk, "finance-release-requested")

    # --- A second finance user approves: the ledger is posted and the file delivered.
    second = staff_page(browser)
    staff_login(second, live_server, treasury)
    second.goto(f"{live_server.url}/admin/refund-desk/payouts/{batch.pk}/")
    second.get_by_role("link", name="Open the approval").click()
    shot(second, "treasury-approval")
    second.get_by_role("button", name="Approve").click()
    eventually(lambda: PayoutBatch.objects.get(pk=batch.pk).state == PayoutBatch.State.DELIVERED, "the batch delivered")
    batch.refresh_from_db()
    assert batch.state == PayoutBatch.State.DELIVERED and batch.released_by == treasury
    delivered = list((tmp_path / "bank-outbox").iterdir())
    assert [path.name for path in delivered] == [batch.file_name]

    # --- Finance downloads the file; it reads back as one payout to the claim.
    desk.goto(f"{live_server.url}/admin/refund-desk/payouts/{batch.pk}/")
    with desk.expect_download() as download:
        desk.get_by_role("link", name="Download the transfer file (総合振込)").click()
    content = Path(download.value.path()).read_bytes()
    assert content == delivered[0].read_bytes() == payout_batch_file(batch=batch)
    parsed = read_transfer_file(content)
    payout = Payout.objects.get(claim=claim)
    [record] = [row.record for row in parsed.records]
    assert (record.customer_code_1, record.amount_yen, record.new_code, record.recipient_name) == (payout.pk, 23_456, 1, "ｽｽﾞｷ ﾊﾅｺ")
    assert parsed.trailer_count == 1 and parsed.trailer_total == 23_456

    # --- The bank returns it; finance imports the result.
    results = tmp_path / "results.csv"
    results.write_text(f"payout_id,status,reason\n{payout.pk},returned,口座なし / no such account\n", encoding="utf-8")
    desk.goto(f"{live_server.url}/admin/refund-desk/payouts/results/")
    desk.locator("input[type=file]").set_input_files(str(results))
    desk.get_by_role("button", name="Check and import").click()
    eventually(lambda: RefundClaim.objects.get(pk=claim.pk).state == RefundClaim.State.RETURNED, "the claim returned")
    shot(desk, "finance-results-imported")

    # --- The customer corrects the details; they leave in the next batch with new-code 2.
    page.goto(f"{live_server.url}/refund/status/")
    expect(page.locator("main")).to_contain_text("口座なし")
    shot(page, "customer-claim-returned")
    page.get_by_role("link", name="Correct the details").first.click()
    step_up_if_asked(page, secret, customer)
    pick_bank_and_branch(page, "みずほ", "(0001)", "東京営業", "(001)")
    page.locator("#id_account_number").fill("7654321")
    page.locator("#id_holder_name").fill("スズキ ハナコ")
    submit(page)
    eventually(lambda: RefundClaim.objects.get(pk=claim.pk).state != RefundClaim.State.RETURNED, "the details corrected")
    shot(page, "customer-details-corrected")
    claim.refresh_from_db()
    # A person approved this holder name before; only a failed check would send it back to review.
    assert claim.state in (RefundClaim.State.APPROVED, RefundClaim.State.REVIEW)
    if claim.state == RefundClaim.State.REVIEW:
        desk.goto(f"{live_server.url}/admin/refund-desk/claims/{claim.pk}/")
        desk.locator("form.decide-form textarea, form.decide-form input[type=text]").first.fill("Corrected account checked.")
        desk.locator("form.decide-form button[value=approve]").click()
        eventually(lambda: RefundClaim.objects.get(pk=claim.pk).state == RefundClaim.State.APPROVED, "the correction approved")
    next_batch = payout_batch_build(method=PayoutBatch.Method.BANK)
    assert next_batch is not None
    [again] = [row.record for row in read_transfer_file(payout_batch_file(batch=next_batch)).records]
    assert (again.account_number, again.new_code, again.amount_yen) == ("7654321", 2, 23_456)
