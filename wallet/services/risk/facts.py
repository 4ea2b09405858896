"""What is being scored, and what the rules read about it.

Counter windows come from the window store in one round trip; database facts
(devices, recent credential changes, cards) in one SQL statement holding a
sub-select per fact the applicable rules asked for. A scoring call sits inside
every top-up and payment, so round trips and ORM compilation are its cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection

from ...models import AuthEvent, Card, KnownDevice, User
from .counters import Point

DEVICES = "devices"
AUTH_EVENTS = "auth_events"
CARDS = "cards"
CARD_WALLETS = "card_wallets"


# One sub-select per fact (the tables of KnownDevice, AuthEvent and Card, checked in tests).
_RECENT_EVENTS = "FROM wallet_authevent WHERE user_id = %s AND kind = ANY(%s) AND created_at > %s ORDER BY created_at DESC"
_SQL = {
    DEVICES: [
        "ARRAY(SELECT first_seen_at FROM wallet_knowndevice WHERE user_id = %s ORDER BY id)",
        "ARRAY(SELECT revoked_at IS NOT NULL FROM wallet_knowndevice WHERE user_id = %s ORDER BY id)",
    ],
    AUTH_EVENTS: ["ARRAY(SELECT kind " + _RECENT_EVENTS + ")", "ARRAY(SELECT created_at " + _RECENT_EVENTS + ")"],
    CARDS: ["ARRAY(SELECT fingerprint FROM wallet_card WHERE user_id = %s AND status = %s)"],
    CARD_WALLETS: ["(SELECT count(DISTINCT user_id) FROM wallet_card WHERE fingerprint = %s AND status = %s AND user_id <> %s)"],
}
TABLES = {"wallet_knowndevice": KnownDevice, "wallet_authevent": AuthEvent, "wallet_card": Card}


@dataclass(frozen=True)
class Subject:
    event: str
    user: User | None
    amount_yen: int
    channel: str
    ip: str | None
    card_fingerprint: str
    device_key: str
    now: datetime

    @property
    def user_id(self) -> int | None:
        return self.user.pk if self.user is not None else None

    def since(self, seconds: int) -> float:
        return self.now.timestamp() - seconds


@dataclass(frozen=True)
class DbRead:
    """A database fact a rule needs: ``name`` is one of DEVICES, AUTH_EVENTS, CARDS, CARD_WALLETS."""

    name: str
    auth_kinds: frozenset[str] = frozenset()
    since: datetime | None = None


@dataclass
class Facts:
    subject: Subject
    windows: dict[str, list[Point]] = field(default_factory=dict)
    _db: dict[str, Any] = field(default_factory=dict)
    _auth_kinds: frozenset[str] = frozenset()
    _auth_since: datetime | None = None

    @property
    def user_id(self) -> int:
        # Per-customer facts are only read by rules that apply to a customer (CompiledRule.applies_to).
        assert self.subject.user_id is not None
        return self.subject.user_id

    def points(self, key: str, since: float, channels: frozenset[str] = frozenset()) -> list[Point]:
        return [p for p in self.windows.get(key, []) if p.at > since and (not channels or p.channel in channels)]

    def load(self, reads: list[DbRead]) -> None:
        """Fetch every requested fact in one statement."""
        names = {read.name for read in reads} - set(self._db)
        if not names:
            return
        auth = [read for read in reads if read.name == AUTH_EVENTS]
        if auth:
            self._auth_kinds = frozenset().union(*(read.auth_kinds for read in auth))
            self._auth_since = min(read.since for read in auth if read.since is not None)
        columns: list[str] = []
        params: list[Any] = []
        if DEVICES in names:
            columns += _SQL[DEVICES]
            params += [self.user_id, self.user_id]
        if AUTH_EVENTS in names:
            columns += _SQL[AUTH_EVENTS]
            params += [self.user_id, sorted(self._auth_kinds), self._auth_since] * 2
        if CARDS in names:
            columns += _SQL[CARDS]
            params += [self.user_id, Card.Status.ACTIVE]
        if CARD_WALLETS in names:
            columns += _SQL[CARD_WALLETS]
            params += [self.subject.card_fingerprint, Card.Status.ACTIVE, self.user_id]
        with connection.cursor() as cursor:
            cursor.execute("SELECT " + ", ".join(columns), params)
            row = list(cursor.fetchone() or ())
        if DEVICES in names:
            first_seen, revoked = row.pop(0), row.pop(0)
            self._db[DEVICES] = list(zip(first_seen, revoked, strict=True))
        if AUTH_EVENTS in names:
            kinds, times = row.pop(0), row.pop(0)
            self._db[AUTH_EVENTS] = list(zip(kinds, times, strict=True))
        if CARDS in names:
            self._db[CARDS] = set(row.pop(0))
        if CARD_WALLETS in names:
            self._db[CARD_WALLETS] = int(row.pop(0))

    def _get(self, read: DbRead) -> Any:
        if read.name not in self._db:
            self.load([read])
        return self._db[read.name]

    def devices(self) -> list[tuple[datetime, bool]]:
        """(first seen, revoked?) of each of the customer's devices."""
        return list(self._get(DbRead(DEVICES)))

    def auth_events(self, kinds: frozenset[str], since: datetime) -> list[tuple[str, datetime]]:
        """The customer's authentication events of these kinds after ``since``, newest first."""
        if AUTH_EVENTS in self._db and (not kinds <= self._auth_kinds or self._auth_since is None or since < self._auth_since):
            del self._db[AUTH_EVENTS]  # asked for more than was loaded
        events = self._get(DbRead(AUTH_EVENTS, auth_kinds=kinds, since=since))
        return [(kind, when) for kind, when in events if kind in kinds and when > since]

    def active_card_fingerprints(self) -> set[str]:
        return set(self._get(DbRead(CARDS)))

    def other_wallets_with_card(self) -> int:
        """Other customers on whose wallet the card being scored is active."""
        return int(self._get(DbRead(CARD_WALLETS)))
