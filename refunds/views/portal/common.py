"""What the portal's pages share: the programme's phase, the browser-session binding of the
no-login route, rate limits, and the plain-language words for a claim's state and history."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import get_language, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from django_ratelimit.core import is_ratelimited

from wallet.models import normalize_email

from ...models import ClaimEvent, Payout, RefundClaim, ShutdownProgramme
from ...services.claims import claim_current_bank_details, claim_current_postal_details
from ...services.contact import contact_session_digest
from ...services.programme import programme_current

TEMPLATE_DIR = "refunds/portal"
RATE_PER_IP = "30/h"
RATE_PER_EMAIL = "5/h"
CODE_RATE_PER_IP = "60/h"


class Phase:
    NONE = "none"
    NOT_OPEN = "not_open"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class ProgrammeView:
    programme: ShutdownProgramme | None
    phase: str

    @property
    def notice(self) -> str:
        """The public notice in the page's language; Japanese when there is no English text."""
        if self.programme is None:
            return ""
        if (get_language() or "ja").startswith("en") and self.programme.notice_en.strip():
            return self.programme.notice_en
        return self.programme.notice_ja


def programme_view() -> ProgrammeView:
    programme = programme_current()
    if programme is None or programme.state == ShutdownProgramme.State.DRAFT:
        return ProgrammeView(None, Phase.NONE)
    now = timezone.now()
    if programme.claims_have_closed(now) or programme.state == ShutdownProgramme.State.CLAIMS_CLOSED:
        return ProgrammeView(programme, Phase.CLOSED)
    if now < programme.claims_open_at:
        return ProgrammeView(programme, Phase.NOT_OPEN)
    return ProgrammeView(programme, Phase.OPEN)


def portal_render(request: HttpRequest, name: str, context: dict[str, Any] | None = None, *, status: int = 200) -> HttpResponse:
    return render(request, f"{TEMPLATE_DIR}/{name}", context or {}, status=status)


def too_many(request: HttpRequest) -> HttpResponse:
    return portal_render(request, "too_many.html", status=429)


def browser_digest(request: HttpRequest) -> str:
    """The digest that binds a contact proof to this browser. Makes sure the session has a key
    (and is saved, so its cookie is set) before the key is used."""
    if request.session.session_key is None:
        request.session["refund_started"] = timezone.now().isoformat()
        request.session.save()
    assert request.session.session_key is not None
    return contact_session_digest(request.session.session_key)


def browser_digest_if_any(request: HttpRequest) -> str:
    key = request.session.session_key
    return contact_session_digest(key) if key else ""


def ip_limited(request: HttpRequest, group: str, rate: str = RATE_PER_IP) -> bool:
    return is_ratelimited(request, group=group, key="ip", rate=rate, method="POST", increment=True)


def value_limited(request: HttpRequest, group: str, value: str, rate: str = RATE_PER_EMAIL) -> bool:
    """A limit keyed on a typed value (an email address, a claim number), counted whether or not it exists."""

    def key(_group: str, _request: HttpRequest) -> str:
        return normalize_email(value)[:254]

    return is_ratelimited(request, group=group, key=key, rate=rate, method="POST", increment=True)


# --- Claim state and history as the customer reads them -----------------------------------

STATE_EXPLANATIONS: dict[str, Any] = {
    RefundClaim.State.REVIEW: _(
        "A member of our staff checks your claim before it is paid. This usually takes a few business days. "
        "We write to you if we need anything."
    ),
    RefundClaim.State.APPROVED: _("Your claim is approved. The money leaves with the next payout, on a bank business day."),
    RefundClaim.State.SCHEDULED: _("The payment is on its way: it is in a payout batch sent to the bank or to Japan Post."),
    RefundClaim.State.PAID: _("The refund has been paid."),
    RefundClaim.State.RETURNED: _(
        "The bank could not credit the payment and sent it back to us. The money is safe and still yours: "
        "correct the details below and we send it again with a later payout."
    ),
    RefundClaim.State.REJECTED: _(
        "This claim was not accepted and the balance went back to your wallet. You can claim again, or contact support."
    ),
}

STATE_BADGES: dict[str, str] = {
    RefundClaim.State.REVIEW: "warn",
    RefundClaim.State.APPROVED: "ok",
    RefundClaim.State.SCHEDULED: "ok",
    RefundClaim.State.PAID: "ok",
    RefundClaim.State.RETURNED: "bad",
    RefundClaim.State.REJECTED: "bad",
}

_EVENT_WORDS: dict[str, Any] = {
    "submitted": _("Claim received"),
    "held": _("Sent to our staff for a check"),
    "review_approved": _("Approved after a check"),
    "late_claim_accepted": _("Late claim accepted"),
    "review_rejected": _("Not accepted"),
    "details_corrected": _("You corrected the details"),
}
_SUBMITTED_WORDS: dict[str, Any] = {
    RefundClaim.State.APPROVED: _("Claim received and approved"),
    RefundClaim.State.REVIEW: _("Claim received; our staff check it before it is paid"),
}
_STATE_WORDS: dict[str, Any] = {
    RefundClaim.State.REVIEW: _("Being checked by our staff"),
    RefundClaim.State.APPROVED: pgettext_lazy("claim history", "Approved"),
    RefundClaim.State.SCHEDULED: _("In a payout batch"),
    RefundClaim.State.PAID: pgettext_lazy("claim history", "Paid"),
    RefundClaim.State.RETURNED: _("Returned by the bank"),
    RefundClaim.State.REJECTED: pgettext_lazy("claim history", "Not accepted"),
}


def claim_history(claim: RefundClaim) -> list[dict[str, Any]]:
    """Customer-facing history: state changes only, in plain words. No staff names, no notes,
    no review reasons (those are for staff)."""
    rows: list[dict[str, Any]] = []
    events: list[ClaimEvent] = list(claim.events.exclude(to_state="").order_by("created_at", "id"))
    for event in events:
        if event.kind == "submitted":
            words = _SUBMITTED_WORDS.get(event.to_state, _EVENT_WORDS["submitted"])
        else:
            words = _EVENT_WORDS.get(event.kind) or _STATE_WORDS.get(event.to_state, "")
        if not words:
            continue
        rows.append({"at": event.created_at, "what": words, "state": event.to_state})
    return rows


def claim_summary(claim: RefundClaim) -> dict[str, Any]:
    """Everything the status pages show about one claim; the account number only by its last 3 digits."""
    bank = claim_current_bank_details(claim) if claim.method == RefundClaim.Method.BANK else None
    postal = claim_current_postal_details(claim) if claim.method == RefundClaim.Method.POSTAL else None
    returned = None
    if claim.state == RefundClaim.State.RETURNED:
        returned = claim.payouts.filter(state=Payout.State.RETURNED).order_by("-id").first()
    return {
        "claim": claim,
        "explanation": STATE_EXPLANATIONS.get(claim.state, ""),
        "badge": STATE_BADGES.get(claim.state, ""),
        "history": claim_history(claim),
        "bank": bank,
        # As people read them: NFKC folds the master's full-width letters (三菱ＵＦＪ → 三菱UFJ).
        "bank_label": f"{unicodedata.normalize('NFKC', bank.bank_name)} / {unicodedata.normalize('NFKC', bank.branch_name)}"
        if bank
        else "",
        "postal": postal,
        "returned_reason": returned.result_reason if returned is not None else "",
        "can_correct": claim.state == RefundClaim.State.RETURNED,
    }
