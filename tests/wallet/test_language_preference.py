"""The language a logged-in customer picks is remembered for their mails."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from wallet.models import User

pytestmark = pytest.mark.django_db


def test_switching_language_while_logged_in_updates_the_preference(customer: User) -> None:
    User.objects.filter(pk=customer.pk).update(preferred_language="ja")
    client = Client()
    client.force_login(customer)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.get(reverse("wallet:home"))
    assert response.status_code in (200, 302)
    customer.refresh_from_db()
    assert customer.preferred_language == "en"
