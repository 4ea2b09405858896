"""T11: the reset suite in one pass, with the figures to report."""

from __future__ import annotations

import re
import time

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from tests.conftest import enrol_totp, make_customer, totp_for
from tests.security.test_reset_r01_r07 import ATTEMPTS, VICTIM
from wallet.api.authentication import api_token_issue
from wallet.models import ApiToken

NEW_PASSWORD = "a brand new long passphrase"


@pytest.mark.django_db
def test_t11_reset_suite(django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    user = make_customer(VICTIM)
    device = enrol_totp(user)
    attacker = Client()
    # 1. Redirect attempts: extra and repeated fields, lookalikes, headers, nobody's address.
    with django_capture_on_commit_callbacks(execute=True):
        for i, (_label, data, headers) in enumerate(ATTEMPTS):
            attacker.post(reverse("wallet:password_reset"), data, REMOTE_ADDR=f"10.11.{i}.1", **headers)
    elsewhere = [m for m in mail.outbox if m.to != [VICTIM]]
    print(f"T11: {len(ATTEMPTS)} redirect attempts, {len(mail.outbox)} mails, {len(elsewhere)} to other addresses")
    assert elsewhere == []

    # 2. Known and unknown answer the same.
    a = attacker.post(reverse("wallet:password_reset"), {"email": VICTIM}, REMOTE_ADDR="10.11.99.1")
    b = attacker.post(reverse("wallet:password_reset"), {"email": "nobody@example.jp"}, REMOTE_ADDR="10.11.99.1")
    assert (a.status_code, a["Location"]) == (b.status_code, b["Location"])

    # 3. A logged-in session and an API token exist before the reset.
    other = Client()
    other.post(reverse("wallet:login"), {"username": VICTIM, "password": "correct horse battery staple"})
    other.post(reverse("wallet:login_otp"), {"code": totp_for(device).at(time.time() - 30)})
    api_token_issue(user=user, label="app", second_factor=True)

    # 4. Use the latest link; the token leaves the URL; the password is set.
    mail.outbox.clear()
    cache.clear()  # an hour later: the per-address limit (3 an hour) was spent by step 1
    with django_capture_on_commit_callbacks(execute=True):
        attacker.post(reverse("wallet:password_reset"), {"email": VICTIM}, REMOTE_ADDR="10.11.98.1")
    reset_mail = next(m for m in mail.outbox if "/password-reset/" in m.body)
    path = re.search(r"https?://[^/\s]+(/password-reset/\S+/\S+/)", str(reset_mail.body)).group(1)  # type: ignore[union-attr]
    owner = Client()
    form_url = owner.get(path)["Location"]
    response = owner.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response["Location"] == reverse("wallet:login")
    assert "_auth_user_id" not in owner.session  # R04: not logged in by the reset

    # 5. Token reuse fails; other sessions and tokens are gone.
    reuse = Client()
    assert reuse.get(reuse.get(path)["Location"]).status_code == 400
    assert other.get(reverse("wallet:security")).status_code == 302
    assert not ApiToken.objects.filter(user=user).exists()

    # 6. MFA after reset: the new password alone is not enough.
    response = owner.post(reverse("wallet:login"), {"username": VICTIM, "password": NEW_PASSWORD})
    assert response["Location"] == reverse("wallet:login_otp")
    assert "_auth_user_id" not in owner.session
    owner.post(reverse("wallet:login_otp"), {"code": totp_for(device).now()})
    assert owner.session["_auth_user_id"] == str(user.pk)
