"""Synchronous risk scoring of logins, card registrations, top-ups and payments.

- ``kinds``: what each kind of rule checks and which thresholds it takes.
- ``counters``: sliding windows in Redis (in-process without ``REDIS_URL``).
- ``engine``: ``risk_assess`` scores and stores a ``RiskDecision``;
  ``risk_record`` counts it once the money has moved.
- ``rules``: analysts' edits, each a new version with a snapshot.
"""

from .engine import risk_assess, risk_record, risk_rules_cache_clear
from .kinds import RULE_KINDS, rule_events_clean, rule_params_clean
from .rules import EDITABLE_FIELDS, risk_rule_create, risk_rule_snapshot, risk_rule_update

__all__ = [
    "EDITABLE_FIELDS",
    "RULE_KINDS",
    "risk_assess",
    "risk_record",
    "risk_rule_create",
    "risk_rule_snapshot",
    "risk_rule_update",
    "risk_rules_cache_clear",
    "rule_events_clean",
    "rule_params_clean",
]
