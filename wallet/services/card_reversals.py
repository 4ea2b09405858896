"""Issuers' chargebacks of our card top-ups, recorded from what the gateway reports.

The customer who disputed a charge has the money back from their card issuer,
so the back-office must never compensate that top-up again; it reads the
``CardReversal`` rows written here. Run on a beat schedule and again just
before every compensation request.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from ..field_length import fit
from ..models import CardReversal, TopUp

logger = logging.getLogger(__name__)

# With nothing recorded yet, ask this far back: card schemes give cardholders about 120 days to dispute.
FIRST_LOOKBACK = timedelta(days=180)
# Asked again each time, so a reversal the gateway reports late, with an earlier time, is not skipped.
OVERLAP = timedelta(days=2)
# The development gateway (and any gateway we pass it to) is charged with "topup:<TopUp.public_id>".
TOPUP_KEY_PREFIX = "topup:"


def _since() -> datetime:
    latest = CardReversal.objects.order_by("-reversed_at").values_list("reversed_at", flat=True).first()
    return (latest or timezone.now() - FIRST_LOOKBACK) - OVERLAP


def card_reversals_sync() -> int:
    """Record the reversals the gateway reports; returns how many are new.

    Safe to run twice or in parallel: ``charge_id`` is unique, known charges are
    skipped and a concurrent insert of the same one is ignored. Raises the
    gateway's ``GatewayError`` (or ``GatewayTimeout``) when it cannot be asked.
    """
    from ..adapters.cards import get_card_gateway

    reported = get_card_gateway().reversals_since(since=_since())
    if not reported:
        return 0
    known = set(CardReversal.objects.filter(charge_id__in=[r.charge_id for r in reported]).values_list("charge_id", flat=True))
    fresh = [r for r in reported if r.charge_id not in known]
    public_ids = [r.idempotency_key.removeprefix(TOPUP_KEY_PREFIX) for r in fresh if r.idempotency_key.startswith(TOPUP_KEY_PREFIX)]
    # Looked up by public_id (unique, indexed) from the charge's idempotency key, not by the unindexed charge id.
    topups = {str(t.public_id): t for t in TopUp.objects.filter(public_id__in=public_ids)}
    rows = []
    for reversal in fresh:
        topup = topups.get(reversal.idempotency_key.removeprefix(TOPUP_KEY_PREFIX))
        if topup is None or topup.gateway_charge_id != reversal.charge_id:
            logger.warning("card reversal of charge %s matches none of our top-ups; not recorded", reversal.charge_id)
            continue
        rows.append(
            CardReversal(
                topup=topup,
                charge_id=reversal.charge_id,
                amount_yen=reversal.amount_yen,
                reason=fit(CardReversal, "reason", reversal.reason),
                reversed_at=reversal.reversed_at,
            )
        )
    with transaction.atomic():
        before = CardReversal.objects.filter(charge_id__in=[r.charge_id for r in rows]).count()
        CardReversal.objects.bulk_create(rows, ignore_conflicts=True)
        after = CardReversal.objects.filter(charge_id__in=[r.charge_id for r in rows]).count()
    return after - before
