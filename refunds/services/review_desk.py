"""Writes of the staff refund desk that the claim and programme services do not
already offer: a reviewer's decision guarded against double clicks and stale
pages, edits of a programme's text (and its dates while it is a draft), and the
audit row of every export.

A decision names the state the reviewer saw. The claim's row is locked first and
the decision is refused, naming who moved it and when, unless the claim is still
in that state: a second click, or a colleague who decided a moment earlier,
changes nothing. The claim services then lock the same row again (a no-op inside
this transaction) and write the money, history, mail and audit rows.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from backoffice.services.audit import staff_action_record
from wallet.models import User

from ..models import ClaimEvent, RefundClaim, ShutdownProgramme
from .claims import REVIEW_PERMISSION, claim_review_approve, claim_review_reject
from .errors import RefundRefused
from .programme import programme_dates_check

DECISIONS = ("approve", "reject")
# A reviewer may reject a claim that is approved but not yet in a batch (fraud found late); approving needs review.
DECIDABLE_STATES = {"approve": (RefundClaim.State.REVIEW,), "reject": (RefundClaim.State.REVIEW, RefundClaim.State.APPROVED)}
REPORT_PERMISSION = "refunds.report_refundclaim"
PROGRAMME_DATE_FIELDS = ("announced_on", "service_ends_at", "claims_open_at", "claims_close_at")
PROGRAMME_TEXT_FIELDS = ("title", "notice_ja", "notice_en")
PROGRAMME_CHANGE_PERMISSION = "refunds.change_shutdownprogramme"


def _last_move(claim: RefundClaim) -> ClaimEvent | None:
    return claim.events.exclude(to_state="").select_related("actor").order_by("-created_at", "-id").first()


def claim_already_decided(claim: RefundClaim) -> RefundRefused:
    """The refusal for a claim that is no longer where the reviewer saw it, naming who moved it and when."""
    last = _last_move(claim)
    if last is None:
        return RefundRefused(
            RefundRefused.Code.ALREADY_DECIDED,
            gettext("This claim is now “%(state)s”. Nothing was changed.") % {"state": claim.get_state_display()},
        )
    who = last.actor.email if last.actor is not None else gettext("the system")
    return RefundRefused(
        RefundRefused.Code.ALREADY_DECIDED,
        gettext("Already decided by %(who)s at %(when)s: the claim is now “%(state)s”. Nothing was changed.")
        % {"who": who, "when": timezone.localtime(last.created_at).strftime("%Y-%m-%d %H:%M:%S"), "state": claim.get_state_display()},
    )


def claim_review_decide(
    *, claim_id: int, decision: str, seen_state: str, note: str, acting_user: User, ip: str | None = None
) -> RefundClaim:
    """Approve or reject a claim the reviewer saw in ``seen_state``; refused (nothing changed) if it moved since."""
    if decision not in DECISIONS:
        raise RefundRefused(RefundRefused.Code.INVALID, gettext("That decision was not understood. Nothing was changed."))
    if not acting_user.has_perm(REVIEW_PERMISSION):
        raise RefundRefused(RefundRefused.Code.NOT_ALLOWED, gettext("You are not allowed to review refund claims."))
    with transaction.atomic():
        claim = RefundClaim.objects.select_for_update().filter(pk=claim_id).first()
        if claim is None:
            raise RefundRefused(RefundRefused.Code.NOT_FOUND, gettext("There is no such claim."))
        if claim.state != seen_state or claim.state not in DECIDABLE_STATES[decision]:
            raise claim_already_decided(claim)
        if decision == "approve":
            return claim_review_approve(claim=claim, acting_user=acting_user, note=note.strip(), ip=ip)
        return claim_review_reject(claim=claim, acting_user=acting_user, note=note, ip=ip)


def _jsonable(value: object) -> Any:
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def programme_update(
    *, programme: ShutdownProgramme, changes: dict[str, Any], acting_user: User, ip: str | None = None
) -> ShutdownProgramme:
    """Change a programme's title and public notice, and its dates while it is still a draft.

    After the announcement the dates are what holders were told, so they are fixed;
    a cancelled or closed programme changes no more. The 60-day rule and the date
    order are checked on the whole new set of dates (``programme_dates_check``)."""
    if not acting_user.has_perm(PROGRAMME_CHANGE_PERMISSION):
        raise RefundRefused(RefundRefused.Code.NOT_ALLOWED, gettext("You are not allowed to change the shutdown programme."))
    unknown = set(changes) - {*PROGRAMME_DATE_FIELDS, *PROGRAMME_TEXT_FIELDS}
    if unknown:
        raise RefundRefused(
            RefundRefused.Code.INVALID, gettext("These fields cannot be changed: %(fields)s.") % {"fields": ", ".join(sorted(unknown))}
        )
    with transaction.atomic():
        locked = ShutdownProgramme.objects.select_for_update().get(pk=programme.pk)
        changed = {name: value for name, value in changes.items() if getattr(locked, name) != value}
        if not changed:
            return locked
        if locked.state in (ShutdownProgramme.State.CANCELLED, ShutdownProgramme.State.CLAIMS_CLOSED):
            raise RefundRefused(RefundRefused.Code.CLOSED, gettext("This programme is closed; it can no longer be changed."))
        if set(changed) & set(PROGRAMME_DATE_FIELDS):
            if locked.state != ShutdownProgramme.State.DRAFT:
                raise RefundRefused(
                    RefundRefused.Code.ANNOUNCED, gettext("The dates were announced to the holders and can no longer be changed.")
                )
            dates = {name: changed.get(name, getattr(locked, name)) for name in PROGRAMME_DATE_FIELDS}
            errors = programme_dates_check(**dates)
            if errors:
                raise RefundRefused(RefundRefused.Code.INVALID_DATES, " ".join(errors.values()))
        for name in ("title", "notice_ja"):
            if name in changed and not str(changed[name]).strip():
                raise RefundRefused(RefundRefused.Code.INVALID, gettext("A title and the public notice in Japanese are required."))
        before = {name: _jsonable(getattr(locked, name)) for name in changed}
        for name, value in changed.items():
            setattr(locked, name, value.strip() if isinstance(value, str) else value)
        locked.save(update_fields=list(changed))
        staff_action_record(
            acting_user=acting_user,
            action="shutdown.change",
            target=locked,
            before=before,
            after={name: _jsonable(getattr(locked, name)) for name in changed},
            ip=ip,
        )
    return locked
