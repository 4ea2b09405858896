"""``@idempotent`` for APIView methods that move money (B06).

The client sends ``Idempotency-Key`` (1–200 characters of ``A-Z a-z 0-9 _ - : .``).
The first complete answer (2xx, or a 4xx refusal) is stored with a fingerprint of
method, path and body. The same key again gets the same status and body, with
``Idempotent-Replayed: true``, and no second effect; the same key with another
body is refused with 422 ``idempotency_key_reused``. Keys are per caller: a
customer and a terminal may both use "abc".

Server errors (5xx, including a switched-off channel) are not stored, so a retry
with the same key runs again.

Two ways to hold a key while the request runs:

- ``@idempotent`` (the default, for services that only touch the database): the
  record is inserted and locked, the view runs and the answer is stored in ONE
  transaction. A concurrent request with the same key waits on the unique index,
  then replays. A 5xx rolls the record back with everything the view did.
- ``@idempotent(atomic=False)``, for a service that calls another system between
  its own short transactions (a card charge: holding row locks across the gateway
  call would stall the customer's wallet, and a crash would roll back the pending
  top-up the reconcile job needs). Same-key requests are serialised by a session
  advisory lock instead; the service itself is idempotent by the key it is given,
  so a crash between its commit and the stored answer repeats no effect.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from hashlib import sha256
from typing import Any, TypeVar, overload

from django.db import transaction
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import IdempotencyRecord, Terminal, User
from ..services.idempotency import (
    idempotency_answer,
    idempotency_claim,
    idempotency_key_lock,
    idempotency_store,
    request_fingerprint,
)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = r"^[A-Za-z0-9_\-:.]{1,200}$"
_KEY_SHAPE = re.compile(KEY_PATTERN)

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    HEADER,
    type={"type": "string", "minLength": 1, "maxLength": 200, "pattern": KEY_PATTERN},
    location=OpenApiParameter.HEADER,
    required=True,
    description=(
        "A unique value per operation (a UUID is ideal), 1–200 characters of A–Z a–z 0–9 _ - : . "
        "Resending the same key returns the first answer without repeating the operation; "
        "the same key with a different body is refused with 422 `idempotency_key_reused`."
    ),
)
REPLAYED_RESPONSE_HEADER = OpenApiParameter(
    REPLAYED_HEADER,
    type={"type": "string", "enum": ["true"]},
    location=OpenApiParameter.HEADER,
    response=True,
    description="Present when this answer is the stored answer to an earlier request with the same key.",
)

ViewMethod = TypeVar("ViewMethod", bound=Callable[..., Response])


@dataclass(frozen=True)
class IdempotencyContext:
    scope: str
    key: str

    @property
    def service_key(self) -> str:
        """The key handed to the service, which scopes it by caller itself and keeps its own
        record of it (a retry after a server error cannot post or charge twice). Long keys
        are hashed to leave room for the prefixes services add within their 200-character columns."""
        return self.key if len(self.key) <= 100 else "sha256-" + sha256(self.key.encode()).hexdigest()


class _Discard(Exception):
    """Leaves the transaction (rolling the record back) carrying a response not to keep."""

    def __init__(self, response: Response) -> None:
        self.response = response


def caller_scope(principal: object) -> str:
    if isinstance(principal, Terminal):
        return f"terminal:{principal.pk}"
    if isinstance(principal, User):
        return f"user:{principal.pk}"
    raise exceptions.NotAuthenticated()


def _refusal(status: int, code: str, detail: str) -> Response:
    return Response({"detail": detail, "code": code}, status=status)


@overload
def idempotent(method: ViewMethod, *, atomic: bool = True) -> ViewMethod: ...
@overload
def idempotent(method: None = None, *, atomic: bool = True) -> Callable[[ViewMethod], ViewMethod]: ...


def idempotent(method: ViewMethod | None = None, *, atomic: bool = True) -> ViewMethod | Callable[[ViewMethod], ViewMethod]:
    """Wrap an APIView handler (``post``); the handler reads ``request.idempotency.service_key``."""

    def decorate(handler: ViewMethod) -> ViewMethod:
        @wraps(handler)
        def wrapped(view: APIView, request: Request, *args: Any, **kwargs: Any) -> Response:
            refused = _key_refusal(request.headers.get(HEADER))
            if refused is not None:
                return refused
            key = request.headers[HEADER]
            scope = caller_scope(request.user)
            try:
                fingerprint = request_fingerprint(method=request.method or "", path=request.path, body=request.data)
            except exceptions.ParseError as exc:
                return view.handle_exception(exc)
            request.idempotency = IdempotencyContext(scope=scope, key=key)  # type: ignore[attr-defined]
            call = _Call(view, handler, request, args, kwargs, scope, key, fingerprint)
            return call.in_one_transaction() if atomic else call.under_advisory_lock()

        return wrapped  # type: ignore[return-value]

    return decorate(method) if method is not None else decorate


def _key_refusal(key: str | None) -> Response | None:
    if not key:
        return _refusal(400, "idempotency_key_required", _("Send an Idempotency-Key header (for example a new UUID) with this request."))
    if not _KEY_SHAPE.match(key):
        return _refusal(
            400, "idempotency_key_invalid", _("The Idempotency-Key must be 1 to 200 characters of letters, digits, '_', '-', ':' and '.'.")
        )
    return None


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        return _refusal(
            422,
            "idempotency_key_reused",
            _("This Idempotency-Key was already used for a different request. Use a new key for a new operation."),
        )
    return Response(record.response_body, status=record.response_status, headers={REPLAYED_HEADER: "true"})


@dataclass
class _Call:
    view: APIView
    handler: Callable[..., Response]
    request: Request
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    scope: str
    key: str
    fingerprint: str

    def run(self) -> Response:
        """The handler; an exception becomes the answer DRF would give (stored like any other 4xx).
        No savepoint of our own: a service that deliberately keeps a record of a refusal
        (a burnt payment code, a risk decision) keeps it."""
        try:
            return self.handler(self.view, self.request, *self.args, **self.kwargs)
        except Exception as exc:  # noqa: BLE001 - handle_exception re-raises what it does not know
            return self.view.handle_exception(exc)

    def in_one_transaction(self) -> Response:
        try:
            with transaction.atomic():
                record = idempotency_claim(scope=self.scope, key=self.key, fingerprint=self.fingerprint)
                if record.response_status is not None:
                    return _replay(record, self.fingerprint)
                response = self.run()
                if response.status_code >= 500:
                    raise _Discard(response)
                body = idempotency_store(record=record, status=response.status_code, body=response.data)
        except _Discard as discarded:
            return discarded.response
        # Answer from the stored copy, so the first answer and every replay are the same bytes.
        return Response(body, status=response.status_code)

    def under_advisory_lock(self) -> Response:
        with idempotency_key_lock(scope=self.scope, key=self.key):
            answered = idempotency_answer(scope=self.scope, key=self.key)
            if answered is not None:
                return _replay(answered, self.fingerprint)
            response = self.run()
            if response.status_code >= 500:
                return response
            with transaction.atomic():
                record = idempotency_claim(scope=self.scope, key=self.key, fingerprint=self.fingerprint)
                if record.response_status is not None:  # answered meanwhile by a request that did not take the lock
                    return _replay(record, self.fingerprint)
                body = idempotency_store(record=record, status=response.status_code, body=response.data)
        return Response(body, status=response.status_code)
