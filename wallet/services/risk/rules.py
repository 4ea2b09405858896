"""Analysts' edits to risk rules. Each edit is a new version with its snapshot in
``RiskRuleChange``, so a decision naming "topup-burst v3" can be explained with
the thresholds v3 had, whatever the rule says today."""

from __future__ import annotations

import contextlib
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ...models import RiskOutcome, RiskRule, RiskRuleChange, User
from .engine import risk_rules_cache_clear
from .kinds import rule_events_clean, rule_params_clean

EDITABLE_FIELDS = ("name", "description", "kind", "events", "params", "action", "enabled")


def risk_rule_snapshot(rule: RiskRule) -> dict[str, Any]:
    return {
        "code": rule.code,
        "version": rule.version,
        "name": rule.name,
        "description": rule.description,
        "kind": rule.kind,
        "events": list(rule.events),
        "params": dict(rule.params),
        "action": rule.action,
        "enabled": rule.enabled,
    }


def _clean(rule: RiskRule) -> None:
    errors: dict[str, Any] = {}
    try:
        rule.params = rule_params_clean(rule.kind, rule.params)
    except ValidationError as exc:
        errors["params"] = exc.messages
    try:
        rule.events = rule_events_clean(rule.events)
    except ValidationError as exc:
        errors["events"] = exc.messages
    if rule.action not in RiskOutcome.values:
        errors["action"] = [_("Choose allow, review or block.")]
    if errors:
        raise ValidationError(errors)


def _normalised_snapshot(rule: RiskRule) -> dict[str, Any]:
    # Compared with the cleaned new values, so re-saving the same thresholds is not a new version.
    copy = RiskRule(**{f.attname: getattr(rule, f.attname) for f in RiskRule._meta.concrete_fields})
    with contextlib.suppress(ValidationError):
        _clean(copy)
    return risk_rule_snapshot(copy)


def _cache_clear_now_and_on_commit() -> None:
    # Now, so this transaction scores with what it wrote; on commit, so every process reloads.
    risk_rules_cache_clear()
    transaction.on_commit(risk_rules_cache_clear)


def risk_rule_create(
    *,
    code: str,
    name: str,
    kind: str,
    events: list[str],
    params: dict[str, Any],
    action: str,
    acting_user: User | None,
    enabled: bool = True,
    description: str = "",
) -> RiskRule:
    """A new rule at version 1, its snapshot kept. Raises ValidationError for bad thresholds."""
    rule = RiskRule(
        code=code,
        name=name,
        description=description,
        kind=kind,
        events=events,
        params=params,
        action=action,
        enabled=enabled,
        version=1,
        updated_at=timezone.now(),
        updated_by=acting_user,
    )
    _clean(rule)
    with transaction.atomic():
        rule.save()
        RiskRuleChange.objects.create(rule=rule, version=1, snapshot=risk_rule_snapshot(rule), changed_by=acting_user)
        _cache_clear_now_and_on_commit()
    return rule


def risk_rule_update(*, rule: RiskRule, changes: dict[str, Any], acting_user: User | None) -> RiskRule:
    """Apply ``changes`` (a subset of EDITABLE_FIELDS) as a new version.

    The row is locked, the thresholds validated against the rule's kind, the
    version bumped and the new snapshot written in one transaction; no change
    means no new version. ``rule`` is updated in place and returned.
    """
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"risk rule fields not editable: {sorted(unknown)}")
    with transaction.atomic():
        locked = RiskRule.objects.select_for_update().get(pk=rule.pk)
        if not RiskRuleChange.objects.filter(rule=locked, version=locked.version).exists():
            # A row written before snapshots were kept: keep the version being replaced.
            RiskRuleChange.objects.create(
                rule=locked,
                version=locked.version,
                snapshot=risk_rule_snapshot(locked),
                changed_by=locked.updated_by,
                changed_at=locked.updated_at,
            )
        before = _normalised_snapshot(locked)
        for name, value in changes.items():
            setattr(locked, name, value)
        _clean(locked)
        if risk_rule_snapshot(locked) != before:
            locked.version += 1
            locked.updated_at = timezone.now()
            locked.updated_by = acting_user
            locked.save()
            RiskRuleChange.objects.create(rule=locked, version=locked.version, snapshot=risk_rule_snapshot(locked), changed_by=acting_user)
            _cache_clear_now_and_on_commit()
    for name in (*EDITABLE_FIELDS, "version", "updated_at", "updated_by"):
        setattr(rule, name, getattr(locked, name))
    return rule
