"""Reads of the review queue: risk decisions waiting for an analyst, customers'
"I don't recognise this" reports, and hunt hits nobody has looked at."""

from __future__ import annotations

from django.db.models import QuerySet

from wallet.models import RiskDecision, RiskOutcome, TransactionReport

from ..models import HuntHit


def review_decisions_waiting() -> QuerySet[RiskDecision]:
    return RiskDecision.objects.filter(outcome=RiskOutcome.REVIEW, reviewed_at__isnull=True)


def review_reports_waiting() -> QuerySet[TransactionReport]:
    return TransactionReport.objects.exclude(status=TransactionReport.Status.CLOSED)


def review_hunt_hits_waiting() -> QuerySet[HuntHit]:
    return HuntHit.objects.filter(case__isnull=True, reviewed_at__isnull=True)


def review_queue_counts() -> dict[str, int]:
    """How many items wait in each part of the queue, and in all."""
    counts = {
        "decisions": review_decisions_waiting().count(),
        "reports": review_reports_waiting().count(),
        "hunt_hits": review_hunt_hits_waiting().count(),
    }
    counts["total"] = sum(counts.values())
    return counts
