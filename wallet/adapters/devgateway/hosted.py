"""What the development gateway does with the card details typed into its hosted page.

The card number and security code are checked here and then dropped: the vault
row gets a keyed fingerprint, the last four digits, the expiry and a token. The
functions that hold them are marked ``sensitive_variables`` so an error report
never shows their locals.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_variables

from ...models import GatewayCard, GatewaySession
from ..cards import dev_session_expired
from .testcards import WRONG_SECURITY_CODE, card_fingerprint, dev_test_card_for

SessionState = Literal["open", "challenge", "finished"]


@dataclass(frozen=True)
class PageOutcome:
    """``error``: show ``message`` next to ``field`` and ask again; ``challenge``: go to the
    3-D Secure page; ``finished``: send the customer back to the merchant."""

    kind: Literal["error", "challenge", "finished"]
    field: str | None = None
    message: str = ""


def session_state(session: GatewaySession) -> SessionState:
    if session.result_token or session.failure_code:
        return "finished"
    if session.three_ds_code_digest:
        return "challenge"
    return "open"


def session_for_page(session_id: str) -> GatewaySession | None:
    """The session, with an abandoned one closed as "expired" first."""
    session = GatewaySession.objects.filter(session_id=session_id).first()
    if session is not None and session_state(session) != "finished" and dev_session_expired(session):
        _finish(session, failure_code="expired")
    return session


def security_code_attempts_left(session: GatewaySession) -> int:
    return max(0, settings.CARD_SECURITY_CODE_FAILURES_MAX - session.security_code_failures)


def _code_digest(session_id: str, code: str) -> str:
    return hmac.new(settings.CARD_GATEWAY_SECRET.encode(), f"3ds:{session_id}:{code}".encode(), hashlib.sha256).hexdigest()


def challenge_code(session: GatewaySession) -> str:
    """The code the cardholder's bank app would show. Derived from the session, so the
    challenge page can show it again on reload while the session keeps only a digest."""
    raw = hmac.new(settings.CARD_GATEWAY_SECRET.encode(), f"3ds-code:{session.session_id}".encode(), hashlib.sha256).hexdigest()
    return f"{int(raw[:12], 16) % 1_000_000:06d}"


def _finish(session: GatewaySession, *, failure_code: str = "", card: dict[str, Any] | None = None, three_ds: str = "") -> None:
    if card is not None:
        token = f"tok_{secrets.token_hex(16)}"
        GatewayCard.objects.create(token=token, **card)
        session.result_token = token
    session.failure_code = failure_code
    session.three_ds_code_digest = ""
    session.pending = {"three_ds": three_ds} if three_ds else {}
    session.save(update_fields=["result_token", "failure_code", "three_ds_code_digest", "pending"])


def _locked(session_id: str) -> GatewaySession | None:
    return GatewaySession.objects.select_for_update().filter(session_id=session_id).first()


@sensitive_variables()
def card_submit(*, session_id: str, number: str, exp_month: int, exp_year: int, security_code: str) -> PageOutcome:
    """The customer pressed "Pay" on the hosted page with these (already well-formed) details."""
    test_card = dev_test_card_for(number)
    with transaction.atomic():
        session = _locked(session_id)
        if session is None or session_state(session) != "open" or dev_session_expired(session):
            return PageOutcome("finished")
        if test_card is None:
            return PageOutcome(
                "error", "number", _("This is the test gateway: use one of the test cards listed on this page. Real cards are refused.")
            )
        if security_code == WRONG_SECURITY_CODE:
            session.security_code_failures += 1
            session.save(update_fields=["security_code_failures"])
            left = security_code_attempts_left(session)
            if left == 0:
                _finish(session, failure_code="security_code_attempts")
                return PageOutcome("finished")
            message = ngettext(
                "The security code is not correct. %(left)d attempt left.",
                "The security code is not correct. %(left)d attempts left.",
                left,
            ) % {"left": left}
            return PageOutcome("error", "security_code", message)
        card = {
            "fingerprint": card_fingerprint(number),
            "brand": test_card.brand,
            "last4": number[-4:],
            "exp_month": exp_month,
            "exp_year": exp_year,
            "funding": test_card.funding,
            "behaviour": test_card.behaviour,
        }
        if test_card.three_ds_challenge:
            session.pending = {"card": card, "three_ds": "challenge"}
            session.three_ds_code_digest = _code_digest(session.session_id, challenge_code(session))
            session.save(update_fields=["pending", "three_ds_code_digest"])
            return PageOutcome("challenge")
        _finish(session, card=card, three_ds="not_enrolled")
    return PageOutcome("finished")


def challenge_submit(*, session_id: str, code: str) -> PageOutcome:
    """One try: the right code adds the card, a wrong one fails the session (as issuers do)."""
    with transaction.atomic():
        session = _locked(session_id)
        if session is None or session_state(session) != "challenge":
            return PageOutcome("finished")
        if dev_session_expired(session):
            _finish(session, failure_code="expired")
        elif hmac.compare_digest(session.three_ds_code_digest, _code_digest(session.session_id, code)):
            _finish(session, card=dict(session.pending["card"]), three_ds="passed")
        else:
            _finish(session, failure_code="three_ds_failed", three_ds="failed")
    return PageOutcome("finished")


def session_cancel(*, session_id: str) -> None:
    with transaction.atomic():
        session = _locked(session_id)
        if session is not None and session_state(session) != "finished":
            _finish(session, failure_code="cancelled")
