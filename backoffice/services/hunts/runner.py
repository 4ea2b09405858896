"""Running a hunt: candidates first, then chunks of them, one transaction per chunk.

At the start (``_claim``) each pass's candidates are read in one statement into
a temporary table of this database session, numbered in customer order
(``rules`` says why). The plan stored on the hunt fixes, per pass, the highest
key of the driving table then, the candidates' count and the chunk size, so a
run that resumes (a worker killed, the message delivered again) rebuilds the
very same numbered candidates and carries on at ``steps_done``.

Each chunk runs under the hunt's row lock and, in the same transaction, merges
its items into ``HuntHit`` (one row per customer), moves ``steps_done`` on and
refreshes the totals. So a chunk is either wholly counted or not at all, and two
copies of the task running at once take turns on the lock, each chunk once. If
the candidates come out different on a resume (history changed under the
hunt), the hunt restarts from nothing under a new run token, and a runner still
holding the old token stops at its next chunk.
"""

from __future__ import annotations

import logging
import math
import uuid
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from ...models import Hunt, HuntHit
from .rules import HUNT_RULES, Pass

logger = logging.getLogger("anzenpay.hunts")

# Candidates per chunk: about TARGET_CHUNKS chunks a pass, so the bar moves in
# visible steps; at most CHUNK_MAX, so a chunk commits within a second or two
# (a cancel waits for the chunk in flight); at least CHUNK_MIN, so a small
# hunt is one step rather than many tiny ones.
TARGET_CHUNKS = 10
CHUNK_MIN = 1_000
CHUNK_MAX = 200_000
PLAN_KEY = "_plan"

# Candidates in customer order, so a chunk's index look-ups walk the customer
# indexes in order; ``n`` numbers them for the chunks.
CANDIDATES_SQL = """
CREATE TEMPORARY TABLE {name} AS
SELECT row_number() OVER (ORDER BY e.user_id, e.created_at, e.id) AS n, {columns}
FROM {table} e
WHERE e.id <= %(hi)s AND e.created_at >= %(start)s AND e.created_at < %(end)s AND {where}
"""

# The items of a chunk (found by a SELECT of their own) merged into the hunt's hits.
# Transfers already on the customer's hit (a top-up feeding payments in two
# chunks) are neither counted nor added again; ``first_at``/``last_at`` widen.
MERGE_SQL = """
WITH items AS (
    SELECT * FROM unnest(%(customer_ids)s::bigint[], %(transfer_ids)s::bigint[], %(yen)s::bigint[], %(ats)s::timestamptz[])
        AS i(customer_id, transfer_id, yen, at)
),
times AS (SELECT customer_id, min(at) AS first_at, max(at) AS last_at FROM items GROUP BY customer_id),
uniq AS (
    SELECT DISTINCT ON (customer_id, transfer_id) customer_id, transfer_id, yen
    FROM items WHERE transfer_id IS NOT NULL ORDER BY customer_id, transfer_id, yen DESC
),
fresh AS (
    SELECT u.customer_id, u.transfer_id, u.yen FROM uniq u
    LEFT JOIN {hits} h ON h.hunt_id = %(hunt_id)s AND h.customer_id = u.customer_id
    WHERE h.id IS NULL OR NOT h.transfer_ids @> to_jsonb(u.transfer_id)
),
merged AS (
    SELECT t.customer_id, t.first_at, t.last_at, count(f.transfer_id) AS n, coalesce(sum(f.yen), 0) AS yen,
           coalesce(jsonb_agg(f.transfer_id ORDER BY f.transfer_id) FILTER (WHERE f.transfer_id IS NOT NULL), '[]'::jsonb) AS ids
    FROM times t LEFT JOIN fresh f ON f.customer_id = t.customer_id
    GROUP BY t.customer_id, t.first_at, t.last_at
)
INSERT INTO {hits} AS hh (hunt_id, customer_id, transactions_count, amount_yen, first_at, last_at, transfer_ids)
SELECT %(hunt_id)s, customer_id, n, yen, first_at, last_at, ids FROM merged
ON CONFLICT (hunt_id, customer_id) DO UPDATE SET
    transactions_count = hh.transactions_count + EXCLUDED.transactions_count,
    amount_yen = hh.amount_yen + EXCLUDED.amount_yen,
    first_at = LEAST(hh.first_at, EXCLUDED.first_at),
    last_at = GREATEST(hh.last_at, EXCLUDED.last_at),
    transfer_ids = hh.transfer_ids || EXCLUDED.transfer_ids
"""


def _chunk_size(count: int) -> int:
    return min(CHUNK_MAX, max(CHUNK_MIN, math.ceil(count / TARGET_CHUNKS)))


def _steps(plan: dict[str, Any]) -> list[int]:
    return [math.ceil(part["count"] / part["size"]) for part in plan["passes"]]


def _candidates_table(hunt_id: int, scan: Pass) -> str:
    return f"hunt_{hunt_id}_{scan.name}_candidates"


def _candidates_build(hunt: Hunt, stored: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Read each pass's candidates into its temporary table; the passes' part of the plan.
    ``stored`` (a resume) gives the key ceilings to use again."""
    rule = HUNT_RULES[hunt.rule_kind]
    ceilings = {part["pass"]: part["hi"] for part in stored["passes"]} if stored else {}
    parts = []
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        for scan in rule.passes(hunt.params):
            name = _candidates_table(hunt.pk, scan)
            high = ceilings.get(scan.name)
            if high is None:
                cursor.execute(f"SELECT coalesce(max(id), 0) FROM {scan.table}")  # noqa: S608 - our table names
                high = int(cursor.fetchone()[0])  # type: ignore[index]
            cursor.execute(f"DROP TABLE IF EXISTS {name}")
            sql = CANDIDATES_SQL.format(name=name, columns=scan.columns, table=scan.table, where=scan.where)
            cursor.execute(sql, {**rule.sql_params(hunt.params), "hi": high, "start": hunt.period_start, "end": hunt.period_end})
            count = cursor.rowcount
            cursor.execute(f"CREATE INDEX ON {name} (n)")
            cursor.execute(f"ANALYZE {name}")
            parts.append({"pass": scan.name, "hi": high, "count": count, "size": _chunk_size(count)})
    return parts


def _candidates_drop(hunt_id: int) -> None:
    hunt = Hunt.objects.filter(pk=hunt_id).first()
    if hunt is None or hunt.rule_kind not in HUNT_RULES:
        return
    with connection.cursor() as cursor:
        for scan in HUNT_RULES[hunt.rule_kind].passes(hunt.params):
            cursor.execute(f"DROP TABLE IF EXISTS {_candidates_table(hunt_id, scan)}")


def _claim(hunt_id: int) -> str | None:
    """Queued → running (compare-and-set), or join one already running; build the
    candidates and return the run token to work under (None: nothing to do)."""
    with transaction.atomic():
        claimed = Hunt.objects.filter(pk=hunt_id, state=Hunt.State.QUEUED).update(state=Hunt.State.RUNNING, started_at=timezone.now())
    hunt = Hunt.objects.filter(pk=hunt_id, state=Hunt.State.RUNNING).first()
    if hunt is None:
        return None
    stored: dict[str, Any] | None = None if claimed else hunt.params.get(PLAN_KEY)
    # Outside the hunt's row lock: reading the candidates is the longest statement of the run.
    with transaction.atomic():
        parts = _candidates_build(hunt, stored)
    with transaction.atomic():
        hunt = Hunt.objects.select_for_update().filter(pk=hunt_id, state=Hunt.State.RUNNING).first()
        if hunt is None:
            return None
        current = hunt.params.get(PLAN_KEY)
        if current is not None and current["passes"] == parts:
            logger.info("hunt %s runs at step %s of %s", hunt_id, hunt.steps_done, hunt.steps_total)
            return str(current["run"])
        if current is not None:
            logger.warning("hunt %s: the candidates changed since it started; it starts again", hunt_id)
            HuntHit.objects.filter(hunt=hunt).delete()
        plan = {"run": uuid.uuid4().hex, "passes": parts}
        hunt.params = {**hunt.params, PLAN_KEY: plan}
        hunt.steps_total = sum(_steps(plan))
        hunt.steps_done = 0
        _totals(hunt)
        hunt.save(update_fields=["params", "steps_total", "steps_done", "customers_count", "transactions_count", "damage_yen"])
        return str(plan["run"])


def _chunk_at(plan: dict[str, Any], step: int) -> tuple[str, int, int]:
    """The pass name and candidate numbers ``(a, b]`` of step ``step`` (0-based)."""
    for part, steps in zip(plan["passes"], _steps(plan), strict=True):
        if step < steps:
            low = step * part["size"]
            return part["pass"], low, min(low + part["size"], part["count"])
        step -= steps
    raise IndexError("step beyond the plan")


def _totals(hunt: Hunt) -> None:
    sums = HuntHit.objects.filter(hunt=hunt).aggregate(customers=Count("id"), transactions=Sum("transactions_count"), yen=Sum("amount_yen"))
    hunt.customers_count = sums["customers"] or 0
    hunt.transactions_count = sums["transactions"] or 0
    hunt.damage_yen = sums["yen"] or 0


def _step(hunt_id: int, run: str) -> bool:
    """Run the next chunk; False when there is nothing left for this runner to do."""
    with transaction.atomic():
        hunt = Hunt.objects.select_for_update().filter(pk=hunt_id).first()
        if hunt is None or hunt.state != Hunt.State.RUNNING:
            return False
        plan = hunt.params.get(PLAN_KEY) or {}
        if plan.get("run") != run:
            return False  # restarted by another runner, which carries on
        if hunt.steps_done >= hunt.steps_total:
            _totals(hunt)
            hunt.state = Hunt.State.DONE
            hunt.finished_at = timezone.now()
            hunt.save(update_fields=["state", "finished_at", "customers_count", "transactions_count", "damage_yen"])
            return False
        rule = HUNT_RULES[hunt.rule_kind]
        name, low, high = _chunk_at(plan, hunt.steps_done)
        scan = next(scan for scan in rule.passes(hunt.params) if scan.name == name)
        params = {**rule.sql_params(hunt.params), "a": low, "b": high, "start": hunt.period_start, "end": hunt.period_end}
        with connection.cursor() as cursor:
            # Chunks are many short statements: compiling each with JIT costs more than it saves.
            cursor.execute("SET LOCAL jit = off")
            cursor.execute(scan.items.replace("{candidates}", _candidates_table(hunt_id, scan)), params)
            items = cursor.fetchall()
            if items:
                customers, transfers, yen, ats = (list(column) for column in zip(*items, strict=True))
                merge: dict[str, Any] = {"hunt_id": hunt.pk, "customer_ids": customers, "transfer_ids": transfers, "yen": yen, "ats": ats}
                cursor.execute(MERGE_SQL.format(hits=HuntHit._meta.db_table), merge)
        hunt.steps_done += 1
        _totals(hunt)
        hunt.save(update_fields=["steps_done", "customers_count", "transactions_count", "damage_yen"])
    return True


def hunt_run(*, hunt_id: int) -> Hunt | None:
    """Run (or resume) the hunt to the end. Safe to call twice, also at the same time.
    An error marks the hunt failed with the message; it is not raised again, so the
    staff member sees it on the hunt's page rather than a worker log."""
    try:
        run = _claim(hunt_id)
        while run is not None and _step(hunt_id, run):
            pass
    except Exception as exc:
        logger.exception("hunt %s failed", hunt_id)
        Hunt.objects.filter(pk=hunt_id, state__in=(Hunt.State.QUEUED, Hunt.State.RUNNING)).update(
            state=Hunt.State.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now()
        )
    finally:
        if not connection.needs_rollback:
            _candidates_drop(hunt_id)
    return Hunt.objects.filter(pk=hunt_id).first()
