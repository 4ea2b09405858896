"""Scoring: load the enabled rules (briefly cached), read every counter window
they need in one round trip, run each rule, and store the decision with the
version of every rule that fired. The worst action wins.

A rule whose action is ``allow`` fires without effect: analysts try a new
threshold in the decisions' reasons before it changes anything.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
from django.core.exceptions import ValidationError
from django.utils import timezone

from ...models import RiskDecision, RiskOutcome, RiskRule, User
from ...request_meta import RequestMeta
from .cooling_off import cooling_off_reasons
from .counters import KEY_PREFIX, Point, device_users_key, ip_users_key, user_series_key, window_store
from .facts import Facts, Subject
from .kinds import OUTCOME_RANK, RULE_KINDS, CompiledRule, rule_events_clean, rule_params_clean, worst_outcome

logger = logging.getLogger("anzenpay.risk")

# Rule edits reach every process at its next scoring call: the generation value
# is read in the same round trip as the counter windows. The TTL only bounds how
# long a process trusts its copy if that value is lost.
RULES_TTL_SECONDS = 30.0
GENERATION_KEY = f"{KEY_PREFIX}:rules:generation"


@dataclass(frozen=True)
class _LoadedRules:
    generation: str | None
    loaded_at: float
    by_event: dict[str, list[CompiledRule]]

    def fresh(self) -> bool:
        return time.monotonic() - self.loaded_at < RULES_TTL_SECONDS


_loaded: _LoadedRules | None = None


def _compile(rule: RiskRule) -> CompiledRule | None:
    kind = RULE_KINDS.get(rule.kind)
    try:
        if kind is None:
            raise ValidationError(f"unknown kind {rule.kind!r}")
        params = rule_params_clean(rule.kind, rule.params)
        events = rule_events_clean(rule.events)
    except ValidationError as exc:
        # Only a row written around risk_rule_update can get here; one bad row must not stop all scoring.
        logger.error("risk rule %s v%s skipped: %s", rule.code, rule.version, exc)
        return None
    return CompiledRule(code=rule.code, version=rule.version, kind=kind, params=params, action=rule.action, events=frozenset(events))


def _rules_load(generation: str | None) -> _LoadedRules:
    global _loaded
    by_event: dict[str, list[CompiledRule]] = defaultdict(list)
    for row in RiskRule.objects.filter(enabled=True).order_by("code"):
        compiled = _compile(row)
        if compiled is not None:
            for rule_event in compiled.events:
                by_event[rule_event].append(compiled)
    _loaded = _LoadedRules(generation=generation, loaded_at=time.monotonic(), by_event=dict(by_event))
    return _loaded


def risk_rules_cache_clear() -> None:
    """Every process reloads the rules at its next scoring call."""
    global _loaded
    _loaded = None
    try:
        window_store().value_set(GENERATION_KEY, uuid.uuid4().hex)
    except redis.RedisError:
        logger.exception("risk rule generation not published; other processes reload within %ss", RULES_TTL_SECONDS)


def _reason(rule: CompiledRule, action: str, detail: str) -> dict[str, Any]:
    return {"rule": rule.code, "version": rule.version, "action": action, "detail": detail}


def _window_reads(subject: Subject, rules: Sequence[CompiledRule]) -> list[tuple[str, float]]:
    reads: dict[str, float] = {}
    for rule in rules:
        for key, since in rule.kind.windows(rule, subject):
            reads[key] = min(since, reads.get(key, since))
    return list(reads.items())


def _rules_and_windows(subject: Subject) -> tuple[list[CompiledRule], dict[str, list[Point]] | None]:
    """The applicable rules and their counter windows (None: counters unavailable).

    Normally one round trip: the windows the cached rules need, plus the rule
    generation; only when the generation moved are the rules reloaded and read again.
    """
    store = window_store()
    loaded = _loaded
    for _attempt in range(2):
        if loaded is None or not loaded.fresh():
            loaded = _rules_load(loaded.generation if loaded else None)
        rules = [rule for rule in loaded.by_event.get(subject.event, []) if rule.applies_to(subject)]
        reads = _window_reads(subject, rules)
        try:
            generation, windows = store.read(reads, value_key=GENERATION_KEY)
            if generation is None:
                store.value_set(GENERATION_KEY, uuid.uuid4().hex, only_if_absent=True)
        except redis.RedisError:
            logger.exception("risk counters unavailable; counter rules answer review")
            return rules, None
        if generation is not None and generation == loaded.generation:
            return rules, {key: points for (key, _since), points in zip(reads, windows, strict=True)}
        loaded = _rules_load(generation)
    return rules, {key: points for (key, _since), points in zip(reads, windows, strict=True)}


def _evaluate(subject: Subject) -> list[dict[str, Any]]:
    rules, windows = _rules_and_windows(subject)
    facts = Facts(subject=subject, windows=windows or {})
    facts.load([read for rule in rules for read in rule.kind.db_reads(rule, subject)])
    reasons = []
    for rule in rules:
        if windows is None and rule.kind.windows(rule, subject):
            # Fail closed, but not shut: nobody is blocked because Redis is down.
            action = RiskOutcome.REVIEW if OUTCOME_RANK[RiskOutcome(rule.action)] > 0 else RiskOutcome.ALLOW
            reasons.append(_reason(rule, action, "counters unavailable"))
            continue
        detail = rule.kind.check(rule, subject, facts)
        if detail is not None:
            reasons.append(_reason(rule, rule.action, detail))
    return reasons


def risk_assess(
    *,
    event: str,
    user: User | None,
    amount_yen: int = 0,
    channel: str = "",
    meta: RequestMeta | None = None,
    card_fingerprint: str = "",
    device_key: str = "",
) -> RiskDecision:
    """Score one login, card registration, top-up or payment and store the decision.

    The row is created in the caller's transaction, so a refused top-up and its
    decision commit or roll back together. Nothing is counted here: the caller
    calls ``risk_record`` on commit once the money (or the login) has happened.
    """
    now = timezone.now()
    subject = Subject(
        event=event,
        user=user,
        amount_yen=amount_yen,
        channel=channel,
        ip=meta.ip if meta else None,
        card_fingerprint=card_fingerprint,
        device_key=device_key,
        now=now,
    )
    reasons = _evaluate(subject) + cooling_off_reasons(subject)
    return RiskDecision.objects.create(
        event=event,
        outcome=worst_outcome([r["action"] for r in reasons]),
        reasons=reasons,
        user=user,
        amount_yen=amount_yen,
        channel=channel,
        device_key=device_key,
        ip_address=subject.ip,
        card_fingerprint=card_fingerprint,
        created_at=now,
    )


def risk_points(decision: RiskDecision) -> list[tuple[str, Point]]:
    """The counter points a decision adds: its amount in the customer's series, the customer on its device and address."""
    if decision.user_id is None:
        return []
    at = decision.created_at.timestamp()
    points = [(user_series_key(decision.user_id, decision.event), Point(str(decision.pk), decision.amount_yen, decision.channel, at))]
    who = Point(str(decision.user_id), 0, "", at)
    if decision.device_key:
        points.append((device_users_key(decision.device_key), who))
    if decision.ip_address:
        points.append((ip_users_key(decision.ip_address), who))
    return points


def risk_record(*, decision: RiskDecision) -> None:
    """Count the event in the velocity windows once the money has moved.

    Called on commit, after the customer's money (or login) is done: a Redis
    failure is logged and swallowed rather than turned into an error for
    something that has already happened. Recording a decision twice counts it once.
    """
    try:
        window_store().add(risk_points(decision), now=timezone.now().timestamp())
    except redis.RedisError:
        logger.exception("risk counters not updated for decision %s", decision.pk)
