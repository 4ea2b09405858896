"""Who vouches for new payee details (SECURITY.md B09, S04).

Payee details decide where the money goes, so the services that save them do not trust a page
to have asked for a second factor: the login route's caller passes the time of the customer's
last step-up, and the service refuses unless it is within ``STEP_UP_MAX_AGE``. The no-login
route has no second factor; there a complete, unused contact proof of the holder (the link to the
email and the code to the phone on record, see ``refunds.services.contact``) stands in for it,
and such claims are reviewed by staff. Staff-filed late claims are vouched for by their approval.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..models import ContactProof
from .errors import RefundRefused

STEP_UP_REFUSED = RefundRefused.Code.STEP_UP_REQUIRED


def step_up_fresh(step_up_at: datetime | None, *, now: datetime | None = None) -> bool:
    """Whether a step-up at ``step_up_at`` is recent enough to vouch for payee details now."""
    if step_up_at is None:
        return False
    now = now or timezone.now()
    return step_up_at <= now and now - step_up_at <= settings.STEP_UP_MAX_AGE


def step_up_require(step_up_at: datetime | None) -> None:
    """Refuse, changing nothing, unless the caller's step-up is fresh."""
    if not step_up_fresh(step_up_at):
        raise RefundRefused(
            STEP_UP_REFUSED,
            _("For your security, confirm it is you with a code from your authenticator app before you give where the money goes."),
        )


def contact_proof_live(customer_id: int) -> bool:
    """Whether the holder has a complete, unused, unexpired contact proof (the no-login route's stand-in for a step-up)."""
    return ContactProof.objects.filter(
        user_id=customer_id,
        email_proved_at__isnull=False,
        phone_proved_at__isnull=False,
        used_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).exists()
