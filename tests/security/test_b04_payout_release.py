"""B04: one person cannot release a payout file. A finance user asks, a different finance
user approves; the maker is refused by the service, the approval page and the database,
and a checker without the finance release right is refused too."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.db import IntegrityError, transaction
from django.test import Client, TestCase, override_settings
from django.urls import reverse

from backoffice.models import Approval, StaffAction
from backoffice.services.approvals import ApprovalRefused, approval_approve
from refunds.models import Payout, PayoutBatch
from refunds.services.payouts import payout_batch_build, payout_batch_release_request
from tests.backoffice.helpers import make_staff, otp_login
from tests.refunds.factories import make_programme
from tests.refunds.payout_helpers import approved_bank_claims, finance_pair
from wallet.models import Transfer

pytestmark = pytest.mark.django_db


@pytest.fixture
def requested() -> tuple[PayoutBatch, Approval]:
    make_programme()
    approved_bank_claims(2)
    batch = payout_batch_build(method=PayoutBatch.Method.BANK)
    assert batch is not None
    maker, _checker = finance_pair()
    return batch, payout_batch_release_request(batch=batch, acting_user=maker, reason="weekly payout")


def _nothing_released(batch: PayoutBatch) -> None:
    batch.refresh_from_db()
    assert batch.state == PayoutBatch.State.RELEASE_REQUESTED and batch.released_by is None
    assert not Transfer.objects.filter(kind=Transfer.Kind.REFUND_PAYOUT).exists()
    assert set(Payout.objects.filter(batch=batch).values_list("state", flat=True)) == {Payout.State.SCHEDULED}


def test_b04_payout_release_maker_cannot_approve_own_request(requested: tuple[PayoutBatch, Approval]) -> None:
    batch, approval = requested
    with pytest.raises(ApprovalRefused) as refused:
        approval_approve(approval=approval, checker=approval.maker, note="it is fine")
    assert refused.value.code == "own_request"
    assert StaffAction.objects.filter(action="approval.refused", actor=approval.maker, target_id=str(approval.pk)).exists()
    _nothing_released(batch)


def test_b04_payout_release_database_refuses_maker_as_checker(requested: tuple[PayoutBatch, Approval]) -> None:
    batch, approval = requested
    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.filter(pk=approval.pk).update(checker=approval.maker, state=Approval.State.APPROVED)
    _nothing_released(batch)


def test_b04_payout_release_checker_needs_the_finance_release_right(requested: tuple[PayoutBatch, Approval]) -> None:
    batch, approval = requested
    # A person who may check other approvals (a supervisor's right) but not payout releases.
    checker = make_staff("checker@anzenpay.example")
    checker.user_permissions.add(Permission.objects.get(codename="check_approval"), Permission.objects.get(codename="view_approval"))
    support = make_staff("support@anzenpay.example", "support")
    for outsider in (checker, support):
        with pytest.raises(ApprovalRefused) as refused:
            approval_approve(approval=approval, checker=outsider)
        assert refused.value.code == "not_allowed"
    _nothing_released(batch)


def test_b04_payout_release_through_the_approval_page(requested: tuple[PayoutBatch, Approval], tmp_path: Path) -> None:
    batch, approval = requested
    url = reverse("admin:backoffice_approval_change", args=[approval.pk])
    maker_client = otp_login(Client(), approval.maker)
    page = maker_client.get(url)
    assert page.status_code == 200 and reverse("refunds_staff:payout_batch", args=[batch.pk]).encode() in page.content
    maker_client.post(url, {"decision": "approve", "note": "mine"})
    _nothing_released(batch)
    checker = otp_login(Client(), make_staff("finance3@anzenpay.example", "finance"))
    with override_settings(BANK_DELIVERY_DIR=tmp_path), TestCase.captureOnCommitCallbacks(execute=True):
        response = checker.post(url, {"decision": "approve", "note": "totals and SHA-256 checked"})
    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.state == PayoutBatch.State.DELIVERED and batch.released_by is not None
    assert batch.released_by.email == "finance3@anzenpay.example" and batch.released_by != approval.maker
    assert Transfer.objects.filter(kind=Transfer.Kind.REFUND_PAYOUT).count() == 1
    assert (tmp_path / batch.file_name).exists()
