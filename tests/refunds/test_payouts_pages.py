"""The payout pages of the refund desk: who may see, build, download, release and import;
downloads and exports audited; every POST safe to click twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from backoffice.models import Approval, StaffAction
from refunds.models import Payout, PayoutBatch, PayoutResultImport
from refunds.services.payouts import payout_batch_build
from tests.backoffice.helpers import make_staff, otp_login
from tests.refunds.factories import make_programme
from tests.refunds.payout_helpers import approved_bank_claims, finance_pair, released_batch
from wallet.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def finance(client: Client) -> tuple[Client, User]:
    make_programme()
    user, _second = finance_pair()
    return otp_login(client, user), user


def _support() -> Client:
    return otp_login(Client(), make_staff("support@anzenpay.example", "support"))


def test_a_staff_page_needs_the_otp_login(client: Client) -> None:
    response = client.get(reverse("refunds_staff:payout_batches"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_finance_builds_from_the_list_and_a_second_click_builds_nothing(finance: tuple[Client, User]) -> None:
    client, user = finance
    approved_bank_claims(2)
    page = client.get(reverse("refunds_staff:payout_batches"))
    assert page.status_code == 200 and b"Build a batch now" in page.content
    response = client.post(reverse("refunds_staff:payout_batches_build"), {"method": "both"}, follow=True)
    assert response.status_code == 200
    batch = PayoutBatch.objects.get()
    assert batch.built_by == user and batch.payout_count == 2
    assert b"No approved Japan Post" in response.content or b"nothing to build" in response.content
    again = client.post(reverse("refunds_staff:payout_batches_build"), {"method": "bank"}, follow=True)
    assert b"nothing to build" in again.content
    assert PayoutBatch.objects.count() == 1
    assert StaffAction.objects.filter(action="payout_batch.build", actor=user).count() == 1


def test_the_batch_page_shows_the_file_facts_and_searches_payouts(finance: tuple[Client, User]) -> None:
    client, _user = finance
    claims = approved_bank_claims(3)
    batch = payout_batch_build(method=PayoutBatch.Method.BANK)
    assert batch is not None
    page = client.get(reverse("refunds_staff:payout_batch", args=[batch.pk]))
    assert page.status_code == 200
    text = page.content.decode().replace("<wbr>", "")
    assert batch.file_sha256 in text and f"¥{batch.total_yen:,}" in text and "Request the release" in text
    assert all(claim.number in text for claim in claims)
    found = client.get(reverse("refunds_staff:payout_batch", args=[batch.pk]), {"q": claims[1].number})
    assert claims[1].number in found.content.decode() and claims[0].number not in found.content.decode()
    assert client.get(reverse("refunds_staff:payout_batch", args=[999999])).status_code == 404
    listing = client.get(reverse("refunds_staff:payout_batches"), {"method": "bank", "state": "awaiting_release"})
    assert f"#{batch.pk}" in listing.content.decode()
    export = client.get(reverse("refunds_staff:payout_batches_export"))
    body = b"".join(export.streaming_content)  # type: ignore[attr-defined]
    assert export.status_code == 200 and body.startswith(b"batch,method,state")
    assert StaffAction.objects.filter(action="payout_batch.export").count() == 1


def test_support_sees_batches_but_cannot_download_release_build_or_import(finance: tuple[Client, User]) -> None:
    approved_bank_claims(1)
    batch = payout_batch_build(method=PayoutBatch.Method.BANK)
    assert batch is not None
    support = _support()
    page = support.get(reverse("refunds_staff:payout_batch", args=[batch.pk]))
    assert page.status_code == 200
    assert b"Download the transfer file" not in page.content and b"Request the release" not in page.content
    assert support.get(reverse("refunds_staff:payout_batch_download", args=[batch.pk])).status_code == 403
    assert support.post(reverse("refunds_staff:payout_batch_release", args=[batch.pk]), {"reason": "x"}).status_code == 403
    assert support.post(reverse("refunds_staff:payout_batches_build"), {"method": "both"}).status_code == 403
    assert support.get(reverse("refunds_staff:payout_results_import")).status_code == 403
    batch.refresh_from_db()
    assert batch.state == PayoutBatch.State.AWAITING_RELEASE and not Approval.objects.exists()
    assert not StaffAction.objects.filter(action="payout_batch.download").exists()


def test_a_download_is_audited_and_returns_the_stored_bytes(finance: tuple[Client, User]) -> None:
    client, user = finance
    approved_bank_claims(2)
    batch = payout_batch_build(method=PayoutBatch.Method.BANK)
    assert batch is not None
    response = client.get(reverse("refunds_staff:payout_batch_download", args=[batch.pk]))
    assert response.status_code == 200
    assert response.content == bytes(PayoutBatch.objects.get(pk=batch.pk).file_content)
    assert response["X-Content-SHA256"] == batch.file_sha256 and batch.file_name in response["Content-Disposition"]
    row = StaffAction.objects.get(action="payout_batch.download")
    assert row.actor == user and row.target_id == str(batch.pk) and row.after["sha256"] == batch.file_sha256
    # The Japan Post CSV link serves postal batches only.
    assert client.get(reverse("refunds_staff:payout_batch_postal_csv", args=[batch.pk])).status_code == 404


def test_the_release_request_is_audited_and_a_double_click_asks_once(finance: tuple[Client, User]) -> None:
    client, user = finance
    approved_bank_claims(1)
    batch = payout_batch_build(method=PayoutBatch.Method.BANK)
    assert batch is not None
    url = reverse("refunds_staff:payout_batch_release", args=[batch.pk])
    assert client.post(url, {"reason": ""}).status_code == 400
    first = client.post(url, {"reason": "weekly payout"}, follow=True)
    second = client.post(url, {"reason": "weekly payout"}, follow=True)
    assert first.status_code == second.status_code == 200
    assert b"already waiting for a second person" in second.content
    approval = Approval.objects.get()
    assert approval.kind == Approval.Kind.PAYOUT_RELEASE and approval.maker == user
    assert StaffAction.objects.filter(action="payout_batch.release_request").count() == 1
    page = client.get(reverse("refunds_staff:payout_batch", args=[batch.pk]))
    assert b"Waiting for a second finance user" in page.content and b"Open the approval" not in page.content  # not for the maker


def test_the_results_page_shows_errors_per_line_then_the_summary(finance: tuple[Client, User], tmp_path: Path) -> None:
    client, user = finance
    approved_bank_claims(2)
    batch = released_batch(user, User.objects.get(email="finance2@anzenpay.example"), tmp_path)
    first, second = Payout.objects.filter(batch=batch).order_by("pk")
    url = reverse("refunds_staff:payout_results_import")
    assert client.get(url).status_code == 200
    bad = SimpleUploadedFile("bad.csv", f"payout_id,status,reason\n{first.pk},lost,\n".encode(), content_type="text/csv")
    response = client.post(url, {"file": bad})
    assert response.status_code == 400 and "Line 2:" in response.content.decode() and not PayoutResultImport.objects.exists()
    good = f"payout_id,status,reason\n{first.pk},paid,\n{second.pk},returned,口座なし\n".encode()
    done = client.post(url, {"file": SimpleUploadedFile("bank.csv", good, content_type="text/csv")}, follow=True)
    result = PayoutResultImport.objects.get()
    assert done.redirect_chain[-1][0] == reverse("refunds_staff:payout_results_import_detail", args=[result.pk])
    text = done.content.decode()
    assert "2 rows imported." in text and "口座なし" in text
    twice = client.post(url, {"file": SimpleUploadedFile("bank.csv", good, content_type="text/csv")}, follow=True)
    assert "already imported" in twice.content.decode() and PayoutResultImport.objects.count() == 1


def test_the_japan_post_csv_is_downloaded_from_its_batch(finance: tuple[Client, User]) -> None:
    from tests.refunds.factories import approved_postal_claim, funded_customer

    client, user = finance
    approved_postal_claim(funded_customer("post@example.jp", amount_yen=2_500), 2_500, user)
    batch = payout_batch_build(method=PayoutBatch.Method.POSTAL)
    assert batch is not None
    page = client.get(reverse("refunds_staff:payout_batch", args=[batch.pk]))
    assert b"Download the Japan Post CSV" in page.content
    response = client.get(reverse("refunds_staff:payout_batch_postal_csv", args=[batch.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.content.decode("utf-8").startswith("payout_id,claim_number,name,name_kana,postal_code,address,amount_yen\r\n")
    assert StaffAction.objects.filter(action="payout_batch.download", actor=user, target_id=str(batch.pk)).count() == 1
    assert _support().get(reverse("refunds_staff:payout_batch_postal_csv", args=[batch.pk])).status_code == 403
