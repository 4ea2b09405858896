"""Card gateway adapter. ``CARD_GATEWAY_BACKEND`` names the class; a production acquirer implements ``CardGateway``.

The card number and security code never pass through this interface (P01, P02):
the customer types them into the gateway's hosted page, and we only ever see a
token, brand, last four, expiry, funding and the gateway's keyed fingerprint.

``DevCardGateway`` stands in for the acquirer we cannot reach from here. Its
hosted page lives in ``wallet.adapters.devgateway`` and its vault in the
``Gateway*`` models, which hold no card number or security code either.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Literal, Protocol
from urllib.parse import urlencode

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string

from ..models import GatewayCard, GatewayCharge, GatewaySession

ChargeStatus = Literal["succeeded", "declined"]


@dataclass(frozen=True)
class HostedSession:
    session_id: str
    redirect_url: str


@dataclass(frozen=True)
class TokenisedCard:
    """The outcome of a finished hosted session: a token and what may be shown, or a ``failure_code``."""

    token: str = ""
    brand: str = ""
    last4: str = ""
    exp_month: int = 0
    exp_year: int = 0
    funding: str = ""  # "credit" or "debit"
    fingerprint: str = ""
    three_ds: str = ""  # "passed" or "not_enrolled"
    # "security_code_attempts", "three_ds_failed", "declined", "cancelled", "expired"
    failure_code: str = ""

    @property
    def ok(self) -> bool:
        return not self.failure_code


@dataclass(frozen=True)
class ChargeResult:
    status: ChargeStatus
    charge_id: str
    decline_code: str = ""  # "card_declined", "insufficient_funds", "expired_card", "invalid_token"

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


@dataclass(frozen=True)
class RefundResult:
    status: Literal["succeeded", "failed"]
    refund_id: str
    charge_id: str
    amount_yen: int
    failure_code: str = ""  # "unknown_charge", "not_charged", "amount_too_large", "charge_reversed"

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


@dataclass(frozen=True)
class ChargeReversal:
    """An issuer took a charge back (a chargeback): the money leaves the acquirer's settlement."""

    charge_id: str
    idempotency_key: str
    amount_yen: int
    reversed_at: datetime
    reason: str = "fraudulent"


class GatewayError(Exception):
    """The gateway refused the request itself (not the card): a bug or a misuse on our side."""


class GatewayTimeout(GatewayError):
    """No answer in time. The charge may or may not exist: reconcile with ``charge_lookup``."""


class IdempotencyKeyReused(GatewayError):
    """The same idempotency key came with another token or amount (B06)."""


class CardGateway(Protocol):
    def hosted_session_start(self, *, return_url: str) -> HostedSession: ...

    def hosted_session_result(self, *, session_id: str) -> TokenisedCard | None: ...

    def charge(self, *, token: str, amount_yen: int, idempotency_key: str) -> ChargeResult: ...

    def charge_lookup(self, *, idempotency_key: str) -> ChargeResult | None: ...

    def refund(self, *, charge_id: str, amount_yen: int, idempotency_key: str) -> RefundResult: ...

    def reversals_since(self, *, since: datetime) -> list[ChargeReversal]: ...


# How a dev vault card behaves when charged (GatewayCard.behaviour) -> the decline code it gives.
DEV_DECLINE_CODES = {"decline": "card_declined", "no_funds": "insufficient_funds"}
DEV_SESSION_TTL = timedelta(minutes=30)
# Refunds are kept as GatewayCharge rows of this status (token = the refunded charge's id), so the dev
# vault needs no table of its own and a refund's idempotency key is unique with the charges'.
DEV_REFUND_STATUS = "refund"


def dev_session_expired(session: GatewaySession) -> bool:
    return timezone.now() - session.created_at > DEV_SESSION_TTL


def dev_return_url(session: GatewaySession) -> str:
    """Where the hosted page sends the customer back: our return URL, told which session finished."""
    glue = "&" if "?" in session.return_url else "?"
    return f"{session.return_url}{glue}{urlencode({'session': session.session_id})}"


class DevCardGateway:
    """Development backend: behaves like a hosted-payment-page acquirer, including
    3-D Secure challenges, declines and timeouts (see the test cards in
    ``wallet.adapters.devgateway.testcards``)."""

    def hosted_session_start(self, *, return_url: str) -> HostedSession:
        if not return_url:
            raise GatewayError("a return URL is required")
        session = GatewaySession.objects.create(session_id=f"gs_{secrets.token_urlsafe(24)}", return_url=return_url)
        return HostedSession(session_id=session.session_id, redirect_url=reverse("devgateway:pay", args=[session.session_id]))

    def hosted_session_result(self, *, session_id: str) -> TokenisedCard | None:
        session = GatewaySession.objects.filter(session_id=session_id).first()
        if session is None:
            raise GatewayError("unknown session")
        if session.failure_code:
            return TokenisedCard(failure_code=session.failure_code)
        if session.result_token:
            card = GatewayCard.objects.get(token=session.result_token)
            return TokenisedCard(
                token=card.token,
                brand=card.brand,
                last4=card.last4,
                exp_month=card.exp_month,
                exp_year=card.exp_year,
                funding=card.funding,
                fingerprint=card.fingerprint,
                three_ds=str(session.pending.get("three_ds", "not_enrolled")),
            )
        if dev_session_expired(session):
            GatewaySession.objects.filter(pk=session.pk, result_token="", failure_code="").update(failure_code="expired")
            return TokenisedCard(failure_code="expired")
        return None

    def charge(self, *, token: str, amount_yen: int, idempotency_key: str) -> ChargeResult:
        if not isinstance(amount_yen, int) or isinstance(amount_yen, bool) or amount_yen <= 0:
            raise GatewayError("the amount must be a positive number of yen")
        existing = GatewayCharge.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return self._replay(existing, token=token, amount_yen=amount_yen)
        card = GatewayCard.objects.filter(token=token).first()
        decline_code = self._decline_code(card)
        charge = GatewayCharge(
            charge_id=f"ch_{secrets.token_hex(12)}",
            idempotency_key=idempotency_key,
            token=token,
            amount_yen=amount_yen,
            status="declined" if decline_code else "succeeded",
        )
        try:
            with transaction.atomic():
                charge.save()
        except IntegrityError:  # the same key in parallel: one charge, both get it
            return self._replay(GatewayCharge.objects.get(idempotency_key=idempotency_key), token=token, amount_yen=amount_yen)
        if card is not None and card.behaviour == "timeout":
            # Like a real acquirer that charged the card and then lost the answer on the way back.
            raise GatewayTimeout("the card gateway did not answer in time")
        return ChargeResult(status=charge.status, charge_id=charge.charge_id, decline_code=decline_code)  # type: ignore[arg-type]

    def charge_lookup(self, *, idempotency_key: str) -> ChargeResult | None:
        charge = GatewayCharge.objects.filter(idempotency_key=idempotency_key).exclude(status=DEV_REFUND_STATUS).first()
        return None if charge is None else self._result(charge)

    def refund(self, *, charge_id: str, amount_yen: int, idempotency_key: str) -> RefundResult:
        if not isinstance(amount_yen, int) or isinstance(amount_yen, bool) or amount_yen <= 0:
            raise GatewayError("the amount must be a positive number of yen")
        with transaction.atomic():
            earlier = GatewayCharge.objects.filter(idempotency_key=idempotency_key).first()
            if earlier is not None:
                if earlier.status != DEV_REFUND_STATUS or earlier.token != charge_id or earlier.amount_yen != amount_yen:
                    raise IdempotencyKeyReused("this idempotency key was used for another request")
                return RefundResult(status="succeeded", refund_id=earlier.charge_id, charge_id=charge_id, amount_yen=amount_yen)
            charge = GatewayCharge.objects.select_for_update().filter(charge_id=charge_id).exclude(status=DEV_REFUND_STATUS).first()
            failure = ""
            if charge is None:
                failure = "unknown_charge"
            elif charge.status != "succeeded":
                failure = "not_charged"
            elif charge.reversed_at is not None:
                failure = "charge_reversed"
            elif charge.refunded_yen + amount_yen > charge.amount_yen:
                failure = "amount_too_large"
            if failure or charge is None:
                return RefundResult(status="failed", refund_id="", charge_id=charge_id, amount_yen=amount_yen, failure_code=failure)
            refund = GatewayCharge.objects.create(
                charge_id=f"re_{secrets.token_hex(12)}",
                idempotency_key=idempotency_key,
                token=charge.charge_id,
                amount_yen=amount_yen,
                status=DEV_REFUND_STATUS,
            )
            charge.refunded_yen += amount_yen
            charge.save(update_fields=["refunded_yen"])
        return RefundResult(status="succeeded", refund_id=refund.charge_id, charge_id=charge_id, amount_yen=amount_yen)

    def reversals_since(self, *, since: datetime) -> list[ChargeReversal]:
        charges = GatewayCharge.objects.filter(status="succeeded", reversed_at__gte=since).order_by("reversed_at", "pk")
        return [
            ChargeReversal(
                charge_id=c.charge_id,
                idempotency_key=c.idempotency_key,
                amount_yen=c.amount_yen - c.refunded_yen,
                reversed_at=c.reversed_at,  # type: ignore[arg-type]  # filtered non-null above
            )
            for c in charges
        ]

    # -- development helpers -------------------------------------------------------------------

    def simulate_reversal(self, charge_id: str) -> ChargeReversal:
        """Dev/test: the issuer takes a succeeded charge back (what was not refunded)."""
        with transaction.atomic():
            charge = GatewayCharge.objects.select_for_update().get(charge_id=charge_id, status="succeeded")
            if charge.reversed_at is None:
                if charge.refunded_yen >= charge.amount_yen:
                    raise GatewayError("a fully refunded charge cannot be reversed")
                charge.reversed_at = timezone.now()
                charge.save(update_fields=["reversed_at"])
        return ChargeReversal(
            charge_id=charge.charge_id,
            idempotency_key=charge.idempotency_key,
            amount_yen=charge.amount_yen - charge.refunded_yen,
            reversed_at=charge.reversed_at,
        )

    # -- internals -----------------------------------------------------------------------------

    @staticmethod
    def _decline_code(card: GatewayCard | None) -> str:
        if card is None:
            return "invalid_token"
        if card.behaviour in DEV_DECLINE_CODES:
            return DEV_DECLINE_CODES[card.behaviour]
        today = timezone.localdate()
        if (card.exp_year, card.exp_month) < (today.year, today.month):
            return "expired_card"
        return ""

    def _result(self, charge: GatewayCharge) -> ChargeResult:
        if charge.status == "succeeded":
            return ChargeResult(status="succeeded", charge_id=charge.charge_id)
        return ChargeResult(
            status="declined",
            charge_id=charge.charge_id,
            decline_code=self._decline_code(GatewayCard.objects.filter(token=charge.token).first()),
        )

    def _replay(self, charge: GatewayCharge, *, token: str, amount_yen: int) -> ChargeResult:
        if charge.status == DEV_REFUND_STATUS or charge.token != token or charge.amount_yen != amount_yen:
            raise IdempotencyKeyReused("this idempotency key was used for another request")
        return self._result(charge)


@lru_cache(maxsize=1)
def _gateway_for(backend: str) -> CardGateway:
    return import_string(backend)()  # type: ignore[no-any-return]


def get_card_gateway() -> CardGateway:
    """The configured gateway, one instance per backend setting (tests may override the setting)."""
    return _gateway_for(settings.CARD_GATEWAY_BACKEND)
