from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings as SettingsWrapper

from wallet.models import DevInboxMessage


@pytest.fixture
def inbox(settings: SettingsWrapper) -> None:
    settings.DEV_INBOX_ENABLED = True
    DevInboxMessage.objects.create(
        channel="email", to="hanako@example.jp", subject="Confirm", body="Open http://127.0.0.1:8000/signup/verify/x/y/"
    )
    DevInboxMessage.objects.create(channel="sms", to="+819012345678", body="AnzenPay code: 123456 <script>alert(1)</script>")


@pytest.mark.django_db
def test_dev_inbox_lists_newest_first_with_clickable_links_and_escaped_bodies(client: Client, inbox: None) -> None:
    page = client.get(reverse("wallet:dev_inbox")).content.decode()
    assert page.index("+819012345678") < page.index("hanako@example.jp")
    assert '<a href="http://127.0.0.1:8000/signup/verify/x/y/"' in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


@pytest.mark.django_db
def test_dev_inbox_filters_by_channel_and_recipient(client: Client, inbox: None) -> None:
    sms_only = client.get(reverse("wallet:dev_inbox"), {"channel": "sms"}).content.decode()
    assert "123456" in sms_only and "hanako@example.jp</strong>" not in sms_only
    by_recipient = client.get(reverse("wallet:dev_inbox"), {"to": "hanako"}).content.decode()
    assert "hanako@example.jp</strong>" in by_recipient and "123456" not in by_recipient


@pytest.mark.django_db
def test_dev_inbox_does_not_exist_when_disabled(client: Client, settings: SettingsWrapper) -> None:
    settings.DEV_INBOX_ENABLED = False
    DevInboxMessage.objects.create(channel="sms", to="+819012345678", body="AnzenPay code: 123456")
    response = client.get(reverse("wallet:dev_inbox"))
    assert response.status_code == 404 and b"123456" not in response.content
