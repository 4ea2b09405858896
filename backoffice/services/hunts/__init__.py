"""Look-back hunts (issue 4 §6): a risk rule run over a period of history as a
background job; its hits are the affected customers with counts and yen, its
totals the damage estimate; cases are opened from the hits in bulk.

- ``rules``: what each rule kind looks for, as set-based SQL: one statement
  reads the candidates, one statement per chunk of them checks the rest.
- ``runner``: the job: candidates, then one transaction per chunk (a step of
  the progress bar, a "slice" on the pages).
- here: the staff acts (start, cancel, open cases, export), each audited.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from wallet.errors import Refused
from wallet.models import Transfer, User

from ...models import Case, Hunt, HuntHit
from ..audit import staff_action_record
from ..cases import CaseRefused, case_open_or_join
from .rules import HUNT_RULES, HuntRule, hunt_default_params, hunt_params_clean, risk_rules_huntable
from .runner import PLAN_KEY, hunt_run

__all__ = [
    "HUNT_CASES_BATCH",
    "HUNT_RULES",
    "MAX_PERIOD_DAYS",
    "HuntCasesOpened",
    "HuntRefused",
    "HuntRule",
    "hunt_cancel",
    "hunt_cases_open",
    "hunt_default_params",
    "hunt_params_clean",
    "hunt_params_public",
    "hunt_run",
    "hunt_start",
    "risk_rules_huntable",
]

RUN_PERMISSION = "backoffice.add_hunt"
OPEN_CASES_PERMISSION = "backoffice.add_case"
SEE_HITS_PERMISSION = "backoffice.view_hunthit"
# A year and a day: the look-back a regulator or a card scheme asks about. Longer
# is a different question (and a different index); split it.
MAX_PERIOD_DAYS = 366
# Hits per transaction when opening cases: each is a case lock and a few inserts.
HUNT_CASES_BATCH = 100


class HuntRefused(Refused):
    """A hunt act that is not allowed or not valid; the message says why to a person."""

    class Code(StrEnum):
        BAD_PARAMS = "bad_params"
        EMPTY_PERIOD = "empty_period"
        FOREIGN_HITS = "foreign_hits"
        FUTURE_PERIOD = "future_period"
        NAIVE_PERIOD = "naive_period"
        NOT_ALLOWED = "not_allowed"
        NOT_RUNNING = "not_running"
        NOTHING_SELECTED = "nothing_selected"
        PERIOD_TOO_LONG = "period_too_long"
        STILL_RUNNING = "still_running"
        UNKNOWN_RULE = "unknown_rule"


def _refuse_without(user: User, permission: str) -> None:
    if not user.has_perm(permission):
        raise HuntRefused(HuntRefused.Code.NOT_ALLOWED, gettext("You are not allowed to do this."))


def _period_check(period_start: datetime, period_end: datetime) -> None:
    if timezone.is_naive(period_start) or timezone.is_naive(period_end):
        raise HuntRefused(HuntRefused.Code.NAIVE_PERIOD, gettext("The period needs a time zone."))
    if period_end <= period_start:
        raise HuntRefused(HuntRefused.Code.EMPTY_PERIOD, gettext("The period must end after it starts."))
    if period_end > timezone.now():
        raise HuntRefused(HuntRefused.Code.FUTURE_PERIOD, gettext("The period cannot end in the future."))
    if period_end - period_start > timedelta(days=MAX_PERIOD_DAYS):
        raise HuntRefused(
            HuntRefused.Code.PERIOD_TOO_LONG,
            gettext("A hunt covers at most %(days)s days; split the period into several hunts.") % {"days": MAX_PERIOD_DAYS},
        )


def hunt_start(
    *,
    rule_kind: str,
    params: Mapping[str, Any] | None,
    period_start: datetime,
    period_end: datetime,
    acting_user: User,
    ip: str | None = None,
) -> Hunt:
    """Queue a hunt of ``rule_kind`` over ``[period_start, period_end)`` and start its job on commit.

    ``params`` override the thresholds of the analysts' risk rule of that kind
    (``hunt_default_params``); the merged set is validated as the rule's own.
    """
    _refuse_without(acting_user, RUN_PERMISSION)
    if rule_kind not in HUNT_RULES:
        raise HuntRefused(
            HuntRefused.Code.UNKNOWN_RULE, gettext("There is no look-back hunt for the rule “%(kind)s”.") % {"kind": rule_kind}
        )
    if params is not None and not isinstance(params, Mapping):
        raise HuntRefused(HuntRefused.Code.BAD_PARAMS, gettext("Parameters must be a JSON object."))
    try:
        cleaned = hunt_params_clean(rule_kind, {**hunt_default_params(rule_kind), **(params or {})})
    except ValidationError as exc:
        raise HuntRefused(HuntRefused.Code.BAD_PARAMS, " ".join(exc.messages)) from exc
    _period_check(period_start, period_end)
    from config.queues import BULK_QUEUE

    from ...tasks.hunts import hunt_run_task

    with transaction.atomic():
        hunt = Hunt.objects.create(
            rule_kind=rule_kind, params=cleaned, period_start=period_start, period_end=period_end, created_by=acting_user
        )
        staff_action_record(
            acting_user=acting_user,
            action="hunt.start",
            target=hunt,
            after={"rule": rule_kind, "params": cleaned, "from": period_start.isoformat(), "until": period_end.isoformat()},
            ip=ip,
        )
        hunt_id = hunt.pk
        transaction.on_commit(lambda: hunt_run_task.apply_async(args=(hunt_id,), queue=BULK_QUEUE))
    return hunt


def hunt_cancel(*, hunt: Hunt, acting_user: User, ip: str | None = None) -> Hunt:
    """Stop a queued or running hunt after the chunk in flight; the hits found so far stay."""
    _refuse_without(acting_user, RUN_PERMISSION)
    with transaction.atomic():
        locked = Hunt.objects.select_for_update().get(pk=hunt.pk)
        if locked.state not in (Hunt.State.QUEUED, Hunt.State.RUNNING):
            raise HuntRefused(HuntRefused.Code.NOT_RUNNING, gettext("Only a queued or running hunt can be cancelled."))
        before = locked.state
        locked.state = Hunt.State.CANCELLED
        locked.finished_at = timezone.now()
        locked.save(update_fields=["state", "finished_at"])
        staff_action_record(
            acting_user=acting_user,
            action="hunt.cancel",
            target=locked,
            before={"state": before, "steps_done": locked.steps_done},
            after={"state": locked.state},
            ip=ip,
        )
    return locked


@dataclass(frozen=True)
class HuntCasesOpened:
    opened: int  # new cases
    joined: int  # customers who already had an open case
    skipped: int  # hits that already had a case, or whose customer cannot have one


def _summary(hunt: Hunt, hit: HuntHit) -> str:
    return gettext("Look-back hunt #%(hunt)s (%(rule)s): %(count)s transactions, ¥%(yen)s") % {
        "hunt": hunt.pk,
        "rule": hunt.rule_kind,
        "count": f"{hit.transactions_count:,}",
        "yen": f"{hit.amount_yen:,}",
    }


def hunt_cases_open(*, hunt: Hunt, hit_ids: Sequence[int] | None, acting_user: User, ip: str | None = None) -> HuntCasesOpened:
    """Open (or join) one case per customer for the hits ``hit_ids`` of ``hunt`` (None: all its hits),
    with the hit's transactions, and link each hit to its case.

    Idempotent: hits that already have a case are skipped, so a double click or a
    second run changes nothing. Batches of ``HUNT_CASES_BATCH`` hits commit one by
    one, each with its audit row, so a very large hunt never holds one long transaction.
    """
    _refuse_without(acting_user, OPEN_CASES_PERMISSION)
    _refuse_without(acting_user, SEE_HITS_PERMISSION)
    state = Hunt.objects.filter(pk=hunt.pk).values_list("state", flat=True).first()
    if state in (Hunt.State.QUEUED, Hunt.State.RUNNING):
        raise HuntRefused(HuntRefused.Code.STILL_RUNNING, gettext("Wait until the hunt has finished before opening cases."))
    hits = HuntHit.objects.filter(hunt=hunt)
    if hit_ids is not None:
        wanted = set(hit_ids)
        if not wanted:
            raise HuntRefused(HuntRefused.Code.NOTHING_SELECTED, gettext("Choose at least one hit."))
        if hits.filter(pk__in=wanted).count() != len(wanted):
            raise HuntRefused(HuntRefused.Code.FOREIGN_HITS, gettext("Some of the chosen hits are not in this hunt."))
        hits = hits.filter(pk__in=wanted)
    ids = list(hits.order_by("id").values_list("id", flat=True))
    opened = joined = skipped = 0
    for start in range(0, len(ids), HUNT_CASES_BATCH):
        batch = ids[start : start + HUNT_CASES_BATCH]
        with transaction.atomic():
            # Locked in id order, and re-checked after the lock: a second click waits here and then skips.
            todo = list(
                HuntHit.objects.select_for_update().filter(pk__in=batch, case__isnull=True).select_related("customer").order_by("id")
            )
            skipped += len(batch) - len(todo)
            done: list[HuntHit] = []
            batch_opened = batch_joined = 0
            for hit in todo:
                transfers = Transfer.objects.filter(pk__in=hit.transfer_ids).order_by("created_at", "id")
                try:
                    case, was_opened = case_open_or_join(
                        customer=hit.customer,
                        source=Case.Source.HUNT,
                        acting_user=acting_user,
                        summary=_summary(hunt, hit),
                        hunt=hunt,
                        transfers=transfers,
                        ip=ip,
                    )
                except CaseRefused:
                    skipped += 1
                    continue
                hit.case = case
                hit.reviewed_at = timezone.now()
                done.append(hit)
                batch_opened += was_opened
                batch_joined += not was_opened
            HuntHit.objects.bulk_update(done, ["case", "reviewed_at"])
            if done:
                staff_action_record(
                    acting_user=acting_user,
                    action="hunt.cases_open",
                    target=hunt,
                    after={"hits": [hit.pk for hit in done], "opened": batch_opened, "joined": batch_joined},
                    ip=ip,
                )
            opened += batch_opened
            joined += batch_joined
    return HuntCasesOpened(opened=opened, joined=joined, skipped=skipped)


def hunt_params_public(params: Mapping[str, Any]) -> dict[str, Any]:
    """The thresholds as staff set them, without the job's own bookkeeping."""
    return {name: value for name, value in params.items() if name != PLAN_KEY}
