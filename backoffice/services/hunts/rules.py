"""What each look-back hunt looks for: the risk rule kinds of ``wallet.services.risk.kinds``
replayed over history, as set-based SQL.

A real-time rule answers "does this event fire?" for one event; a hunt asks the
same question of every event of a period at once. Each hunt has one or more
*passes*, one per *driving table* (the events the rule scores: store payments,
top-ups, card registrations). A pass runs in two parts:

1. *Candidates*: one statement reads the driving table once (a parallel
   sequential scan, the period and the rule's cheap conditions as filters: for
   the 7pay rule, payments of Z or more) into a temporary table numbered in
   customer order (``runner``).
2. *Chunks* of candidates, one statement each (``Pass.items``), check the rest
   of the rule with index look-ups, in customer order so consecutive look-ups
   land on the same index pages. Chunks are the steps of the progress bar.

Why not slices of time: store payments have no index on ``created_at``, so a
slice of time would read the whole table once per slice; slices of the primary
key make every row an index fetch, three times a sequential read.

A chunk yields *items*: rows of ``(customer_id, transfer_id, yen, at)``: the
transactions the rule flags, and for sequence rules the transactions that made
the sequence. ``yen`` adds up to the damage estimate; a transaction that only
explains a hit (the top-ups before a 7pay spend) carries 0 so nothing is
counted twice.

The thresholds are the risk rule's own (``rule_params_clean``), so an analyst
replays exactly what a rule version would have done, plus ``events``: which of
the rule's events to replay.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from wallet.models import AuthEvent, Card, KnownDevice, Payment, RiskEvent, RiskRule, TopUp
from wallet.services.cards import CHANNEL as CARD_REGISTER_CHANNEL
from wallet.services.risk import RULE_KINDS, rule_params_clean

PAYMENT_CHANNEL = "payment.store"
# Top-ups whose money was received and kept (a rejected one went back to the card):
# the ones ``risk_record`` counted in the real-time windows.
COUNTED_TOPUP_STATUSES = [str(TopUp.Status.SUCCEEDED), str(TopUp.Status.HELD)]

T_PAYMENT = Payment._meta.db_table
T_TOPUP = TopUp._meta.db_table
T_CARD = Card._meta.db_table
T_DEVICE = KnownDevice._meta.db_table
T_AUTH = AuthEvent._meta.db_table

# In ``Pass.items`` ``e`` is a candidate row, ``{candidates}`` their table, and this the chunk.
CHUNK = "e.n > %(a)s AND e.n <= %(b)s"
MONEY_COLUMNS = "e.id, e.user_id, e.transfer_id, e.amount_yen, e.created_at"
_TOPUP_COUNTED = "{a}.status = ANY(%(counted)s::text[]) AND (%(all_channels)s OR {a}.channel = ANY(%(channels)s::text[]))"
# An earlier event of the same customer inside the window before ``e`` (ties broken by id, as events are scored one by one).
_EARLIER = (
    "o.user_id = e.user_id AND o.created_at > e.created_at - %(window)s"
    " AND (o.created_at < e.created_at OR (o.created_at = e.created_at AND o.id < e.id))"
)
_ITEM = "e.user_id AS customer_id, e.transfer_id, e.amount_yen AS yen, e.created_at AS at"


@dataclass(frozen=True)
class Pass:
    """One driving table. Candidates are its rows in the period passing ``where`` (on ``e``),
    with ``columns``; ``items`` selects the items of one chunk of them."""

    name: str
    table: str
    columns: str
    where: str
    items: str


class HuntRule:
    kind = ""
    # Events of the risk rule this hunt can replay over history; the first is the default.
    events: tuple[str, ...] = ()
    measures: Any = ""  # lazy translation: what the yen of a hit adds up

    @property
    def label(self) -> Any:
        return RULE_KINDS[self.kind].label

    def passes(self, params: Mapping[str, Any]) -> list[Pass]:
        raise NotImplementedError

    def sql_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        channels = list(params.get("channels") or [])
        return {"counted": COUNTED_TOPUP_STATUSES, "channels": channels, "all_channels": not channels}

    @staticmethod
    def scores_channel(params: Mapping[str, Any], channel: str) -> bool:
        channels = params.get("channels") or []
        return not channels or channel in channels


def _event_filter(event: str, alias: str) -> str:
    """What a row of the event's table must be to count as that event (a payment always is)."""
    return _TOPUP_COUNTED.format(a=alias) if event == RiskEvent.TOPUP else "TRUE"


ItemsFor = Callable[[str, str], str]  # (event, driving table) -> the items SQL of one chunk


def _money_passes(rule: HuntRule, params: Mapping[str, Any], items_for: ItemsFor, where: str = "TRUE") -> list[Pass]:
    passes = []
    for event in params["events"]:
        if event == RiskEvent.PAYMENT and not rule.scores_channel(params, PAYMENT_CHANNEL):
            continue
        table = T_TOPUP if event == RiskEvent.TOPUP else T_PAYMENT
        condition = f"{_event_filter(event, 'e')} AND {where}"
        passes.append(Pass(name=f"{event}s", table=table, columns=MONEY_COLUMNS, where=condition, items=items_for(event, table)))
    return passes


class TopupThenSpendHunt(HuntRule):
    """7pay's own after-the-fact query: a store payment of at least Z within Y hours
    after top-ups totalling at least X. The candidates are the payments of Z or more
    (few); each is joined to the customer's top-ups in its window through the
    (user, created_at) index."""

    kind = "topup_then_spend"
    events = (RiskEvent.PAYMENT,)
    measures = _("store spending after the top-ups")

    def passes(self, params: Mapping[str, Any]) -> list[Pass]:
        items = f"""
            SELECT x.customer_id, x.transfer_id, x.yen, x.at
            FROM (
                SELECT e.user_id, e.transfer_id, e.amount_yen, e.created_at,
                       array_agg(t.transfer_id) AS ids, array_agg(t.created_at) AS ats
                FROM {{candidates}} e
                JOIN {T_TOPUP} t ON t.user_id = e.user_id AND t.created_at > e.created_at - %(window)s AND t.created_at <= e.created_at
                    AND t.status = ANY(%(counted)s::text[]) AND (%(all_topup_channels)s OR t.channel = ANY(%(topup_channels)s::text[]))
                WHERE {CHUNK}
                GROUP BY e.n, e.user_id, e.transfer_id, e.amount_yen, e.created_at
                HAVING sum(t.amount_yen) >= %(topup_total_min_yen)s
            ) e
            CROSS JOIN LATERAL (
                SELECT {_ITEM}
                UNION ALL
                SELECT e.user_id, u.id, 0, u.at FROM unnest(e.ids, e.ats) AS u(id, at)
            ) x"""  # noqa: S608 - our table names; values are parameters
        return _money_passes(self, params, lambda event, table: items, where="e.amount_yen >= %(payment_min_yen)s")

    def sql_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        topup_channels = list(params["topup_channels"])
        return {
            **super().sql_params(params),
            "window": timedelta(hours=params["hours"]),
            "payment_min_yen": params["payment_min_yen"],
            "topup_total_min_yen": params["topup_total_min_yen"],
            "topup_channels": topup_channels,
            "all_topup_channels": not topup_channels,
        }


class VelocityCountHunt(HuntRule):
    """Events whose customer already had ``max_count`` events of the kind inside the window."""

    kind = "velocity_count"
    events = (RiskEvent.TOPUP, RiskEvent.PAYMENT)
    measures = _("the flagged top-ups or payments")

    def passes(self, params: Mapping[str, Any]) -> list[Pass]:
        def items_for(event: str, table: str) -> str:
            counted = _event_filter(event, "o")
            return f"""
                SELECT {_ITEM} FROM {{candidates}} e
                WHERE {CHUNK}
                  AND (SELECT count(*) FROM (SELECT 1 FROM {table} o WHERE {_EARLIER} AND {counted} LIMIT %(max_count)s) n)
                      >= %(max_count)s"""  # noqa: S608 - our table names; values are parameters

        return _money_passes(self, params, items_for)

    def sql_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {**super().sql_params(params), "window": timedelta(seconds=params["window_seconds"]), "max_count": params["max_count"]}


class VelocityAmountHunt(HuntRule):
    """Events that took the customer's yen inside the window (this one included) above the cap."""

    kind = "velocity_amount"
    events = (RiskEvent.TOPUP, RiskEvent.PAYMENT)
    measures = _("the flagged top-ups or payments")

    def passes(self, params: Mapping[str, Any]) -> list[Pass]:
        def items_for(event: str, table: str) -> str:
            counted = _event_filter(event, "o")
            return f"""
                SELECT {_ITEM} FROM {{candidates}} e
                WHERE {CHUNK}
                  AND e.amount_yen + (SELECT coalesce(sum(o.amount_yen), 0) FROM {table} o WHERE {_EARLIER} AND {counted})
                      > %(max_amount_yen)s"""  # noqa: S608 - our table names; values are parameters

        return _money_passes(self, params, items_for)

    def sql_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {
            **super().sql_params(params),
            "window": timedelta(seconds=params["window_seconds"]),
            "max_amount_yen": params["max_amount_yen"],
        }


class NewDeviceMoneyHunt(HuntRule):
    """Money moved within the window after the first login from a device that was
    not revoked at the time; optionally not the account's very first device."""

    kind = "new_device_money"
    events = (RiskEvent.TOPUP, RiskEvent.PAYMENT)
    measures = _("money moved after the new device")

    def passes(self, params: Mapping[str, Any]) -> list[Pass]:
        items = f"""
            SELECT {_ITEM} FROM {{candidates}} e
            CROSS JOIN LATERAL (
                SELECT min(d.first_seen_at) AS earliest_new FROM {T_DEVICE} d
                WHERE d.user_id = e.user_id AND d.first_seen_at > e.created_at - %(window)s AND d.first_seen_at <= e.created_at
                  AND (d.revoked_at IS NULL OR d.revoked_at > e.created_at)
            ) n
            WHERE {CHUNK} AND n.earliest_new IS NOT NULL
              AND (NOT %(ignore_first_device)s
                   OR EXISTS (SELECT 1 FROM {T_DEVICE} d2 WHERE d2.user_id = e.user_id AND d2.first_seen_at < n.earliest_new))"""  # noqa: S608 - our table names; values are parameters
        return _money_passes(self, params, lambda event, table: items)

    def sql_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {
            **super().sql_params(params),
            "window": timedelta(hours=params["hours"]),
            "ignore_first_device": params["ignore_first_device"],
        }


class CredentialChangeTopupHunt(HuntRule):
    """Top-ups within the window after a password or email change in the authentication log."""

    kind = "credential_change_topup"
    events = (RiskEvent.TOPUP,)
    measures = _("top-ups after the change")

    def passes(self, params: Mapping[str, Any]) -> list[Pass]:
        items = f"""
            SELECT {_ITEM} FROM {{candidates}} e
            WHERE {CHUNK}
              AND EXISTS (SELECT 1 FROM {T_AUTH} a WHERE a.user_id = e.user_id AND a.kind = ANY(%(auth_kinds)s::text[])
                          AND a.created_at > e.created_at - %(window)s AND a.created_at <= e.created_at)"""  # noqa: S608 - our table names; values are parameters
        return _money_passes(self, params, lambda event, table: items)

    def sql_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {**super().sql_params(params), "window": timedelta(hours=params["hours"]), "auth_kinds": list(params["auth_events"])}


CARD_COLUMNS = "e.id, e.user_id, e.created_at, e.fingerprint"
# A card registration the rule flags, plus the top-ups later made with that card
# (what the rule would have prevented had it refused the card).
_CARD_ITEMS = f"""
    SELECT x.customer_id, x.transfer_id, x.yen, x.at FROM {{candidates}} e
    CROSS JOIN LATERAL (
        SELECT e.user_id AS customer_id, NULL::bigint AS transfer_id, 0::bigint AS yen, e.created_at AS at
        UNION ALL
        SELECT e.user_id, t.transfer_id, t.amount_yen, t.created_at FROM {T_TOPUP} t
        WHERE t.card_id = e.id AND t.status = ANY(%(counted)s::text[]) AND t.created_at >= e.created_at AND t.created_at < %(end)s
    ) x
    WHERE {CHUNK} AND """  # noqa: S608 - our table names; values are parameters


class CardsPerWalletHunt(HuntRule):
    """Cards registered while the wallet already held ``max_cards`` other active cards."""

    kind = "cards_per_wallet"
    events = (RiskEvent.CARD_REGISTER,)
    measures = _("top-ups with the flagged cards")

    def passes(self, params: Mapping[str, Any]) -> list[Pass]:
        if not self.scores_channel(params, CARD_REGISTER_CHANNEL):
            return []
        others = f"""(SELECT count(DISTINCT o.fingerprint) FROM {T_CARD} o
                   WHERE o.user_id = e.user_id AND o.id <> e.id AND o.fingerprint <> e.fingerprint
                     AND (o.created_at < e.created_at OR (o.created_at = e.created_at AND o.id < e.id))
                     AND (o.removed_at IS NULL OR o.removed_at > e.created_at)) >= %(max_cards)s"""  # noqa: S608 - our table names; values are parameters
        return [Pass(name="cards", table=T_CARD, columns=CARD_COLUMNS, where="TRUE", items=_CARD_ITEMS + others)]

    def sql_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {**super().sql_params(params), "max_cards": params["max_cards"]}


class WalletsPerCardHunt(HuntRule):
    """A card active on more than ``max_other_wallets`` other wallets: at its registration,
    and (if replayed) at every top-up made with it."""

    kind = "wallets_per_card"
    events = (RiskEvent.CARD_REGISTER, RiskEvent.TOPUP)
    measures = _("top-ups with the shared cards")

    # Other wallets on which a card with this fingerprint was active when ``e`` happened.
    _OTHERS = f"""(SELECT count(DISTINCT o.user_id) FROM {T_CARD} o
                   WHERE o.fingerprint = {{fingerprint}} AND o.user_id <> e.user_id
                     AND o.created_at <= e.created_at AND (o.removed_at IS NULL OR o.removed_at > e.created_at))
                  > %(max_other_wallets)s"""  # noqa: S608 - our table names; values are parameters

    def passes(self, params: Mapping[str, Any]) -> list[Pass]:
        passes = []
        if RiskEvent.CARD_REGISTER in params["events"] and self.scores_channel(params, CARD_REGISTER_CHANNEL):
            items = _CARD_ITEMS + self._OTHERS.replace("{fingerprint}", "e.fingerprint")
            passes.append(Pass(name="cards", table=T_CARD, columns=CARD_COLUMNS, where="TRUE", items=items))
        if RiskEvent.TOPUP in params["events"]:
            items = f"""
                SELECT {_ITEM} FROM {{candidates}} e JOIN {T_CARD} c ON c.id = e.card_id
                WHERE {CHUNK} AND """ + self._OTHERS.replace("{fingerprint}", "c.fingerprint")  # noqa: S608 - our table names; values are parameters
            where = f"{_TOPUP_COUNTED.format(a='e')} AND e.card_id IS NOT NULL"
            passes.append(Pass(name="topups", table=T_TOPUP, columns=f"{MONEY_COLUMNS}, e.card_id", where=where, items=items))
        return passes

    def sql_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {**super().sql_params(params), "max_other_wallets": params["max_other_wallets"]}


# wallets_per_device is not here: it reads the device cookies and addresses seen
# per hour in Redis windows, which history does not keep.
HUNT_RULES: dict[str, HuntRule] = {
    rule.kind: rule
    for rule in (
        TopupThenSpendHunt(),
        VelocityCountHunt(),
        VelocityAmountHunt(),
        NewDeviceMoneyHunt(),
        CredentialChangeTopupHunt(),
        CardsPerWalletHunt(),
        WalletsPerCardHunt(),
    )
}


def risk_rules_huntable() -> list[tuple[RiskRule, list[str]]]:
    """The analysts' risk rules a hunt can replay, with the events it replays (enabled first, then by code)."""
    found = []
    for rule in RiskRule.objects.filter(kind__in=list(HUNT_RULES)).order_by("-enabled", "code"):
        events = [event for event in HUNT_RULES[rule.kind].events if event in (rule.events or [])]
        if events:
            found.append((rule, events))
    return found


def hunt_default_params(kind: str) -> dict[str, Any]:
    """The thresholds and events of the first risk rule of this kind, so "run the 7pay
    hunt" means the rule as the analysts have tuned it today."""
    for rule, events in risk_rules_huntable():
        if rule.kind == kind:
            return {**rule.params, "events": events}
    hunt = HUNT_RULES.get(kind)
    return {"events": [hunt.events[0]]} if hunt else {}


def hunt_params_clean(kind: str, params: Any) -> dict[str, Any]:
    """The rule kind's thresholds (validated as the risk rule's own) plus ``events``.
    Raises ValidationError naming every problem."""
    hunt = HUNT_RULES.get(kind)
    if hunt is None:
        raise ValidationError(_("There is no look-back hunt for the rule “%(kind)s”."), params={"kind": kind})
    if not isinstance(params, Mapping):
        raise ValidationError(_("Parameters must be a JSON object."))
    thresholds = {name: value for name, value in params.items() if name != "events"}
    errors: list[ValidationError] = []
    cleaned: dict[str, Any] = {}
    try:
        cleaned = rule_params_clean(kind, thresholds)
    except ValidationError as exc:
        errors.append(exc)
    events = params.get("events", [hunt.events[0]])
    if not isinstance(events, list) or not events or any(event not in hunt.events for event in events):
        errors.append(
            ValidationError(
                _("events must be a non-empty list of: %(events)s."),
                params={"events": ", ".join(str(event) for event in hunt.events)},
            )
        )
    if errors:
        raise ValidationError(errors)
    cleaned["events"] = [event for event in hunt.events if event in events]
    return cleaned
