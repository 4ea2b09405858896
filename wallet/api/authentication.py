from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from ..models import ApiToken, User
from ..services.api_tokens import api_token_digest, api_token_issue

# ``api_token_issue`` lives in the service layer; it is re-exported for the callers (and tests) that import it from here.
__all__ = ["ApiTokenAuthentication", "ApiTokenAuthenticationScheme", "api_token_issue"]

_TOUCH_SECONDS = 60


class ApiTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer anz_…``. A token dies when deleted (logout, password or
    factor change, freeze, mass reset), when idle too long, or when the account is not active."""

    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid Authorization header.")
        key = parts[1].decode("latin-1")
        token = ApiToken.objects.select_related("user").filter(key_digest=api_token_digest(key)).first()
        now = timezone.now()
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        last_used = token.last_used_at or token.created_at
        user = token.user
        if (
            now - last_used > settings.API_TOKEN_IDLE_TIMEOUT
            or not user.is_active
            or user.status != User.Status.ACTIVE
            or token.created_at < user.credentials_changed_at
        ):
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > _TOUCH_SECONDS:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return user, token

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


class ApiTokenAuthenticationScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "wallet.api.authentication.ApiTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "Token from /api/v1/auth/verify/"}
