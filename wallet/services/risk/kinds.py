"""The kinds of risk rule. A ``RiskRule`` row names a kind and holds its thresholds
(``params``), so analysts tune a rule without a deploy; a kind is the code that
reads the facts and says whether the rule fires.

Every kind states its parameters here, so the admin form and the data
migration are checked against the same description the engine runs with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ...models import AuthEvent, RiskEvent, RiskOutcome
from ...money_format import yen_text
from .counters import RETENTION_SECONDS, device_users_key, ip_users_key, user_series_key
from .facts import AUTH_EVENTS, CARD_WALLETS, CARDS, DEVICES, DbRead, Facts, Subject

MAX_HOURS = RETENTION_SECONDS // 3600
OUTCOME_RANK = {RiskOutcome.ALLOW: 0, RiskOutcome.REVIEW: 1, RiskOutcome.BLOCK: 2}


@dataclass(frozen=True)
class Param:
    type: str  # "int", "bool", "choice", "list" (of names) or "choice_list"
    help: Any  # lazy translation
    default: Any = None  # None: required
    minimum: int = 0
    maximum: int | None = None
    choices: tuple[str, ...] = ()


# Every kind accepts these as well.
COMMON_PARAMS = {
    "channels": Param(
        "list",
        _("Only score (and, for velocity rules, only count) these channels, e.g. charge.credit_card. Empty: every channel."),
        default=[],
    ),
}


@dataclass(frozen=True)
class CompiledRule:
    code: str
    version: int
    kind: RuleKind
    params: Mapping[str, Any]
    action: str
    events: frozenset[str]

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self.params.get("channels") or ())

    def applies_to(self, subject: Subject) -> bool:
        if subject.event not in self.events:
            return False
        if self.channels and subject.channel not in self.channels:
            return False
        # Every kind reads per-customer facts; a decision without a customer only records the event.
        return subject.user is not None


def _span(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


class RuleKind:
    code = ""
    label: Any = ""
    params: Mapping[str, Param] = {}

    def windows(self, rule: CompiledRule, subject: Subject) -> list[tuple[str, float]]:
        """Counter series (key, since) this rule reads; the engine reads them all at once."""
        return []

    def db_reads(self, rule: CompiledRule, subject: Subject) -> list[DbRead]:
        """Database facts this rule reads; the engine loads them all in one statement."""
        return []

    def check(self, rule: CompiledRule, subject: Subject, facts: Facts) -> str | None:
        """A short explanation when the rule fires, else None."""
        raise NotImplementedError


class _CustomerWindow(RuleKind):
    """Rules over one sliding window of this customer's own events of the same kind."""

    def windows(self, rule: CompiledRule, subject: Subject) -> list[tuple[str, float]]:
        assert subject.user_id is not None
        return [(user_series_key(subject.user_id, subject.event), subject.since(rule.params["window_seconds"]))]


class VelocityCount(_CustomerWindow):
    code = "velocity_count"
    label = _("Too many events in a window (per customer)")
    params = {
        "window_seconds": Param("int", _("Length of the sliding window in seconds."), minimum=1, maximum=RETENTION_SECONDS),
        "max_count": Param("int", _("Most earlier events of this kind allowed in the window before this one fires the rule.")),
    }

    def check(self, rule: CompiledRule, subject: Subject, facts: Facts) -> str | None:
        ((key, since),) = self.windows(rule, subject)
        earlier = len(facts.points(key, since, rule.channels))
        if earlier < rule.params["max_count"]:
            return None
        window, most = _span(rule.params["window_seconds"]), rule.params["max_count"]
        return f"{earlier} earlier {subject.event} events within {window} (at most {most})"


class VelocityAmount(_CustomerWindow):
    code = "velocity_amount"
    label = _("Too much money in a window (per customer)")
    params = {
        "window_seconds": Param("int", _("Length of the sliding window in seconds."), minimum=1, maximum=RETENTION_SECONDS),
        "max_amount_yen": Param("int", _("Most yen (earlier events plus this one) allowed in the window."), minimum=1),
    }

    def check(self, rule: CompiledRule, subject: Subject, facts: Facts) -> str | None:
        ((key, since),) = self.windows(rule, subject)
        total = sum(p.amount_yen for p in facts.points(key, since, rule.channels)) + subject.amount_yen
        if total <= rule.params["max_amount_yen"]:
            return None
        window, cap = _span(rule.params["window_seconds"]), yen_text(rule.params["max_amount_yen"])
        return f"{yen_text(total)} of {subject.event} within {window} including this one (at most {cap})"


class NewDeviceMoney(RuleKind):
    code = "new_device_money"
    label = _("Money moves soon after a login from a new device")
    params = {
        "hours": Param("int", _("Window after the new device's first login, in hours."), minimum=1, maximum=MAX_HOURS),
        "ignore_first_device": Param("bool", _("Do not count an account's very first device (a new customer's own phone)."), default=True),
    }

    def db_reads(self, rule: CompiledRule, subject: Subject) -> list[DbRead]:
        return [DbRead(DEVICES)]

    def check(self, rule: CompiledRule, subject: Subject, facts: Facts) -> str | None:
        since = subject.now - timedelta(hours=rule.params["hours"])
        devices = facts.devices()
        new = [first for first, revoked in devices if not revoked and first > since]
        if not new:
            return None
        earliest_new = min(new)
        if rule.params["ignore_first_device"] and not any(first < earliest_new for first, _revoked in devices):
            return None
        hours_ago = (subject.now - max(new)).total_seconds() / 3600
        return f"{subject.event} {hours_ago:.1f} h after a login from a new device (window {rule.params['hours']} h)"


CREDENTIAL_EVENTS = (
    AuthEvent.Kind.PASSWORD_CHANGED,
    AuthEvent.Kind.PASSWORD_RESET_COMPLETED,
    AuthEvent.Kind.EMAIL_CHANGED,
)


class CredentialChangeTopup(RuleKind):
    """Reads the authentication log, not ``credentials_changed_at``: that also moves
    when a new customer enrols their first authenticator, which is not a takeover sign."""

    code = "credential_change_topup"
    label = _("Top-up soon after a password or email change")
    params = {
        "hours": Param("int", _("Window after the change, in hours."), minimum=1, maximum=MAX_HOURS),
        "auth_events": Param(
            "choice_list",
            _("Authentication events that count as a credential change."),
            default=[str(kind) for kind in CREDENTIAL_EVENTS],
            choices=tuple(str(kind) for kind in AuthEvent.Kind),
        ),
    }

    def db_reads(self, rule: CompiledRule, subject: Subject) -> list[DbRead]:
        since = subject.now - timedelta(hours=rule.params["hours"])
        return [DbRead(AUTH_EVENTS, auth_kinds=frozenset(rule.params["auth_events"]), since=since)]

    def check(self, rule: CompiledRule, subject: Subject, facts: Facts) -> str | None:
        since = subject.now - timedelta(hours=rule.params["hours"])
        found = facts.auth_events(frozenset(rule.params["auth_events"]), since)
        if not found:
            return None
        kind, when = found[0]
        hours_ago = (subject.now - when).total_seconds() / 3600
        return f"{subject.event} {hours_ago:.1f} h after {kind} (window {rule.params['hours']} h)"


class TopupThenSpend(RuleKind):
    """The after-the-fact query 7pay ran, made real-time: a store payment of Z or
    more within Y hours after top-ups totalling X or more."""

    code = "topup_then_spend"
    label = _("Store spending soon after top-ups (the 7pay pattern)")
    params = {
        "hours": Param("int", _("Window before the payment in which top-ups count, in hours."), minimum=1, maximum=MAX_HOURS),
        "topup_total_min_yen": Param("int", _("The rule fires when the top-ups in the window total at least this."), minimum=1),
        "payment_min_yen": Param("int", _("…and the payment being scored is at least this."), minimum=1),
        "topup_channels": Param("list", _("Only count top-ups from these channels. Empty: every channel."), default=[]),
    }

    def windows(self, rule: CompiledRule, subject: Subject) -> list[tuple[str, float]]:
        assert subject.user_id is not None
        return [(user_series_key(subject.user_id, RiskEvent.TOPUP), subject.since(rule.params["hours"] * 3600))]

    def check(self, rule: CompiledRule, subject: Subject, facts: Facts) -> str | None:
        if subject.amount_yen < rule.params["payment_min_yen"]:
            return None
        ((key, since),) = self.windows(rule, subject)
        topped_up = sum(p.amount_yen for p in facts.points(key, since, frozenset(rule.params["topup_channels"])))
        if topped_up < rule.params["topup_total_min_yen"]:
            return None
        return f"{yen_text(subject.amount_yen)} {subject.event} after {yen_text(topped_up)} of top-ups within {rule.params['hours']} h"


class CardsPerWallet(RuleKind):
    code = "cards_per_wallet"
    label = _("Too many cards on one wallet")
    params = {"max_cards": Param("int", _("Most active cards a wallet may hold."), minimum=1)}

    def db_reads(self, rule: CompiledRule, subject: Subject) -> list[DbRead]:
        return [DbRead(CARDS)]

    def check(self, rule: CompiledRule, subject: Subject, facts: Facts) -> str | None:
        others = facts.active_card_fingerprints() - {subject.card_fingerprint}
        if len(others) < rule.params["max_cards"]:
            return None
        return f"wallet already holds {len(others)} active cards (at most {rule.params['max_cards']})"


class WalletsPerCard(RuleKind):
    code = "wallets_per_card"
    label = _("One card on several wallets")
    params = {"max_other_wallets": Param("int", _("Most other wallets on which the same card may be active."))}

    def db_reads(self, rule: CompiledRule, subject: Subject) -> list[DbRead]:
        return [DbRead(CARD_WALLETS)] if subject.card_fingerprint else []

    def check(self, rule: CompiledRule, subject: Subject, facts: Facts) -> str | None:
        if not subject.card_fingerprint:
            return None
        others = facts.other_wallets_with_card()
        if others <= rule.params["max_other_wallets"]:
            return None
        return f"the card is active on {others} other wallets (at most {rule.params['max_other_wallets']})"


class WalletsPerDevice(RuleKind):
    code = "wallets_per_device"
    label = _("One device or address used by several customers")
    params = {
        "by": Param("choice", _("What is shared: the device cookie or the IP address."), default="device", choices=("device", "ip")),
        "hours": Param("int", _("Window in which other customers count, in hours."), minimum=1, maximum=MAX_HOURS),
        "max_other_wallets": Param("int", _("Most other customers seen with it in the window.")),
    }

    def _key(self, rule: CompiledRule, subject: Subject) -> str | None:
        if rule.params["by"] == "ip":
            return ip_users_key(subject.ip) if subject.ip else None
        return device_users_key(subject.device_key) if subject.device_key else None

    def windows(self, rule: CompiledRule, subject: Subject) -> list[tuple[str, float]]:
        key = self._key(rule, subject)
        return [(key, subject.since(rule.params["hours"] * 3600))] if key else []

    def check(self, rule: CompiledRule, subject: Subject, facts: Facts) -> str | None:
        reads = self.windows(rule, subject)
        if not reads:
            return None
        ((key, since),) = reads
        others = {p.ref for p in facts.points(key, since)} - {str(subject.user_id)}
        if len(others) <= rule.params["max_other_wallets"]:
            return None
        what = "IP address" if rule.params["by"] == "ip" else "device"
        return f"{what} used by {len(others)} other customers within {rule.params['hours']} h (at most {rule.params['max_other_wallets']})"


RULE_KINDS: dict[str, RuleKind] = {
    kind.code: kind
    for kind in (
        VelocityCount(),
        VelocityAmount(),
        NewDeviceMoney(),
        CredentialChangeTopup(),
        TopupThenSpend(),
        CardsPerWallet(),
        WalletsPerCard(),
        WalletsPerDevice(),
    )
}


def _clean_value(name: str, spec: Param, value: Any) -> Any:
    if spec.type == "bool":
        if not isinstance(value, bool):
            raise ValidationError(_("%(name)s must be true or false."), params={"name": name})
        return value
    if spec.type == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValidationError(_("%(name)s must be a whole number."), params={"name": name})
        if value < spec.minimum or (spec.maximum is not None and value > spec.maximum):
            raise ValidationError(
                _("%(name)s must be between %(low)s and %(high)s."),
                params={"name": name, "low": spec.minimum, "high": spec.maximum if spec.maximum is not None else "∞"},
            )
        return value
    if spec.type == "choice":
        if value not in spec.choices:
            raise ValidationError(_("%(name)s must be one of: %(choices)s."), params={"name": name, "choices": ", ".join(spec.choices)})
        return value
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValidationError(_("%(name)s must be a list of names."), params={"name": name})
    if spec.type == "choice_list":
        unknown = [v for v in value if v not in spec.choices]
        if unknown:
            raise ValidationError(_("%(name)s has unknown values: %(values)s."), params={"name": name, "values": ", ".join(unknown)})
    return list(value)


def rule_params_clean(kind_code: str, params: Any) -> dict[str, Any]:
    """The parameters with defaults filled in; a ValidationError naming every problem otherwise."""
    kind = RULE_KINDS.get(kind_code)
    if kind is None:
        raise ValidationError(_("Unknown rule kind “%(kind)s”."), params={"kind": kind_code})
    if not isinstance(params, dict):
        raise ValidationError(_("Parameters must be a JSON object."))
    specs = {**COMMON_PARAMS, **kind.params}
    errors: list[ValidationError] = []
    unknown = sorted(set(params) - set(specs))
    if unknown:
        errors.append(ValidationError(_("Unknown parameters: %(names)s."), params={"names": ", ".join(unknown)}))
    cleaned: dict[str, Any] = {}
    for name, spec in specs.items():
        if name not in params:
            if spec.default is None:
                errors.append(ValidationError(_("%(name)s is required."), params={"name": name}))
            else:
                cleaned[name] = spec.default
            continue
        try:
            cleaned[name] = _clean_value(name, spec, params[name])
        except ValidationError as exc:
            errors.append(exc)
    if errors:
        raise ValidationError(errors)
    return cleaned


def rule_events_clean(events: Any) -> list[str]:
    valid = {str(e) for e in RiskEvent}
    if not isinstance(events, list) or not events or not all(isinstance(e, str) and e in valid for e in events):
        raise ValidationError(_("Choose at least one event: %(events)s."), params={"events": ", ".join(sorted(valid))})
    return sorted(set(events))


def worst_outcome(actions: Sequence[str]) -> str:
    return max(actions, key=lambda action: OUTCOME_RANK[RiskOutcome(action)], default=RiskOutcome.ALLOW)
