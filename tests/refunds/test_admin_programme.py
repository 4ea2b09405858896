"""The shutdown programme in the admin: a supervisor makes it (the 60-day rule is a
field error and nothing is saved), announces it from a confirmation page (paced
notices to holders with a balance only, by the real task), the dates are then
fixed; the beat job closes the money channels at service end and the claim window
at the deadline."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backoffice.models import StaffAction
from config.celery import app as celery_app
from refunds.models import ShutdownProgramme
from refunds.services.errors import RefundRefused
from refunds.services.programme import CHANNELS_CLOSED_AT_SERVICE_END
from refunds.tasks import programme_deadlines
from tests.backoffice.helpers import make_staff, otp_login
from tests.conftest import make_customer
from tests.money import fund_wallet
from tests.refunds.factories import bank_claim, funded_customer, funded_staff, make_programme
from wallet.models import ChannelSwitch, LedgerAccount, Notification
from wallet.services.ledger import wallet_account_for
from wallet.switches import ChannelDisabled

pytestmark = pytest.mark.django_db

ADD = "admin:refunds_shutdownprogramme_add"
Commit = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]


@pytest.fixture(autouse=True)
def _eager_tasks() -> Iterator[None]:
    """Tasks run in this process, as ``make test`` runs them (CELERY_TASK_ALWAYS_EAGER=1)."""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = eager


def _supervisor(client: Client) -> None:
    otp_login(client, make_staff("supervisor@anzenpay.example", "supervisor"))


def _local(moment: datetime) -> tuple[str, str]:
    local = timezone.localtime(moment)
    return f"{local:%Y-%m-%d}", f"{local:%H:%M:%S}"


def _form(*, window_days: int = 90, start: datetime | None = None) -> dict[str, str]:
    opens = (start or timezone.now() + timedelta(days=2)).replace(microsecond=0, second=0)
    data = {
        "title": "AnzenPay サービス終了のお知らせ",
        "announced_on": f"{timezone.localdate():%Y-%m-%d}",
        "notice_ja": "AnzenPayは2026年に終了します。期限までに払戻しを請求してください。期限を過ぎると払戻しを受けられません。",
        "notice_en": "AnzenPay is closing. Claim your balance before the deadline; later claims are excluded.",
        "_save": "Save",
    }
    for name, moment in (
        ("service_ends_at", opens + timedelta(hours=1)),
        ("claims_open_at", opens),
        ("claims_close_at", opens + timedelta(days=window_days)),
    ):
        data[f"{name}_0"], data[f"{name}_1"] = _local(moment)
    return data


def test_a_supervisor_creates_a_programme_through_the_service(client: Client) -> None:
    _supervisor(client)
    assert client.get(reverse(ADD)).status_code == 200
    response = client.post(reverse(ADD), _form())
    assert response.status_code == 302, response.content.decode()[:2000]
    programme = ShutdownProgramme.objects.get()
    assert programme.state == ShutdownProgramme.State.DRAFT
    assert programme.claim_window == timedelta(days=90)
    assert programme.created_by is not None and programme.created_by.email == "supervisor@anzenpay.example"
    action = StaffAction.objects.get(action="shutdown.create")
    assert action.target_id == str(programme.pk)
    page = client.get(reverse("admin:refunds_shutdownprogramme_change", args=[programme.pk])).content.decode()
    assert "90 days (the Act requires at least 60)" in page
    assert "Announce…" in page
    for channel in CHANNELS_CLOSED_AT_SERVICE_END:
        assert channel in page


def test_a_59_day_window_is_refused_beside_its_field_and_nothing_is_saved(client: Client) -> None:
    _supervisor(client)
    response = client.post(reverse(ADD), _form(window_days=59))
    assert response.status_code == 200
    body = response.content.decode()
    assert "The Payment Services Act requires a claim window of at least 60 days; this one has 59." in body
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["claims_close_at"]
    assert not ShutdownProgramme.objects.exists()
    assert not StaffAction.objects.filter(action__startswith="shutdown.").exists()


def test_dates_in_the_wrong_order_are_field_errors(client: Client) -> None:
    _supervisor(client)
    data = _form()
    data["announced_on"] = f"{timezone.localdate() + timedelta(days=10):%Y-%m-%d}"
    response = client.post(reverse(ADD), data)
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"service_ends_at", "claims_open_at"}
    assert not ShutdownProgramme.objects.exists()


def test_a_second_programme_is_refused(client: Client) -> None:
    make_programme()
    _supervisor(client)
    response = client.post(reverse(ADD), _form())
    assert response.status_code == 200
    assert "A shutdown programme already exists" in response.content.decode()
    assert ShutdownProgramme.objects.count() == 1


def test_only_supervisors_make_or_change_the_programme(client: Client) -> None:
    for role in ("support", "fraud_analyst", "finance"):
        otp_login(client, make_staff(f"{role}@anzenpay.example", role))
        assert client.get(reverse(ADD)).status_code == 403
        assert client.post(reverse(ADD), _form()).status_code == 403
    assert not ShutdownProgramme.objects.exists()


def test_announce_queues_paced_notices_to_holders_with_a_balance_only(
    client: Client, django_capture_on_commit_callbacks: Commit, settings: Any
) -> None:
    settings.SHUTDOWN_NOTICES_PER_SECOND = 10
    holders = [funded_customer(f"holder{i}@example.jp", amount_yen=1_000 * (i + 1), password=None) for i in range(3)]
    empty = make_customer("empty@example.jp")
    wallet_account_for(empty)  # a wallet, but nothing in it
    funded_staff("clerk@anzenpay.example", "support", 500)  # staff wallets are not holders
    _supervisor(client)
    client.post(reverse(ADD), _form())
    programme = ShutdownProgramme.objects.get()
    announce = reverse("admin:refunds_shutdownprogramme_announce", args=[programme.pk])

    page = client.get(announce)
    assert page.status_code == 200
    assert "A notice is queued to each of the 3 holders with a balance" in page.content.decode()
    assert not Notification.objects.filter(kind="shutdown_notice").exists()  # the page changes nothing

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(announce)
    assert response.status_code == 302
    programme.refresh_from_db()
    assert programme.state == ShutdownProgramme.State.ANNOUNCED
    assert programme.notices_queued == 3 and programme.notices_done_at is not None
    notices = list(Notification.objects.filter(kind="shutdown_notice").order_by("send_after"))
    assert {n.user_id for n in notices} == {h.pk for h in holders}
    assert sorted(n.context["balance_yen"] for n in notices) == [1_000, 2_000, 3_000]
    gaps = [(b.send_after - a.send_after).total_seconds() for a, b in itertools.pairwise(notices)]
    assert gaps == [pytest.approx(0.1, abs=0.001)] * 2  # paced at 10 a second
    assert StaffAction.objects.filter(action="shutdown.announce", target_id=str(programme.pk)).count() == 1

    # A second click is refused and queues nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(announce, follow=True)
    assert Notification.objects.filter(kind="shutdown_notice").count() == 3
    assert StaffAction.objects.filter(action="shutdown.announce").count() == 1

    # Announced: the dates are read-only, the text may still be corrected.
    change = reverse("admin:refunds_shutdownprogramme_change", args=[programme.pk])
    body = client.get(change).content.decode()
    assert 'name="claims_close_at_0"' not in body and 'name="notice_ja"' in body
    assert "3 queued." in body and "Announce…" not in body
    data = _form(window_days=200)
    data["title"] = "AnzenPay サービス終了（訂正）"
    client.post(change, data)
    programme.refresh_from_db()
    assert programme.title == "AnzenPay サービス終了（訂正）"
    assert programme.claim_window == timedelta(days=90)
    assert StaffAction.objects.get(action="shutdown.change").after == {"title": "AnzenPay サービス終了（訂正）"}


def test_service_end_closes_the_money_channels_and_a_top_up_is_refused(
    django_capture_on_commit_callbacks: Commit,
) -> None:
    customer = funded_customer(amount_yen=2_000, password=None)
    programme = make_programme()
    ShutdownProgramme.objects.filter(pk=programme.pk).update(service_ends_at=timezone.now() - timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert programme_deadlines.apply().get() == ["service_end"]
    programme.refresh_from_db()
    assert programme.state == ShutdownProgramme.State.SERVICE_ENDED and programme.channels_closed_at is not None
    assert set(ChannelSwitch.objects.filter(enabled=False).values_list("name", flat=True)) >= set(CHANNELS_CLOSED_AT_SERVICE_END)
    assert ChannelSwitch.objects.get(name="refund.claims").enabled
    with pytest.raises(ChannelDisabled):
        fund_wallet(customer, 1_000)
    assert LedgerAccount.objects.get(owner=customer).balance_yen == 2_000
    action = StaffAction.objects.get(action="shutdown.service_end")
    assert set(action.after["channels_closed"]) == set(CHANNELS_CLOSED_AT_SERVICE_END)
    # Safe to run again every minute: nothing more happens.
    with django_capture_on_commit_callbacks(execute=True):
        assert programme_deadlines.apply().get() == []
    assert StaffAction.objects.filter(action="shutdown.service_end").count() == 1
    # Claims stay open after the service end.
    assert bank_claim(customer, 2_000).amount_yen == 2_000


def test_claims_close_at_the_deadline(django_capture_on_commit_callbacks: Commit) -> None:
    customer = funded_customer(amount_yen=800, password=None)
    programme = make_programme()
    now = timezone.now()
    ShutdownProgramme.objects.filter(pk=programme.pk).update(
        service_ends_at=now - timedelta(days=61), claims_open_at=now - timedelta(days=62), claims_close_at=now - timedelta(seconds=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert programme_deadlines.apply().get() == ["service_end", "claims_close"]
    programme.refresh_from_db()
    assert programme.state == ShutdownProgramme.State.CLAIMS_CLOSED
    with pytest.raises(RefundRefused) as refused:
        bank_claim(customer, 800)
    assert refused.value.code == "deadline_passed"
    assert StaffAction.objects.filter(action="shutdown.claims_close").count() == 1
