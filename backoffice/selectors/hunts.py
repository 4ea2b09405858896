"""Reads for the look-back hunt pages: the rules one can start from, the hunts,
a hunt's hits filtered and sorted, its progress, and the CSV rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext, ngettext

from ..models import Hunt, HuntHit
from ..services.hunts.rules import HUNT_RULES, hunt_default_params, risk_rules_huntable
from .general import csv_safe

HUNT_HITS_CSV_HEADER = [
    "hit",
    "customer_id",
    "customer_email",
    "customer_name",
    "transactions",
    "amount_yen",
    "first_at",
    "last_at",
    "case",
    "transfer_ids",
]
# What the hits table can be sorted by: the URL value and the ordering it means.
HIT_SORTS: dict[str, tuple[str, ...]] = {
    "-amount": ("-amount_yen", "id"),
    "amount": ("amount_yen", "id"),
    "-transactions": ("-transactions_count", "-amount_yen", "id"),
    "first": ("first_at", "id"),
    "-last": ("-last_at", "id"),
    "customer": ("customer__email", "id"),
}
HIT_CASE_FILTERS = ("any", "without", "with")


@dataclass(frozen=True)
class HuntPreset:
    """A starting point for the start form: an analysts' risk rule (or a bare kind) and its thresholds."""

    value: str
    label: str
    kind: str
    params: dict[str, Any]

    @property
    def params_text(self) -> str:
        return hunt_params_text(self.params)


def hunt_params_text(params: dict[str, Any]) -> str:
    """Thresholds as one line an analyst can read and paste: ``hours=24, events=["payment"]``."""
    return ", ".join(
        f"{name}={json.dumps(value, ensure_ascii=False)}" for name, value in sorted(params.items()) if not name.startswith("_")
    )


def hunt_presets() -> list[HuntPreset]:
    presets = []
    kinds_seen = set()
    for rule, events in risk_rules_huntable():
        kinds_seen.add(rule.kind)
        state = "" if rule.enabled else gettext(" (disabled)")
        presets.append(
            HuntPreset(
                value=rule.code,
                label=f"{rule.name} — {rule.code} v{rule.version}{state}",
                kind=rule.kind,
                params={**rule.params, "events": events},
            )
        )
    for kind, hunt in HUNT_RULES.items():
        if kind not in kinds_seen:
            presets.append(HuntPreset(value=f"kind:{kind}", label=str(hunt.label), kind=kind, params=hunt_default_params(kind)))
    # The 7pay rule first: it is the hunt an incident starts with.
    return sorted(presets, key=lambda preset: preset.kind != "topup_then_spend")


def hunts_recent(*, limit: int = 100) -> QuerySet[Hunt]:
    return Hunt.objects.select_related("created_by").order_by("-created_at", "-id")[:limit]


def hunt_hits_filtered(
    hunt: Hunt, *, q: str = "", min_yen: int | None = None, case: str = "any", sort: str = "-amount"
) -> QuerySet[HuntHit]:
    hits = HuntHit.objects.filter(hunt=hunt).select_related("customer", "case")
    q = q.strip()
    if q:
        match = Q(customer__email__icontains=q) | Q(customer__full_name__icontains=q) | Q(customer__name_kana__icontains=q)
        if q.isdigit():
            match |= Q(customer_id=int(q))
        hits = hits.filter(match)
    if min_yen is not None:
        hits = hits.filter(amount_yen__gte=min_yen)
    if case == "without":
        hits = hits.filter(case__isnull=True)
    elif case == "with":
        hits = hits.filter(case__isnull=False)
    return hits.order_by(*HIT_SORTS.get(sort, HIT_SORTS["-amount"]))


def hunt_estimate_text(customers: int, yen: int) -> str:
    """The damage estimate as staff say it: "12 customers, ¥345,000"."""
    return ngettext("%(customers)s customer, ¥%(yen)s", "%(customers)s customers, ¥%(yen)s", customers) % {
        "customers": f"{customers:,}",
        "yen": f"{yen:,}",
    }


def hunt_progress(hunt: Hunt) -> dict[str, Any]:
    """What the progress bar shows, as the JSON endpoint returns it."""
    finished = hunt.state not in (Hunt.State.QUEUED, Hunt.State.RUNNING)
    return {
        "state": hunt.state,
        "state_label": str(hunt.get_state_display()),
        "steps_done": hunt.steps_done,
        "steps_total": hunt.steps_total,
        "percent": hunt.percent_done,
        "slices": gettext("%(done)s of %(total)s slices") % {"done": f"{hunt.steps_done:,}", "total": f"{hunt.steps_total:,}"},
        "customers": hunt.customers_count,
        "transactions": hunt.transactions_count,
        "damage_yen": hunt.damage_yen,
        "estimate": hunt_estimate_text(hunt.customers_count, hunt.damage_yen),
        "error": hunt.error,
        "finished": finished,
    }


def hunt_hits_csv_rows(hits: QuerySet[HuntHit]) -> Iterator[list[str]]:
    """Header, then one row per hit in the given order, read in chunks so a large export streams."""
    yield HUNT_HITS_CSV_HEADER
    for hit in hits.iterator(chunk_size=2000):
        yield [
            csv_safe(value)
            for value in (
                hit.pk,
                hit.customer_id,
                hit.customer.email,
                hit.customer.full_name,
                hit.transactions_count,
                hit.amount_yen,
                hit.first_at.isoformat(),
                hit.last_at.isoformat(),
                hit.case_id or "",
                " ".join(str(transfer_id) for transfer_id in hit.transfer_ids),
            )
        ]
