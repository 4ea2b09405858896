"""S08: safe defaults. Debug is off unless the demo turns it on; the developer inbox (reset links, SMS
codes) and the development card gateway exist only in debug with their own setting; a yes/no setting
that is neither stops start-up. And the demo (eager Celery) answers the password-reset and refund
contact forms before any lookup, mail or SMS for a known account happens: the work runs after the response.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import reverse

from tests.refunds.factories import funded_customer, make_programme
from wallet.models import DevInboxMessage, User

ROOT = Path(__file__).resolve().parents[2]
# What a deployment that sets nothing but its secret and data stores has.
BARE_ENV = {
    "PATH": os.environ.get("PATH", ""),
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DJANGO_SECRET_KEY": "s08-" + "k" * 60,
    "DATABASE_URL": os.environ.get("DATABASE_URL", ""),
    "REDIS_URL": os.environ.get("REDIS_URL", ""),
}


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**BARE_ENV, **env}, capture_output=True, text=True, timeout=120)


def test_s08_debug_is_off_when_django_debug_is_unset() -> None:
    result = run_python(
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DEBUG, settings.DEV_INBOX_ENABLED, settings.DEV_GATEWAY_ENABLED)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "False"]


def test_s08_without_debug_nothing_turns_the_inbox_or_dev_gateway_on() -> None:
    code = (
        "import django; django.setup(); from django.test import Client; from django.conf import settings; "
        "print(settings.DEV_INBOX_ENABLED, settings.DEV_GATEWAY_ENABLED, "
        "Client().get('/dev/inbox/').status_code, Client().get('/dev/gateway/pay/x/').status_code)"
    )
    result = run_python(code, DJANGO_DEBUG="0", DEV_INBOX_ENABLED="1", DEV_GATEWAY_ENABLED="1", DJANGO_SECURE_SSL_REDIRECT="0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "404", "404"]


def test_s08_in_debug_the_inbox_has_its_own_switch() -> None:
    result = run_python(
        "import django; django.setup(); from django.conf import settings; print(settings.DEV_INBOX_ENABLED, settings.DEV_GATEWAY_ENABLED)",
        DJANGO_DEBUG="1",
        DEV_INBOX_ENABLED="0",
        DEV_GATEWAY_ENABLED="0",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


@pytest.mark.django_db
def test_s08_dev_inbox_is_404_when_its_setting_is_off(settings: Any) -> None:
    settings.DEV_INBOX_ENABLED = False
    assert Client().get(reverse("wallet:dev_inbox")).status_code == 404


@pytest.mark.parametrize("name", ["DJANGO_DEBUG", "DEV_INBOX_ENABLED", "AXES_ENABLED"])
def test_s08_a_yes_no_setting_that_is_neither_stops_start_up(name: str) -> None:
    result = run_python("import django; django.setup()", **{name: "yes-please"})
    assert result.returncode != 0
    assert f"{name}='yes-please' is not a yes/no value" in result.stderr


# --- the demo's mail leaves after the response ----------------------------------------------------

seen_at_response: list[tuple[int, int]] = []


def sent_so_far() -> tuple[int, int]:
    return len(mail.outbox), DevInboxMessage.objects.filter(channel=DevInboxMessage.Channel.SMS).count()


class ResponseMarker:
    """The outermost middleware: notes what had been sent when the answer left the application."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        seen_at_response.append(sent_so_far())
        return response


@pytest.fixture
def eager_demo(settings: Any) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.MIDDLEWARE = [f"{__name__}.ResponseMarker", *settings.MIDDLEWARE]
    seen_at_response.clear()


@pytest.mark.django_db(transaction=True)
def test_s08_reset_mail_for_a_known_account_is_sent_after_the_response(eager_demo: None, customer: User) -> None:
    response = Client().post(reverse("wallet:password_reset"), {"email": customer.email})
    assert response.status_code == 302
    assert seen_at_response == [(0, 0)], "nothing was sent while the request was handled"
    # ...and the relay delivered it once the response had gone.
    assert [m.to for m in mail.outbox] == [[customer.email]]
    assert "password" in mail.outbox[0].subject.lower()


@pytest.mark.django_db(transaction=True)
def test_s08_refund_contact_mail_and_sms_are_sent_after_the_response(eager_demo: None) -> None:
    make_programme()
    holder = funded_customer(amount_yen=1_000)
    visitor = Client(HTTP_ACCEPT_LANGUAGE="en")
    data = {"email": holder.email, "phone": "090-1234-5678", "full_name": "山田 花子", "birth_date": "1990-04-01"}
    before = sent_so_far()  # the top-up that funded the wallet mailed its receipt
    response = visitor.post(reverse("refunds:contact"), data)
    assert response.status_code == 302 and response["Location"] == reverse("refunds:contact_sent")
    assert seen_at_response == [before], "no mail and no SMS while the request was handled"
    assert [m.to for m in mail.outbox[before[0] :]] == [[holder.email]]
    assert DevInboxMessage.objects.filter(channel=DevInboxMessage.Channel.SMS, to=holder.phone).count() == 1
