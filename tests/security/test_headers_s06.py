"""S06: production settings pass ``check --deploy``; security headers and cookie flags."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.backoffice.helpers import STAFF_PASSWORD, make_staff

ROOT = Path(__file__).resolve().parents[2]


def test_s06_check_deploy_is_clean_in_production_settings() -> None:
    # The browser tests' DJANGO_ALLOW_ASYNC_UNSAFE must not leak into a production check.
    inherited = {key: value for key, value in os.environ.items() if key != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {
        **inherited,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "anzenpay.example",
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "REDIS_URL": os.environ["REDIS_URL"],
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_s06_production_refuses_to_start_without_a_secret_key() -> None:
    env = {**os.environ, "DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "", "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/admin/login/", "/staff/enrol/", "/api/v1/me/"])
def test_s06_security_headers_on_pages(client: Client, path: str) -> None:
    response = client.get(path)
    csp = response["Content-Security-Policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.django_db
def test_s06_session_and_csrf_cookies_are_httponly_and_samesite(client: Client) -> None:
    staff = make_staff("new@anzenpay.example", "support", totp=False)
    from datetime import timedelta

    from django.utils import timezone

    staff.staff_enrollment_open_until = timezone.now() + timedelta(hours=1)
    staff.save()
    page = client.get(reverse("backoffice:enrol"))
    csrf = page.cookies[settings.CSRF_COOKIE_NAME]
    assert csrf["httponly"] and csrf["samesite"] == "Lax"
    response = client.post(reverse("backoffice:enrol"), {"email": staff.email, "password": STAFF_PASSWORD})
    session = response.cookies[settings.SESSION_COOKIE_NAME]
    assert session["httponly"] and session["samesite"] == "Lax"


@pytest.mark.django_db
def test_s06_forms_are_csrf_protected() -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.post(reverse("backoffice:enrol"), {"email": "x@anzenpay.example", "password": "x"}).status_code == 403
    assert client.post(reverse("admin:login"), {"username": "x@anzenpay.example", "password": "x"}).status_code == 403


def test_s06_api_docs_load_nothing_from_another_origin(client: Client) -> None:
    """Swagger UI assets come from drf-spectacular-sidecar and the init script is a
    separate same-origin request, so the docs work under CSP 'self' without internet."""
    body = client.get("/api/docs/").content.decode()
    assert "//cdn" not in body and "https://" not in body and "http://" not in body
    assert "<script>" not in body  # no inline script
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in body
