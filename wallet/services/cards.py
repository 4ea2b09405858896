"""Adding and removing cards through the card gateway's hosted page (P01, P02, S04, B05).

The customer types the card into the gateway's page; we start that visit, then
read back a token, brand, last four, expiry, funding and fingerprint. Caps
(Payments Japan guidance): cards per wallet, registrations started per day,
and after one hosted page closed for wrong security codes no new registration
for 24 hours. The fresh second factor (S04) is the view's and API's guard.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..adapters.cards import TokenisedCard, get_card_gateway
from ..models import Card, CardRegistration, RiskOutcome, User
from ..request_meta import RequestMeta
from .ledger import MoneyError, money_second_factor_check
from .notifications import notification_enqueue
from .risk import risk_assess
from .switches import channel_check

CHANNEL = "card.register"
SECURITY_CODE_LOCK = timedelta(hours=24)
DAY = timedelta(hours=24)


class CardLimitReached(MoneyError):
    code = "card_limit"
    default_message = _("Your wallet already has the most cards it may hold. Remove one before adding another.")


class CardRegistrationsTooMany(MoneyError):
    code = "card_registrations_daily"
    default_message = _("Too many card registrations were started in the last 24 hours. Please try again tomorrow.")
    http_status = 429


class CardRegistrationLocked(MoneyError):
    code = "card_security_code_lock"
    default_message = _(
        "A security code was entered wrongly too many times, so adding cards is paused for 24 hours. If this was not you, contact support."
    )
    http_status = 429


class CardRegistrationBlocked(MoneyError):
    code = "risk_blocked"
    default_message = _("We cannot add a card to this wallet now. Contact support if you think this is wrong.")
    http_status = 403


class CardRegistrationUnfinished(MoneyError):
    code = "card_registration_unfinished"
    default_message = _("The card page was not finished, so no card was added.")
    http_status = 409


class CardRegistrationFailed(MoneyError):
    """The hosted page or our checks ended the registration; ``failure_code`` says why."""

    code = "card_registration_failed"
    http_status = 400

    def __init__(self, failure_code: str) -> None:
        self.failure_code = failure_code
        super().__init__(FAILURE_MESSAGES.get(failure_code, _("The card could not be added.")))


FAILURE_MESSAGES = {
    "security_code_attempts": CardRegistrationLocked.default_message,
    "three_ds_failed": _("The card company's check (3-D Secure) did not succeed, so the card was not added."),
    "declined": _("The card company declined this card."),
    "cancelled": _("You cancelled on the card page. No card was added."),
    "expired": _("The card page timed out. Please start again."),
    "duplicate": _("This card is already in your wallet."),
    "card_limit": CardLimitReached.default_message,
    "risk_blocked": CardRegistrationBlocked.default_message,
}


@dataclass(frozen=True)
class CardRegistrationStarted:
    registration: CardRegistration
    # Send the customer here: the gateway's hosted card page.
    redirect_url: str


def _user_locked(user: User) -> User:
    """Serialises one customer's card registrations so the caps cannot be raced."""
    return User.objects.select_for_update().get(pk=user.pk)


def _registrations_settle(user: User) -> None:
    """Record failures of hosted pages the customer never came back from: a page closed
    for wrong security codes must count against B05 even if the return was skipped."""
    gateway = get_card_gateway()
    for registration in CardRegistration.objects.filter(user=user, status=CardRegistration.Status.STARTED):
        result = gateway.hosted_session_result(session_id=registration.gateway_session)
        if result is not None and not result.ok:
            _mark_failed(registration, result.failure_code)


def _mark_failed(registration: CardRegistration, failure_code: str) -> None:
    registration.status = CardRegistration.Status.FAILED
    registration.failure_code = failure_code
    registration.finished_at = timezone.now()
    registration.save(update_fields=["status", "failure_code", "finished_at"])


def _cap_refusal(user: User) -> MoneyError | None:
    now = timezone.now()
    locked_out = CardRegistration.objects.filter(
        user=user,
        status=CardRegistration.Status.FAILED,
        failure_code="security_code_attempts",
        finished_at__gte=now - SECURITY_CODE_LOCK,
    ).exists()
    if locked_out:
        return CardRegistrationLocked()
    active = Card.objects.filter(user=user, status=Card.Status.ACTIVE).count()
    if active >= settings.CARDS_PER_WALLET_MAX:
        return CardLimitReached(
            ngettext(
                "Your wallet already has %(count)d card, the most it may hold. Remove it before adding another.",
                "Your wallet already has %(count)d cards, the most it may hold. Remove one before adding another.",
                active,
            )
            % {"count": active}
        )
    started = CardRegistration.objects.filter(user=user, created_at__gte=now - DAY).count()
    if started >= settings.CARD_REGISTRATIONS_PER_DAY_MAX:
        return CardRegistrationsTooMany()
    return None


def card_registration_start(*, user: User, return_url: str, meta: RequestMeta | None = None) -> CardRegistrationStarted:
    """Open a hosted card page for this customer.

    ``return_url`` is where the gateway sends the customer back; a ``{registration}``
    in it is replaced by the new registration's public id. Raises a ``MoneyError``
    (caps, risk, no second factor) or ``ChannelDisabled``.
    """
    money_second_factor_check(user)
    channel_check(CHANNEL)
    refusal: MoneyError | None = None
    with transaction.atomic():
        user = _user_locked(user)
        _registrations_settle(user)
        refusal = _cap_refusal(user)
        if refusal is None:
            decision = risk_assess(event="card_register", user=user, channel=CHANNEL, meta=meta)
            if decision.outcome == RiskOutcome.BLOCK:
                refusal = CardRegistrationBlocked()
        if refusal is None:
            public_id = uuid.uuid4()
            # The dev gateway writes its session in this transaction; a real one is one short call under the user's lock.
            hosted = get_card_gateway().hosted_session_start(return_url=return_url.replace("{registration}", str(public_id)))
            registration = CardRegistration.objects.create(public_id=public_id, user=user, gateway_session=hosted.session_id)
    # Raised after commit so the settled failures and the risk decision are kept.
    if refusal is not None:
        raise refusal
    return CardRegistrationStarted(registration=registration, redirect_url=hosted.redirect_url)


def _check_new_card(user: User, result: TokenisedCard, meta: RequestMeta | None) -> str:
    """The failure code for a card the gateway accepted but we do not, or ""."""
    active = Card.objects.filter(user=user, status=Card.Status.ACTIVE)
    if active.filter(fingerprint=result.fingerprint).exists():
        return "duplicate"
    if active.count() >= settings.CARDS_PER_WALLET_MAX:
        return "card_limit"
    decision = risk_assess(event="card_register", user=user, channel=CHANNEL, meta=meta, card_fingerprint=result.fingerprint)
    if decision.outcome == RiskOutcome.BLOCK:
        return "risk_blocked"
    return ""


def card_registration_complete(*, user: User, registration_public_id: uuid.UUID | str, meta: RequestMeta | None = None) -> Card:
    """The customer is back from the hosted page: keep the card, or say why not.

    Safe to call again (a reloaded return page): a completed registration returns its card.
    Raises ``CardRegistration.DoesNotExist`` for another customer's registration (B08),
    ``CardRegistrationUnfinished`` while the page is open, ``CardRegistrationFailed`` otherwise.
    """
    channel_check(CHANNEL)
    failure = ""
    with transaction.atomic():
        user = _user_locked(user)
        registration = (
            CardRegistration.objects.select_for_update(of=("self",)).select_related("card").get(public_id=registration_public_id, user=user)
        )
        if registration.status == CardRegistration.Status.COMPLETED and registration.card is not None:
            return registration.card
        if registration.status == CardRegistration.Status.FAILED:
            raise CardRegistrationFailed(registration.failure_code)
        result = get_card_gateway().hosted_session_result(session_id=registration.gateway_session)
        if result is None:
            raise CardRegistrationUnfinished()
        failure = result.failure_code or _check_new_card(user, result, meta)
        if failure:
            _mark_failed(registration, failure)
        else:
            try:
                with transaction.atomic():
                    card = Card.objects.create(
                        user=user,
                        gateway_token=result.token,
                        brand=result.brand,
                        last4=result.last4,
                        exp_month=result.exp_month,
                        exp_year=result.exp_year,
                        funding=result.funding,
                        fingerprint=result.fingerprint,
                    )
            except IntegrityError:  # the token was already used for a card: never bind it twice
                failure = "duplicate"
                _mark_failed(registration, failure)
            else:
                registration.status = CardRegistration.Status.COMPLETED
                registration.card = card
                registration.finished_at = timezone.now()
                registration.save(update_fields=["status", "card", "finished_at"])
                notification_enqueue(user=user, kind="card_added", context=_notice_context(card))
    if failure:
        raise CardRegistrationFailed(failure)
    return card


def card_remove(*, user: User, card: Card) -> None:
    """Stop using a card. Always allowed (no channel check): a customer must be able to drop a card
    even while registrations are switched off. Removing twice is a no-op."""
    with transaction.atomic():
        locked = Card.objects.select_for_update().get(pk=card.pk, user=user)
        if locked.status != Card.Status.ACTIVE:
            return
        locked.status = Card.Status.REMOVED
        locked.removed_at = timezone.now()
        locked.save(update_fields=["status", "removed_at"])
        notification_enqueue(user=user, kind="card_removed", context=_notice_context(locked))
    card.status, card.removed_at = locked.status, locked.removed_at


def _notice_context(card: Card) -> dict[str, str]:
    return {"brand": card.brand.upper(), "last4": card.last4, "funding": card.funding}
