"""API tokens for the app: issued by the sign-in services, read by the API's authentication class.

The key is shown once; only its keyed digest is stored (``secret_digest`` with
``API_TOKEN_PURPOSE``), so a database dump holds no usable token."""

from __future__ import annotations

import secrets

from django.utils import timezone

from ..field_length import fit
from ..models import ApiToken, KnownDevice, User, secret_digest

API_TOKEN_PREFIX = "anz_"
API_TOKEN_PURPOSE = "api-token"


def api_token_digest(key: str) -> str:
    """What the ``key_digest`` column holds for ``key``."""
    return secret_digest(key, purpose=API_TOKEN_PURPOSE)


def api_token_issue(*, user: User, label: str, second_factor: bool, device: KnownDevice | None = None) -> tuple[ApiToken, str]:
    """Create a token and return it with the only clear copy of its key."""
    key = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    token = ApiToken.objects.create(
        user=user,
        key_digest=api_token_digest(key),
        key_prefix=key[:8],
        label=fit(ApiToken, "label", label),
        device=device,
        second_factor_at=now if second_factor else None,
    )
    return token, key
