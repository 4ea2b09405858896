"""The step-up page before payee details are taken on the login route (B09, S04): for every
payout method, the claim's details and submit steps and the correction after a return.

What the customer typed before the step-up page is kept in the session as a draft (not as
details: nothing is checked or saved yet) and shown again, filled in, when they come back.
The time of the step-up goes on to the service, which refuses details without a fresh one."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone

from wallet.access import url_with_next
from wallet.services.second_factor import SESSION_STEP_UP_AT, step_up_is_fresh

DRAFTS_KEY = "refund_payee_drafts"
DRAFT_FIELD_MAX = 400


def step_up_missing(request: HttpRequest) -> bool:
    return not step_up_is_fresh(request)


def step_up_at(request: HttpRequest) -> datetime | None:
    """When this session last passed the step-up page, for the service to check again."""
    raw = request.session.get(SESSION_STEP_UP_AT)
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return moment if timezone.is_aware(moment) else None


def step_up_redirect(request: HttpRequest, *, back: str, draft_key: str = "", fields: Iterable[str] = ()) -> HttpResponse:
    """To the step-up page and then ``back``; a POST's ``fields`` are kept as the draft ``draft_key``."""
    typed = {name: str(request.POST.get(name, ""))[:DRAFT_FIELD_MAX] for name in fields if name in request.POST}
    if request.method == "POST" and draft_key and typed:
        request.session[DRAFTS_KEY] = {**(request.session.get(DRAFTS_KEY) or {}), draft_key: typed}
    return HttpResponseRedirect(url_with_next("wallet:step_up", back))


def draft_take(request: HttpRequest, draft_key: str) -> dict[str, str] | None:
    """The fields kept before the step-up page, once; None when there are none."""
    drafts = dict(request.session.get(DRAFTS_KEY) or {})
    draft = drafts.pop(draft_key, None)
    if draft is None:
        return None
    request.session[DRAFTS_KEY] = drafts
    return {str(name): str(value) for name, value in dict(draft).items()}
