"""B09, what the checks make of a Japan Post certificate claim: a name that is not the registered
one goes to review with the name reason; every postal address goes to review, because the wallet
holds no address to compare it with, and staff read why in words; and a claim still held never
reaches the Japan Post CSV of a payout batch."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from refunds.models import Payout, PayoutBatch, RefundClaim
from refunds.services.claims import claim_review_approve
from refunds.services.payee import postal_details_clean
from refunds.services.payouts import payout_batch_build, payout_batch_file
from tests.backoffice.helpers import make_staff, otp_login
from tests.refunds.factories import funded_customer, make_programme, postal_claim
from tests.refunds.test_portal_claim import main_text

pytestmark = pytest.mark.django_db

ADDRESS_REASON = "The address is not one we hold on record for this customer."
NAME_REASON = "The name the cash certificate is made out to does not match the customer's registered name."


def words(response: Any) -> str:
    """What a person reads on the page: tags dropped, entities (the apostrophe) decoded."""
    return html.unescape(main_text(response))


def claim_with(email: str, name: str, name_kana: str = "") -> RefundClaim:
    """A login-route postal claim by 山田 花子 (ヤマダ ハナコ) with the name typed as given."""
    customer = funded_customer(email, amount_yen=1_000)
    details = postal_details_clean(name=name, name_kana=name_kana, postal_code="100-0001", address="東京都千代田区千代田1-1")
    return postal_claim(customer, 1_000, details)


@pytest.mark.parametrize(
    ("name", "name_kana"),
    [
        ("山田 花子", "ヤマダ ハナコ"),
        ("山田　花子", ""),  # an ideographic space
        ("山田花子", "やまだ　はなこ"),  # no space; the reading in hiragana
        ("ﾔﾏﾀﾞ ﾊﾅｺ", "ﾔﾏﾀﾞﾊﾅｺ"),  # half-width kana for both
        ("やまだ はなこ", ""),  # the name in kana only
    ],
)
def test_b09_the_registered_name_however_typed_is_held_for_the_address_only(name: str, name_kana: str) -> None:
    make_programme()
    claim = claim_with("hanako@example.jp", name, name_kana)
    assert claim.state == RefundClaim.State.REVIEW
    assert claim.hold_reasons == ["postal_address_not_on_record"]


@pytest.mark.parametrize(
    ("name", "name_kana"),
    [
        ("田中 一郎", "タナカ イチロウ"),  # anyone's name, as in the finding
        ("山田 花男", ""),
        ("山田 花子", "タナカ イチロウ"),  # the right kanji with someone else's reading
        ("やまだ はなお", ""),
    ],
)
def test_b09_a_postal_name_that_is_not_the_registered_one_is_held_with_the_name_reason(name: str, name_kana: str) -> None:
    make_programme()
    claim = claim_with("hanako@example.jp", name, name_kana)
    assert claim.state == RefundClaim.State.REVIEW
    assert claim.hold_reasons == ["postal_name_mismatch", "postal_address_not_on_record"]


def test_b09_staff_read_the_postal_reasons_in_words_in_the_queue_and_on_the_claim(client: Client) -> None:
    make_programme()
    claim = claim_with("hanako@example.jp", "田中 一郎", "タナカ イチロウ")
    otp_login(client, make_staff("fraud_analyst@anzenpay.example", "fraud_analyst"))

    queue = client.get(reverse("refunds_staff:claims_review"), {"reason": "postal_address_not_on_record"})
    assert [row.claim.pk for row in queue.context["rows"]] == [claim.pk]
    text = words(queue)
    assert ADDRESS_REASON in text and NAME_REASON in text
    assert "postal_address_not_on_record" not in text and "postal_name_mismatch" not in text
    # The reason filter offers the new reasons by their words too.
    assert f'<option value="postal_address_not_on_record" selected>{ADDRESS_REASON}</option>' in html.unescape(queue.content.decode())

    detail = words(client.get(reverse("refunds_staff:claim_detail", args=[claim.pk])))
    assert ADDRESS_REASON in detail and NAME_REASON in detail and "postal_address_not_on_record" not in detail


def test_b09_a_held_postal_claim_never_reaches_the_japan_post_csv() -> None:
    make_programme()
    reviewer = make_staff("finance@anzenpay.example", "finance")
    held = claim_with("hanako@example.jp", "田中 一郎", "タナカ イチロウ")  # the attacker's name and address
    checked = claim_with("other@example.jp", "山田 花子", "ヤマダ ハナコ")
    assert held.state == checked.state == RefundClaim.State.REVIEW

    # Nothing approved: no batch, no file.
    assert payout_batch_build(method=PayoutBatch.Method.POSTAL) is None
    assert not Payout.objects.exists()

    # A reviewer approves the one they checked; only that one goes into the Japan Post CSV.
    claim_review_approve(claim=checked, acting_user=reviewer, note="Name and address checked against the ID.")
    batch = payout_batch_build(method=PayoutBatch.Method.POSTAL)
    assert batch is not None
    csv = payout_batch_file(batch=batch).decode("utf-8")
    assert checked.number in csv and held.number not in csv
    assert "田中 一郎" not in csv and "タナカ イチロウ" not in csv
    assert list(Payout.objects.values_list("claim_id", flat=True)) == [checked.pk]
    held.refresh_from_db()
    assert held.state == RefundClaim.State.REVIEW
    assert held.hold_reasons == ["postal_name_mismatch", "postal_address_not_on_record"]
