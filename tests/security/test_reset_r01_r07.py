"""R01–R07: password reset cannot be redirected, leaks nothing, and bypasses nothing."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import make_customer, totp_for
from tests.helpers import SqlStatements
from wallet.api.authentication import api_token_issue
from wallet.forms.auth import EmailForm
from wallet.models import ApiToken, Notification, User, UserSession
from wallet.tokens import password_reset_tokens, uid_encode

pytestmark = pytest.mark.django_db


NEW_PASSWORD = "a brand new long passphrase"
VICTIM = "hanako@example.jp"


@pytest.fixture
def client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def _request(client: Client, data: dict[str, object], **extra: Any):  # type: ignore[no-untyped-def]
    return client.post(reverse("wallet:password_reset"), data, **extra)


def _link_path(body: str) -> str:
    found = re.search(r"(https?://[^/\s]+)(/password-reset/\S+/\S+/)", body)
    assert found is not None
    assert found.group(1) == settings.SITE_URL
    return found.group(2)


def _set_password_via(client: Client, path: str, password: str = NEW_PASSWORD):  # type: ignore[no-untyped-def]
    response = client.get(path)
    if response.status_code != 302:
        return response
    return client.post(response["Location"], {"new_password1": password, "new_password2": password})


ATTEMPTS: list[tuple[str, dict[str, object], dict[str, Any]]] = [
    ("repeated field, attacker last", {"email": [VICTIM, "attacker@evil.example"]}, {}),
    ("repeated field, victim last", {"email": ["attacker@evil.example", VICTIM]}, {}),
    (
        "extra recipient fields",
        {
            "email": VICTIM,
            "to": "attacker@evil.example",
            "email2": "attacker@evil.example",
            "recipient": "attacker@evil.example",
            "emails[]": "attacker@evil.example",
        },
        {},
    ),
    ("other case", {"email": "HANAKO@Example.JP"}, {}),
    ("full-width lookalike", {"email": "ｈａｎａｋｏ@example.jp"}, {}),
    ("cyrillic lookalike", {"email": "hаnako@example.jp"}, {}),  # the second letter is Cyrillic а
    ("comma list", {"email": f"{VICTIM},attacker@evil.example"}, {}),
    ("header injection", {"email": f"{VICTIM}\nBcc: attacker@evil.example"}, {}),
    ("forwarded host", {"email": VICTIM}, {"HTTP_X_FORWARDED_HOST": "evil.example"}),
    ("host header", {"email": VICTIM}, {"HTTP_HOST": "127.0.0.1"}),
    ("address of nobody", {"email": "attacker@evil.example"}, {}),
]


@pytest.mark.parametrize(("label", "data", "headers"), ATTEMPTS, ids=[a[0] for a in ATTEMPTS])
def test_r01_reset_mail_goes_only_to_the_address_on_record(
    client: Client, customer: User, django_capture_on_commit_callbacks, label: str, data: dict[str, object], headers: dict[str, Any]
) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        response = _request(client, data, **headers)
    assert response.status_code in (200, 302)
    for message in mail.outbox:
        assert message.to == [VICTIM]
        assert message.cc == [] and message.bcc == []
        assert "evil.example" not in str(message.body)
        _link_path(str(message.body))


def test_r01_lookalike_account_cannot_be_registered_to_catch_mail(customer: User) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        User(email="hаnako@example.jp", full_name="x").full_clean()


def test_r02_same_response_for_known_and_unknown_accounts(client: Client, customer: User) -> None:
    make_customer("unverified@example.jp", email_verified_at=None)
    results = []
    for email in (VICTIM, "nobody@example.jp", "unverified@example.jp"):
        with SqlStatements() as queries:
            response = _request(client, {"email": email}, REMOTE_ADDR="10.20.0.1")
        done = client.get(response["Location"])
        done_body = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", done.content)
        writes = [q for q in queries.sql if q.startswith("INSERT")]
        results.append((response.status_code, response["Location"], done.status_code, done_body, len(queries.sql), writes))
    known, unknown, unverified = results
    print("R02 query counts", [r[4] for r in results], [r[5] for r in results])
    assert known[:4] == unknown[:4] == unverified[:4]
    # Timing proxy: the request path runs the very same statements whether the account
    # exists or not; the lookup and the mail happen in a task after the response.
    assert known[4] == unknown[4] == unverified[4]
    assert known[5] == unknown[5] == unverified[5]


def test_r03_token_is_single_use_and_expires(client: Client, customer: User, monkeypatch: pytest.MonkeyPatch) -> None:
    token = password_reset_tokens.make_token(customer)
    path = reverse("wallet:password_reset_confirm", args=[uid_encode(customer), token])
    with monkeypatch.context() as later:
        # The token generator reads the naive local clock; move it on by 61 minutes.
        later.setattr(type(password_reset_tokens), "_now", lambda self: datetime.now() + timedelta(minutes=61))
        assert Client().get(path, follow=True).status_code == 400
    assert _set_password_via(client, path).status_code == 302
    assert _set_password_via(Client(), path).status_code == 400
    tampered = reverse("wallet:password_reset_confirm", args=[uid_encode(customer), token[:-1] + ("a" if token[-1] != "a" else "b")])
    assert _set_password_via(Client(), tampered).status_code == 400


def test_r03_token_dies_on_password_or_email_change(customer: User) -> None:
    token = password_reset_tokens.make_token(customer)
    customer.set_password("another long passphrase")
    customer.save()
    assert not password_reset_tokens.check_token(customer, token)
    token = password_reset_tokens.make_token(customer)
    customer.email = "new-address@example.jp"
    customer.save()
    assert not password_reset_tokens.check_token(customer, token)


def test_r04_reset_does_not_log_in_and_second_factor_still_asked(client: Client, customer: User, customer_totp: TOTPDevice) -> None:
    path = reverse("wallet:password_reset_confirm", args=[uid_encode(customer), password_reset_tokens.make_token(customer)])
    response = _set_password_via(client, path)
    assert response.status_code == 302 and response["Location"] == reverse("wallet:login")
    assert "_auth_user_id" not in client.session
    response = client.post(reverse("wallet:login"), {"username": VICTIM, "password": NEW_PASSWORD})
    assert response["Location"] == reverse("wallet:login_otp")
    assert "_auth_user_id" not in client.session
    client.post(reverse("wallet:login_otp"), {"code": totp_for(customer_totp).now()})
    assert client.session["_auth_user_id"] == str(customer.pk)


def test_r05_no_knowledge_questions(client: Client, customer: User, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    assert list(EmailForm.base_fields) == ["email"]
    page = client.get(reverse("wallet:password_reset")).content.decode()
    assert 'name="birth_date"' not in page and 'name="phone"' not in page
    # Knowing the birth date and phone does not skip the mail step.
    with django_capture_on_commit_callbacks(execute=True):
        response = _request(client, {"email": VICTIM, "birth_date": "1990-01-01", "phone": customer.phone, "new_password": NEW_PASSWORD})
    assert response["Location"] == reverse("wallet:password_reset_done")
    customer.refresh_from_db()
    assert not customer.check_password(NEW_PASSWORD)


def test_r06_requesting_changes_nothing(
    client: Client, customer: User, customer_totp: TOTPDevice, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    owner = Client()
    owner.post(reverse("wallet:login"), {"username": VICTIM, "password": "correct horse battery staple"})
    owner.post(reverse("wallet:login_otp"), {"code": totp_for(customer_totp).now()})
    api_token_issue(user=customer, label="phone", second_factor=True)
    before = User.objects.filter(pk=customer.pk).values().get()
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            _request(client, {"email": VICTIM})
    assert User.objects.filter(pk=customer.pk).values().get() == before
    assert owner.get(reverse("wallet:security")).status_code == 200
    assert ApiToken.objects.filter(user=customer).count() == 1
    assert Notification.objects.filter(user=customer, kind="password_reset").count() == 3
    assert all(m.to == [VICTIM] for m in mail.outbox)


def test_r06_per_address_limit_answers_the_same(client: Client, customer: User, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        responses = [_request(client, {"email": VICTIM}, REMOTE_ADDR=f"10.21.0.{i}") for i in range(6)]
    assert {r["Location"] for r in responses} == {reverse("wallet:password_reset_done")}
    assert len(mail.outbox) == 3


def test_r07_reset_never_shows_or_mails_a_password(client: Client, customer: User, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        _request(client, {"email": VICTIM})
    path = _link_path(str(mail.outbox[0].body))
    with django_capture_on_commit_callbacks(execute=True):
        _set_password_via(client, path)
    assert len(mail.outbox) == 2
    for message in mail.outbox:
        assert NEW_PASSWORD not in str(message.body)
        assert "correct horse battery staple" not in str(message.body)
    # Only the holder of the token, i.e. of the mailbox on record, chooses the password.
    customer.refresh_from_db()
    assert customer.check_password(NEW_PASSWORD)
    assert customer.must_reset_password is False


def test_reset_ends_every_session_and_api_token(client: Client, customer: User, customer_totp: TOTPDevice) -> None:
    owner = Client()
    owner.post(reverse("wallet:login"), {"username": VICTIM, "password": "correct horse battery staple"})
    owner.post(reverse("wallet:login_otp"), {"code": totp_for(customer_totp).at(time.time() - 30)})
    api_token_issue(user=customer, label="phone", second_factor=True)
    path = reverse("wallet:password_reset_confirm", args=[uid_encode(customer), password_reset_tokens.make_token(customer)])
    _set_password_via(client, path)
    assert owner.get(reverse("wallet:security")).status_code == 302
    assert not ApiToken.objects.filter(user=customer).exists()
    assert not UserSession.objects.filter(user=customer, ended_at__isnull=True).exists()
