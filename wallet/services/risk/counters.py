"""Sliding-window counters for the risk rules.

Each series is a Redis sorted set scored by the event's epoch time, so a window
of any length is exact at its edges (a rule's boundary is tested to the second),
one ``ZRANGEBYSCORE`` reads every window a rule set needs, and trimming is one
``ZREMRANGEBYSCORE``. Members carry the decision id, so recording the same
decision twice (a retried on-commit hook) counts it once.

Django's cache API cannot do this: its ``incr`` sets no expiry and it has no
sorted sets. Without ``REDIS_URL`` (``make run`` on a bare machine) an
in-process store with the same behaviour stands in. That is enough for the demo
because every scoring read (``risk_assess``: logins, card registrations, top-ups,
payments, web and API alike) happens in its one web process, runserver, whose
threads share the store; the worker only adds the points of card top-ups that the
reconcile job settles after a gateway timeout, which that web process then does
not see, and a code reload of runserver forgets the windows. Anything that relies
on the velocity rules sets ``REDIS_URL``, as compose, the tests and production do.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import redis
from django.conf import settings

# The longest window a rule may use; older points are trimmed.
RETENTION_SECONDS = 31 * 24 * 60 * 60
KEY_PREFIX = "anzen:risk"
# A scoring call must not hang on a stuck Redis: it fails to "review" instead (engine.py).
CLIENT_OPTIONS = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5, "health_check_interval": 30}


@dataclass(frozen=True)
class Point:
    """One counted event: who or what it was (a decision id, a user id), its amount and channel."""

    ref: str
    amount_yen: int
    channel: str
    at: float

    def member(self) -> str:
        return f"{self.ref}|{self.amount_yen}|{self.channel}"

    @classmethod
    def parse(cls, member: str | bytes, score: float) -> Point:
        text = member.decode() if isinstance(member, bytes) else member
        ref, _sep, rest = text.partition("|")
        amount, _sep, channel = rest.partition("|")
        return cls(ref=ref, amount_yen=int(amount or 0), channel=channel, at=float(score))


def user_series_key(user_id: int, event: str) -> str:
    return f"{KEY_PREFIX}:u:{user_id}:{event}"


def device_users_key(device_key: str) -> str:
    return f"{KEY_PREFIX}:dev:{device_key}"


def ip_users_key(ip: str) -> str:
    return f"{KEY_PREFIX}:ip:{ip}"


class WindowStore(Protocol):
    def read(self, reads: Sequence[tuple[str, float]], *, value_key: str = "") -> tuple[str | None, list[list[Point]]]:
        """The plain value at ``value_key`` (if given) and, for each (key, since), the points
        with ``at > since``, oldest first: one round trip."""

    def value_set(self, key: str, value: str, *, only_if_absent: bool = False) -> None:
        """Set a plain value (no expiry)."""

    def add(self, points: Sequence[tuple[str, Point]], *, now: float) -> None:
        """Add each point to its series and drop points older than the retention."""

    def clear(self) -> None:
        """Forget every series (tests and benches)."""


class RedisWindowStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def read(self, reads: Sequence[tuple[str, float]], *, value_key: str = "") -> tuple[str | None, list[list[Point]]]:
        if not reads and not value_key:
            return None, []
        pipe = self.client.pipeline(transaction=False)
        if value_key:
            pipe.get(value_key)
        for key, since in reads:
            pipe.zrangebyscore(key, f"({since}", "+inf", withscores=True)
        results = pipe.execute()
        value = results.pop(0) if value_key else None
        windows = [[Point.parse(member, score) for member, score in rows] for rows in results]
        return (value.decode() if isinstance(value, bytes) else value), windows

    def value_set(self, key: str, value: str, *, only_if_absent: bool = False) -> None:
        self.client.set(key, value, nx=only_if_absent)

    def add(self, points: Sequence[tuple[str, Point]], *, now: float) -> None:
        if not points:
            return
        pipe = self.client.pipeline(transaction=False)
        for key, point in points:
            pipe.zadd(key, {point.member(): point.at})
        for key in {key for key, _point in points}:
            pipe.zremrangebyscore(key, "-inf", now - RETENTION_SECONDS)
            pipe.expire(key, RETENTION_SECONDS)
        pipe.execute()

    def clear(self) -> None:
        keys = list(self.client.scan_iter(match=f"{KEY_PREFIX}:*", count=1000))
        for start in range(0, len(keys), 1000):
            self.client.delete(*keys[start : start + 1000])


class MemoryWindowStore:
    """The same behaviour in this process only: for the demo without Redis (see the module's docstring)."""

    def __init__(self) -> None:
        self._series: dict[str, dict[str, float]] = {}
        self._values: dict[str, str] = {}
        self._lock = threading.Lock()

    def read(self, reads: Sequence[tuple[str, float]], *, value_key: str = "") -> tuple[str | None, list[list[Point]]]:
        with self._lock:
            result = []
            for key, since in reads:
                series = self._series.get(key, {})
                rows = sorted((score, member) for member, score in series.items() if score > since)
                result.append([Point.parse(member, score) for score, member in rows])
            return self._values.get(value_key), result

    def value_set(self, key: str, value: str, *, only_if_absent: bool = False) -> None:
        with self._lock:
            if not (only_if_absent and key in self._values):
                self._values[key] = value

    def add(self, points: Sequence[tuple[str, Point]], *, now: float) -> None:
        with self._lock:
            for key, point in points:
                self._series.setdefault(key, {})[point.member()] = point.at
            horizon = now - RETENTION_SECONDS
            for key in {key for key, _point in points}:
                series = self._series[key]
                for member in [m for m, score in series.items() if score <= horizon]:
                    del series[member]

    def clear(self) -> None:
        with self._lock:
            self._series.clear()
            self._values.clear()


_store: WindowStore | None = None
_store_lock = threading.Lock()


def window_store() -> WindowStore:
    """The process's store: Redis at ``settings.REDIS_URL``, or in-process without it."""
    global _store
    if _store is None:
        with _store_lock:
            if _store is None:
                url = settings.REDIS_URL
                _store = RedisWindowStore(redis.Redis.from_url(url, **CLIENT_OPTIONS)) if url else MemoryWindowStore()
    return _store


def window_store_set(store: WindowStore | None) -> None:
    """Swap the store (tests use the in-process one to prove the fallback behaves the same)."""
    global _store
    _store = store
