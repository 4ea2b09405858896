"""The staff audit log list: filters by action, staff member, target type and date
range; search by target, reason and staff email; CSV export of exactly what the
list shows, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse

from backoffice.models import StaffAction
from tests.backoffice.helpers import make_staff, otp_login
from wallet.models import User

pytestmark = pytest.mark.django_db

LIST = "admin:backoffice_staffaction_changelist"
EXPORT = "admin:backoffice_staffaction_export"
TOKYO = ZoneInfo("Asia/Tokyo")


def record(actor: User | None, action: str, *, target_type: str, target_repr: str, reason: str, at: datetime) -> StaffAction:
    """An audit row as written on a given day (the log takes inserts only, B07)."""
    return StaffAction.objects.create(
        actor=actor, action=action, target_type=target_type, target_id="4242", target_repr=target_repr, reason=reason, created_at=at
    )


@pytest.fixture
def log() -> dict[str, StaffAction]:
    analyst = make_staff("fraud@anzenpay.example", "fraud_analyst")
    support = make_staff("support@anzenpay.example", "support")
    rows = {
        "disable": record(
            analyst,
            "channel.disable",
            target_type="wallet.channelswitch",
            target_repr="charge.credit_card: off",
            reason="stolen cards",
            at=datetime(2026, 7, 3, 23, 30, tzinfo=TOKYO),
        ),
        "freeze": record(
            support,
            "account.freeze",
            target_type="wallet.accountfreeze",
            target_repr="victim@example.jp all (staff)",
            reason='=HYPERLINK("http://evil")',
            at=datetime(2026, 7, 4, 0, 30, tzinfo=TOKYO),
        ),
        "expiry": record(
            None,
            "account.freeze_expired",
            target_type="wallet.user",
            target_repr="other@example.jp",
            reason="-1+1",
            at=datetime(2026, 7, 5, 12, 0, tzinfo=TOKYO),
        ),
    }
    return rows


def shown(client: Client, **params: str) -> set[str]:
    """The actions' target names on the list page for these query parameters."""
    response = client.get(reverse(LIST), params)
    assert response.status_code == 200
    body = response.content.decode()
    names = {"charge.credit_card: off", "victim@example.jp all (staff)", "other@example.jp"}
    return {name for name in names if name in body}


@pytest.fixture
def supervisor_client(client: Client) -> Client:
    return otp_login(client, make_staff("boss@anzenpay.example", "supervisor"))


def test_filters_by_action_staff_member_target_type_and_dates(supervisor_client: Client, log: dict[str, StaffAction]) -> None:
    client = supervisor_client
    everything = {"charge.credit_card: off", "victim@example.jp all (staff)", "other@example.jp"}
    assert shown(client) == everything
    assert shown(client, action__exact="account.freeze") == {"victim@example.jp all (staff)"}
    assert shown(client, action__startswith="account.") == {"victim@example.jp all (staff)", "other@example.jp"}
    analyst = User.objects.get(email="fraud@anzenpay.example")
    assert shown(client, actor=str(analyst.pk)) == {"charge.credit_card: off"}
    assert shown(client, actor="system") == {"other@example.jp"}
    assert shown(client, target_type__exact="wallet.user") == {"other@example.jp"}
    # Dates are Tokyo days, both ends included: 23:30 on the 3rd is the 3rd, 00:30 on the 4th the 4th.
    assert shown(client, created_from="2026-07-04") == {"victim@example.jp all (staff)", "other@example.jp"}
    assert shown(client, created_until="2026-07-03") == {"charge.credit_card: off"}
    assert shown(client, created_from="2026-07-04", created_until="2026-07-04") == {"victim@example.jp all (staff)"}
    # Filters combine.
    assert shown(client, created_from="2026-07-03", action__exact="channel.disable", actor=str(analyst.pk)) == {"charge.credit_card: off"}


def test_staff_member_filter_lists_staff_not_customers(supervisor_client: Client, log: dict[str, StaffAction]) -> None:
    User.objects.create_user("customer@example.jp", "x" * 20, full_name="Customer")
    body = supervisor_client.get(reverse(LIST)).content.decode()
    assert "By staff member" in body
    assert "?actor=" in body and "fraud@anzenpay.example" in body
    assert "customer@example.jp" not in body


def test_bad_dates_show_an_error_and_match_nothing(supervisor_client: Client, log: dict[str, StaffAction]) -> None:
    response = supervisor_client.get(reverse(LIST), {"created_from": "2026-07-05", "created_until": "2026-07-01"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "The start date is after the end date." in body
    assert shown(supervisor_client, created_from="2026-07-05", created_until="2026-07-01") == set()
    assert "Enter dates as YYYY-MM-DD." in supervisor_client.get(reverse(LIST), {"created_from": "yesterday"}).content.decode()
    # An export of such a list is refused, not run unfiltered.
    before = StaffAction.objects.count()
    response = supervisor_client.get(reverse(EXPORT), {"created_from": "yesterday"}, follow=True)
    assert "Those filters are not valid; nothing was exported." in response.content.decode()
    assert StaffAction.objects.count() == before


def test_date_filter_form_keeps_the_other_filters_and_the_search(supervisor_client: Client, log: dict[str, StaffAction]) -> None:
    body = supervisor_client.get(reverse(LIST), {"action__exact": "account.freeze", "q": "victim"}).content.decode()
    assert '<input type="hidden" name="action__exact" value="account.freeze">' in body
    assert '<input type="hidden" name="q" value="victim">' in body
    assert '<label for="id_created_from">From (included)</label>' in body


def test_search_by_target_reason_and_staff_email(supervisor_client: Client, log: dict[str, StaffAction]) -> None:
    client = supervisor_client
    assert shown(client, q="victim@example.jp") == {"victim@example.jp all (staff)"}  # target
    assert shown(client, q="stolen cards") == {"charge.credit_card: off"}  # reason
    assert shown(client, q="support@anzenpay") == {"victim@example.jp all (staff)"}  # staff email
    assert shown(client, q="4242") == {"charge.credit_card: off", "victim@example.jp all (staff)", "other@example.jp"}  # target id


def read_csv(response) -> list[list[str]]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response.streaming
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_csv_export_holds_the_filtered_list_and_is_formula_safe(supervisor_client: Client, log: dict[str, StaffAction]) -> None:
    rows = read_csv(supervisor_client.get(reverse(EXPORT), {"action__startswith": "account.", "created_from": "2026-07-04"}))
    header, *data = rows
    assert header == ["id", "created_at", "actor", "action", "target_type", "target_id", "target", "reason", "ip", "before", "after"]
    assert [row[3] for row in data] == ["account.freeze", "account.freeze_expired"]
    freeze, expiry = data
    assert freeze[2] == "support@anzenpay.example" and freeze[6] == "victim@example.jp all (staff)"
    # Cells a spreadsheet would run as formulas start with a quote.
    assert freeze[7] == '\'=HYPERLINK("http://evil")'
    assert expiry[7] == "'-1+1"
    assert expiry[2] == ""
    # The export itself is in the log, with what was asked for and how many rows left.
    export = StaffAction.objects.get(action="staff_action.export")
    assert export.after["rows"] == 2
    assert "created_from=2026-07-04" in export.after["filters"]


def test_csv_export_of_a_search(supervisor_client: Client, log: dict[str, StaffAction]) -> None:
    rows = read_csv(supervisor_client.get(reverse(EXPORT), {"q": "stolen"}))
    assert [row[3] for row in rows[1:]] == ["channel.disable"]


def test_export_needs_the_export_permission(client: Client, log: dict[str, StaffAction]) -> None:
    otp_login(client, User.objects.get(email="fraud@anzenpay.example"))
    list_page = client.get(reverse(LIST))
    assert list_page.status_code == 200
    assert "Export CSV" not in list_page.content.decode()
    assert client.get(reverse(EXPORT)).status_code == 403
    assert not StaffAction.objects.filter(action="staff_action.export").exists()
