"""The refund desk's claim pages: the review queue (reasons, names, supporting data,
shared accounts, freezes and cases; filters, search, CSV), approve and reject (the
money back to the wallet and a mail), double clicks, the claim page, and late
claims filed by support and accepted only by a second person (B04)."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backoffice.models import Approval, Case, StaffAction
from refunds.models import ClaimEvent, RefundClaim
from refunds.services.claims import claim_review_approve, claim_submit
from tests.factories import funded_customer, make_staff, otp_login, staff_signed_in
from tests.refunds.factories import bank_claim, make_programme, postal_details
from wallet.models import AccountFreeze, Entry, LedgerAccount, Notification, User

pytestmark = pytest.mark.django_db

QUEUE = "refunds_staff:claims_review"
LATE = "refunds_staff:late_claim"


def _staff(client: Client, role: str = "fraud_analyst", email: str | None = None) -> User:
    return staff_signed_in(client, email or f"{role}@anzenpay.example", role)


def _refund_payable() -> int:
    return sum(Entry.objects.filter(account__code="refund_payable").values_list("amount_yen", flat=True))


def _contact_claim(email: str = "kenji@example.jp", amount_yen: int = 4_200) -> RefundClaim:
    customer = funded_customer(
        email, amount_yen=amount_yen, full_name="佐藤 健二", name_kana="サトウ ケンジ", birth_date=date(1985, 4, 1), password=None
    )
    return claim_submit(
        customer=customer,
        route=RefundClaim.Route.CONTACT,
        method=RefundClaim.Method.POSTAL,
        confirmed_amount_yen=amount_yen,
        postal=postal_details(),
        stated_name="佐藤 健二",
        stated_birth_date=date(1985, 4, 1),
    )


@pytest.fixture
def claims() -> dict[str, RefundClaim]:
    """A queue: a name mismatch, two customers naming one account, a frozen contact-route claim, a case, and a clean claim."""
    make_programme()
    mismatch = bank_claim(funded_customer("a@example.jp", amount_yen=3_000, password=None), 3_000, holder_name="ｻﾄｳ ｼﾞﾛｳ")
    first = bank_claim(
        funded_customer("b@example.jp", amount_yen=1_000, name_kana="ヤマダ ハナコ", password=None), 1_000, account_number="7654321"
    )
    second = bank_claim(
        funded_customer("c@example.jp", amount_yen=2_000, name_kana="ヤマダ ハナコ", password=None), 2_000, account_number="7654321"
    )
    contact = _contact_claim()
    clean = bank_claim(funded_customer("d@example.jp", amount_yen=500, password=None), 500, account_number="1111111")
    frozen = funded_customer("e@example.jp", amount_yen=900, password=None)
    AccountFreeze.objects.create(user=frozen, scope=AccountFreeze.Scope.DEBITS, source=AccountFreeze.Source.STAFF, reason="takeover")
    Case.objects.create(customer=frozen, source="review", summary="new device then money")
    frozen_claim = bank_claim(frozen, 900, account_number="2222222")
    for claim in (first, second):
        claim.refresh_from_db()
    return {"mismatch": mismatch, "first": first, "second": second, "contact": contact, "clean": clean, "frozen": frozen_claim}


def test_the_queue_shows_what_a_reviewer_weighs(client: Client, claims: dict[str, RefundClaim]) -> None:
    _staff(client)
    response = client.get(reverse(QUEUE))
    assert response.status_code == 200
    body = response.content.decode()
    listed = [row.claim.number for row in response.context["rows"]]
    assert claims["clean"].number not in listed  # approved: not in the queue
    assert set(listed) == {claims[k].number for k in ("mismatch", "first", "second", "contact", "frozen")}
    assert listed[0] == claims["mismatch"].number  # oldest first
    assert "The account holder&#x27;s name does not match the name in kana on the wallet." in body
    assert "The same bank account is named by another customer&#x27;s claim." in body
    assert "ﾔﾏﾀﾞ ﾊﾅｺ" in body or "ｻﾄｳ ｼﾞﾛｳ" in body
    assert "Names differ: check before approving" in body
    assert "Supporting data, not proof" in body and "1985-04-01" in body
    # The other claim on the same account is linked, both ways.
    assert reverse("refunds_staff:claim_detail", args=[claims["second"].pk]) in body
    row_first = next(r for r in response.context["rows"] if r.claim.pk == claims["first"].pk)
    assert [s.number for s in row_first.shared] == [claims["second"].number]
    # Freezes and the open case, linked to the case page.
    row_frozen = next(r for r in response.context["rows"] if r.claim.pk == claims["frozen"].pk)
    case = Case.objects.get()
    assert row_frozen.freezes and row_frozen.open_case == case
    assert reverse("admin:incident_case_detail", args=[case.pk]) in body
    # Account numbers are masked for a fraud analyst.
    assert "****321" in body and "7654321" not in body


def test_the_queue_filters_searches_and_pages(client: Client, claims: dict[str, RefundClaim]) -> None:
    _staff(client)

    def numbers(**query: str) -> set[str]:
        response = client.get(reverse(QUEUE), query)
        assert response.status_code == 200
        return {row.claim.number for row in response.context["rows"]}

    assert numbers(reason="name_mismatch") == {claims["mismatch"].number}
    assert numbers(reason="shared_account") == {claims["first"].number, claims["second"].number}
    assert numbers(reason="frozen") == {claims["frozen"].number}
    assert numbers(route="contact") == {claims["contact"].number}
    assert numbers(method="postal") == {claims["contact"].number}
    assert numbers(late="yes") == set()
    assert len(numbers(late="no")) == 5
    today = timezone.localdate()
    assert len(numbers(date_from=today.isoformat(), date_to=today.isoformat())) == 5
    assert numbers(date_from=(today + timedelta(days=1)).isoformat()) == set()
    assert numbers(q=claims["second"].number) == {claims["second"].number}
    assert numbers(q=claims["second"].number[1:]) == {claims["second"].number}
    assert numbers(q="KENJI@example") == {claims["contact"].number}
    bad = client.get(reverse(QUEUE), {"date_from": "2026-02-01", "date_to": "2026-01-01"})
    assert bad.status_code == 400
    # Paging keeps the filters.
    import refunds.views.staff_claims as views

    original = views.PAGE_SIZE
    views.PAGE_SIZE = 2
    try:
        page = client.get(reverse(QUEUE), {"late": "no"})
        assert len(page.context["rows"]) == 2 and page.context["page"].paginator.num_pages == 3
        assert "late=no&amp;page=2" in page.content.decode()
        assert len(client.get(reverse(QUEUE), {"late": "no", "page": "3"}).context["rows"]) == 1
    finally:
        views.PAGE_SIZE = original


def test_the_queue_exports_csv_audited_masked_and_formula_safe(client: Client, claims: dict[str, RefundClaim]) -> None:
    tricky = funded_customer("=cmd@example.jp", amount_yen=700, password=None)
    tricky_claim = bank_claim(tricky, 700, holder_name="ｽｽﾞｷ ｲﾁﾛｳ", account_number="3333333")
    staff = _staff(client)
    response = client.get(reverse("refunds_staff:claims_export"), {"route": "login"})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))  # type: ignore[attr-defined]
    assert rows[0][:3] == ["claim", "claimed_at", "state"]
    by_number = {row[0]: row for row in rows[1:]}
    assert set(by_number) == {claims[k].number for k in ("mismatch", "first", "second", "frozen")} | {tricky_claim.number}
    assert by_number[tricky_claim.number][4] == "'=cmd@example.jp"
    assert all("3333333" not in cell and "7654321" not in cell for row in rows for cell in row)
    assert by_number[claims["mismatch"].number][12] == "no"
    action = StaffAction.objects.get(action="refund.export_claims")
    assert action.actor == staff and action.after == {"filters": "route=login", "rows": 5}


def test_approve_from_the_queue(client: Client, claims: dict[str, RefundClaim]) -> None:
    reviewer = _staff(client)
    claim = claims["mismatch"]
    response = client.post(
        reverse("refunds_staff:claim_decide", args=[claim.pk]),
        {"decision": "approve", "state": "review", "note": "Name changed at marriage; ID seen.", "back": "reason=name_mismatch"},
    )
    assert response.status_code == 302 and response["Location"] == reverse(QUEUE) + "?reason=name_mismatch"
    claim.refresh_from_db()
    assert claim.state == RefundClaim.State.APPROVED and claim.hold_reasons == []
    assert StaffAction.objects.get(action="refund.claim_approve").actor == reviewer
    assert ClaimEvent.objects.filter(claim=claim, kind="review_approved", actor=reviewer).count() == 1
    assert _refund_payable() == sum(c.amount_yen for c in claims.values())  # the money stays owed


def test_reject_needs_a_note_then_returns_the_money_and_mails_the_customer(client: Client, claims: dict[str, RefundClaim]) -> None:
    _staff(client)
    claim = claims["mismatch"]
    url = reverse("refunds_staff:claim_decide", args=[claim.pk])
    refused = client.post(url, {"decision": "reject", "state": "review", "note": "  "}, follow=True)
    assert "Say why the claim is rejected" in refused.content.decode()
    claim.refresh_from_db()
    assert claim.state == RefundClaim.State.REVIEW
    assert LedgerAccount.objects.get(owner=claim.customer).balance_yen == 0

    response = client.post(url, {"decision": "reject", "state": "review", "note": "The account belongs to someone else."}, follow=True)
    assert "went back to the wallet" in response.content.decode()
    claim.refresh_from_db()
    assert claim.state == RefundClaim.State.REJECTED
    assert LedgerAccount.objects.get(owner=claim.customer).balance_yen == 3_000
    assert _refund_payable() == sum(c.amount_yen for c in claims.values()) - 3_000
    mail = Notification.objects.get(user=claim.customer, kind="refund_claim_rejected")
    assert mail.context["note"] == "The account belongs to someone else." and mail.context["claim_number"] == claim.number
    assert StaffAction.objects.filter(action="refund.claim_reject").count() == 1


def test_a_second_click_or_a_stale_page_says_who_decided_and_changes_nothing(client: Client, claims: dict[str, RefundClaim]) -> None:
    _staff(client)
    claim = claims["mismatch"]
    url = reverse("refunds_staff:claim_decide", args=[claim.pk])
    client.post(url, {"decision": "approve", "state": "review", "note": ""})
    again = client.post(url, {"decision": "approve", "state": "review", "note": ""}, follow=True)
    body = again.content.decode()
    assert "Already decided by fraud_analyst@anzenpay.example at" in body and "Nothing was changed." in body
    assert StaffAction.objects.filter(action="refund.claim_approve").count() == 1
    assert ClaimEvent.objects.filter(claim=claim, kind="review_approved").count() == 1

    # A colleague's page still shows the claim in review: rejecting it from there changes nothing.
    colleague = Client()
    _staff(colleague, "finance")
    stale = colleague.post(url, {"decision": "reject", "state": "review", "note": "looks odd"}, follow=True)
    assert "Already decided by fraud_analyst@anzenpay.example" in stale.content.decode()
    claim.refresh_from_db()
    assert claim.state == RefundClaim.State.APPROVED
    assert not Notification.objects.filter(kind="refund_claim_rejected").exists()


def test_only_reviewers_decide(client: Client, claims: dict[str, RefundClaim]) -> None:
    _staff(client, "support")
    response = client.post(reverse("refunds_staff:claim_decide", args=[claims["mismatch"].pk]), {"decision": "approve", "state": "review"})
    assert response.status_code == 403
    claims["mismatch"].refresh_from_db()
    assert claims["mismatch"].state == RefundClaim.State.REVIEW
    assert "Decide…" not in client.get(reverse(QUEUE)).content.decode()


def test_the_claim_page_shows_history_details_payouts_and_actions(client: Client, claims: dict[str, RefundClaim]) -> None:
    claim = claims["first"]
    _staff(client)
    page = client.get(reverse("refunds_staff:claim_detail", args=[claim.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "submitted" in body and "held" in body  # the first claim was held when the second named its account
    assert "****321" in body and "7654321" not in body
    assert "No payout yet." in body
    assert 'value="approve"' in body and 'value="reject"' in body
    # Finance sees the full number.
    _staff(client, "finance")
    assert "7654321" in client.get(reverse("refunds_staff:claim_detail", args=[claim.pk])).content.decode()
    assert client.get(reverse("refunds_staff:claim_detail", args=[999_999])).status_code == 404
    # An approved claim may still be rejected, not approved again.
    claim_review_approve(claim=claims["second"], acting_user=make_staff("boss@anzenpay.example", "supervisor"))
    body = client.get(reverse("refunds_staff:claim_detail", args=[claims["second"].pk])).content.decode()
    assert 'value="approve"' not in body and 'value="reject"' in body


# -- late claims ------------------------------------------------------------------------------


def _late_form(email: str, amount_yen: int, **extra: str) -> dict[str, Any]:
    return {
        "email": email,
        "method": "bank",
        "bank": "0001",
        "branch": "001",
        "account_type": "1",
        "account_number": "1234567",
        "holder_name": "ヤマダ ハナコ",
        "confirmed_amount_yen": str(amount_yen),
        "reason": "Was in hospital during the claim period; called support on 2027-02-01.",
        **extra,
    }


def test_the_late_claim_form_shows_per_field_errors_and_files_nothing(client: Client) -> None:
    make_programme(closed=True)
    customer = funded_customer(amount_yen=5_000, password=None)
    _staff(client, "support")
    lookup = client.get(reverse(LATE), {"email": customer.email})
    assert lookup.status_code == 200 and "¥5,000" in lookup.content.decode()
    response = client.post(reverse(LATE), _late_form(customer.email, 5_000, bank="9999", account_type="", holder_name="山田花子"))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) >= {"bank", "account_type", "holder_name"}
    assert "there is no bank with code 9999" in errors["bank"][0]
    postal = client.post(reverse(LATE), {**_late_form(customer.email, 5_000), "method": "postal", "postal_code": "12", "address": "x"})
    assert set(postal.context["form"].errors) >= {"postal_name", "postal_code", "address"}
    unknown = client.post(reverse(LATE), _late_form("nobody@example.jp", 5_000))
    assert "No customer has this email address." in unknown.context["form"].errors["email"]
    wrong_amount = client.post(reverse(LATE), _late_form(customer.email, 4_999))
    assert "The balance changed since you confirmed it" in wrong_amount.content.decode()
    assert not RefundClaim.objects.exists() and not Approval.objects.exists()
    assert LedgerAccount.objects.get(owner=customer).balance_yen == 5_000


def test_late_claims_are_not_filed_before_the_deadline(client: Client) -> None:
    make_programme()
    customer = funded_customer(amount_yen=5_000, password=None)
    _staff(client, "support")
    page = client.get(reverse(LATE)).content.decode()
    assert "Claims are open until" in page and 'name="reason"' not in page
    response = client.post(reverse(LATE), _late_form(customer.email, 5_000))
    assert "Before the deadline the customer files the claim themself." in response.content.decode()
    assert not RefundClaim.objects.exists()


def test_b04_a_late_claim_is_filed_by_support_and_accepted_by_a_second_person_not_its_maker(client: Client) -> None:
    make_programme(closed=True)
    customer = funded_customer(amount_yen=5_000, password=None)
    maker = make_staff("maker@anzenpay.example", "supervisor")  # may file and may approve, but not both
    otp_login(client, maker)
    response = client.post(reverse(LATE), _late_form(customer.email, 5_000, bank="みずほ銀行", branch="東京営業部"))
    claim = RefundClaim.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("refunds_staff:claim_detail", args=[claim.pk])
    assert claim.late and claim.route == RefundClaim.Route.STAFF and claim.filed_by == maker
    assert claim.state == RefundClaim.State.REVIEW and claim.hold_reasons == ["late"]
    assert LedgerAccount.objects.get(owner=customer).balance_yen == 0 and _refund_payable() == 5_000
    approval = Approval.objects.get(kind=Approval.Kind.LATE_CLAIM)
    assert approval.payload == {"claim": claim.pk} and approval.maker == maker
    detail = client.get(response["Location"]).content.decode()
    assert reverse("admin:backoffice_approval_change", args=[approval.pk]) in detail  # the message and the page link it
    assert 'value="approve"' not in detail  # not approvable from the queue
    # The approval page links back to the claim.
    assert (
        reverse("admin:refunds_refundclaim_change", args=[claim.pk])
        in client.get(reverse("admin:backoffice_approval_change", args=[approval.pk])).content.decode()
    )
    # The queue's approve is refused for a late claim.
    refused = client.post(reverse("refunds_staff:claim_decide", args=[claim.pk]), {"decision": "approve", "state": "review"}, follow=True)
    assert "A late claim is accepted only through its approval request." in refused.content.decode()

    # The maker cannot approve their own request: refused, logged, nothing changes.
    client.post(reverse("admin:backoffice_approval_change", args=[approval.pk]), {"decision": "approve", "note": ""})
    approval.refresh_from_db()
    claim.refresh_from_db()
    assert approval.state == Approval.State.PENDING and claim.state == RefundClaim.State.REVIEW
    assert StaffAction.objects.filter(action="approval.refused", actor=maker, after__refusal="own_request").exists()

    # A second supervisor approves: the claim is accepted and goes to the next batch.
    checker = Client()
    otp_login(checker, make_staff("duty@anzenpay.example", "supervisor"))
    checker.post(reverse("admin:backoffice_approval_change", args=[approval.pk]), {"decision": "approve", "note": "Hospital letter seen."})
    approval.refresh_from_db()
    claim.refresh_from_db()
    assert approval.state == Approval.State.APPROVED
    assert claim.state == RefundClaim.State.APPROVED and claim.hold_reasons == []
    assert ClaimEvent.objects.filter(claim=claim, kind="late_claim_accepted").count() == 1
    assert StaffAction.objects.filter(action="refund.late_claim_accept", target_id=str(claim.pk)).count() == 1
    assert StaffAction.objects.filter(action="refund.claim_file_late", actor=maker).count() == 1


def test_a_late_claim_with_other_reasons_stays_in_review_after_its_approval(client: Client) -> None:
    make_programme(closed=True)
    customer = funded_customer(amount_yen=2_000, password=None)
    _staff(client, "support")
    client.post(reverse(LATE), _late_form(customer.email, 2_000, holder_name="ｽｽﾞｷ ｲﾁﾛｳ"))
    claim = RefundClaim.objects.get()
    assert claim.hold_reasons == ["name_mismatch", "late"]
    approval = Approval.objects.get()
    checker = Client()
    otp_login(checker, make_staff("duty@anzenpay.example", "supervisor"))
    checker.post(reverse("admin:backoffice_approval_change", args=[approval.pk]), {"decision": "approve", "note": ""})
    claim.refresh_from_db()
    assert claim.state == RefundClaim.State.REVIEW and claim.hold_reasons == ["name_mismatch"]
    # Now a reviewer decides the remaining reason in the queue.
    reviewer = Client()
    _staff(reviewer)
    reviewer.post(reverse("refunds_staff:claim_decide", args=[claim.pk]), {"decision": "approve", "state": "review", "note": "ok"})
    claim.refresh_from_db()
    assert claim.state == RefundClaim.State.APPROVED
