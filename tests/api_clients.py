"""API clients as the customer app and a store terminal hold them: real tokens and keys."""

from __future__ import annotations

import uuid
from typing import Any

from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from wallet.api.authentication import api_token_issue
from wallet.models import ApiToken, User


def customer_client(user: User, *, step_up: bool = False, **client_kwargs: Any) -> APIClient:
    """A client with a full token (second factor verified), optionally freshly stepped up.
    Such a token exists only for an account with an authenticator, so the account gets one."""
    from tests.money import ensure_second_factor

    ensure_second_factor(user)
    token, key = api_token_issue(user=user, label="test app", second_factor=True)
    if step_up:
        ApiToken.objects.filter(pk=token.pk).update(step_up_at=timezone.now())
    return APIClient(HTTP_AUTHORIZATION=f"Bearer {key}", **client_kwargs)


def terminal_client(key: str, **client_kwargs: Any) -> APIClient:
    return APIClient(HTTP_AUTHORIZATION=f"Terminal {key}", **client_kwargs)


def new_key() -> str:
    return str(uuid.uuid4())


def post_money(client: APIClient, url_name: str, data: dict[str, Any], key: str | None, **url_kwargs: Any) -> Any:
    """POST with an Idempotency-Key (None: without the header)."""
    headers: dict[str, Any] = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(reverse(f"api:{url_name}", kwargs=url_kwargs or None), data, format="json", **headers)


def issue_code(client: APIClient) -> str:
    response = client.post(reverse("api:wallet_payment_code"))
    assert response.status_code == 201, response.content
    return str(response.json()["code"])
