"""Stored first answers to money-moving requests (B06).

``idempotency_claim`` runs inside the caller's transaction and returns the row
locked: a concurrent request with the same scope and key waits on the unique
index (INSERT … ON CONFLICT DO NOTHING blocks until the first inserter commits
or rolls back), then on the row lock, and finally sees the stored answer. So a
key has at most one request in flight and one effect, whatever the retry storm.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.utils.encoders import JSONEncoder

from ..models import IdempotencyRecord

PURGE_BATCH = 5_000


def request_fingerprint(*, method: str, path: str, body: Any) -> str:
    """SHA-256 of method, path and the body as canonical JSON (key order and spacing do not count)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, cls=JSONEncoder)
    return hashlib.sha256(f"{method.upper()}\n{path}\n{canonical}".encode()).hexdigest()


def idempotency_claim(*, scope: str, key: str, fingerprint: str) -> IdempotencyRecord:
    """The record for (scope, key), created if new, locked until the caller's transaction ends."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("idempotency_claim must run inside transaction.atomic()")
    created = _insert_if_new(scope=scope, key=key, fingerprint=fingerprint)
    if created is not None:
        # Our own uncommitted insert: no other transaction can see or lock it yet.
        return created
    record = IdempotencyRecord.objects.select_for_update().get(scope=scope, key=key)
    if record.response_status is None and record.fingerprint != fingerprint:
        # Never answered (so never committed by another request): it is ours to define.
        record.fingerprint = fingerprint
        record.save(update_fields=["fingerprint"])
    return record


def _insert_if_new(*, scope: str, key: str, fingerprint: str) -> IdempotencyRecord | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: the new row, or None when the key exists.

    One round trip for the common case of a fresh key (the ORM's ignore_conflicts
    cannot say whether it inserted, which would cost a second SELECT)."""
    record = IdempotencyRecord(scope=scope, key=key, fingerprint=fingerprint, created_at=timezone.now())
    table = IdempotencyRecord._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (scope, key, fingerprint, created_at) VALUES (%s, %s, %s, %s) "  # noqa: S608 - the table name is ours
            "ON CONFLICT (scope, key) DO NOTHING RETURNING id",
            [scope, key, fingerprint, record.created_at],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    record.pk = row[0]
    record._state.adding = False
    record._state.db = connection.alias
    return record


def idempotency_answer(*, scope: str, key: str) -> IdempotencyRecord | None:
    """The record for (scope, key) if it already holds an answer."""
    return IdempotencyRecord.objects.filter(scope=scope, key=key, response_status__isnull=False).first()


@contextmanager
def idempotency_key_lock(*, scope: str, key: str) -> Iterator[None]:
    """Serialise requests with the same scope and key without holding a transaction open.

    For requests whose service calls another system (the card gateway) between its
    own transactions: a PostgreSQL session advisory lock, released at the end or when
    the connection dies. Unrelated keys that share the 64-bit hash merely wait.
    """
    lock_id = int.from_bytes(hashlib.sha256(f"idempotency\n{scope}\n{key}".encode()).digest()[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [lock_id])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_id])


def idempotency_store(*, record: IdempotencyRecord, status: int, body: Any) -> Any:
    """Keep the answer with the record; returns the body as it will be replayed (plain JSON)."""
    stored = json.loads(json.dumps(body, cls=JSONEncoder))
    record.response_status = status
    record.response_body = stored
    record.save(update_fields=["response_status", "response_body"])
    return stored


def idempotency_purge(*, now: datetime | None = None, batch_size: int = PURGE_BATCH) -> int:
    """Delete records older than IDEMPOTENCY_RETENTION in keyset batches; returns how many.

    A client retrying after that long gets a fresh request, which is the documented contract.
    """
    cutoff = (now or timezone.now()) - settings.IDEMPOTENCY_RETENTION
    deleted = 0
    last_id = 0
    while True:
        ids = list(
            IdempotencyRecord.objects.filter(id__gt=last_id, created_at__lt=cutoff).order_by("id").values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return deleted
        last_id = ids[-1]
        count, _by_model = IdempotencyRecord.objects.filter(id__in=ids, created_at__lt=cutoff).delete()
        deleted += count
