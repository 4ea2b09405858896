"""Store registers and ATMs authenticate with ``Authorization: Terminal apt_…``.

The principal (``request.user``) is the ``Terminal``; ``request.auth`` is None.
Terminal views list only this class, customer views only the Bearer class, so a
terminal key is "no credentials" on a customer endpoint and the other way round.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from ..models import Terminal, User
from ..services.terminals import terminal_authenticate


class TerminalKeyAuthentication(BaseAuthentication):
    keyword = b"terminal"

    def authenticate(self, request: Request) -> tuple[Terminal, None] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid Authorization header.")
        terminal = terminal_authenticate(parts[1].decode("latin-1"))
        if terminal is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked terminal key.")
        return terminal, None

    def authenticate_header(self, request: Request) -> str:
        return "Terminal"


class IsTerminal(BasePermission):
    message = "This endpoint is for store terminals."

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.user, Terminal)


class IsCustomer(BasePermission):
    message = "This endpoint is for customers."

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.user, User) and request.user.is_authenticated


class TerminalKeyAuthenticationScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "wallet.api.terminal_auth.TerminalKeyAuthentication"
    name = "terminalKey"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Store terminals and ATMs: `Authorization: Terminal apt_…` (key from `manage.py terminal_create`).",
        }
