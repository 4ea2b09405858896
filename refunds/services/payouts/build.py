"""Building a payout batch: every approved claim of one method, in one transaction.

Why it is shaped like this:

- One PostgreSQL advisory transaction lock per method serialises builders: a second
  run (the schedule and the "build now" button at once, or a task Redis redelivered)
  waits, then finds no approved claim left and builds nothing.
- The approved claims are row-locked before anything is written, so a reviewer who
  rejects one at that moment waits and then sees it scheduled (and is refused),
  instead of the claim leaving with its money already returned to the wallet.
- Payouts, the claims' move to ``scheduled`` and their history rows are three
  set-based statements keyed by the batch (INSERT … SELECT, UPDATE … WHERE id IN),
  and the file streams from a server-side cursor: 120,000 claims take seconds, not
  the minutes one ``save()`` per row would.
- Everything, file included, commits together. A killed worker rolls the whole
  build back, so there is never half a batch; the one-live-payout-per-claim index
  makes a second payout of a claim impossible whatever happens.

A claim whose customer is frozen or has an open case at batch time goes to review
through the state machine (with its reason) instead of into the file. A record the
Zengin writer refuses holds its claim the same way and the build is retried without it.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from backoffice.models import Case
from backoffice.services.audit import staff_action_record
from wallet.field_length import fit
from wallet.models import AccountFreeze, User

from ...models import BankDetails, ClaimEvent, Payout, PayoutBatch, PostalDetails, RefundClaim
from ...zengin.calendar import is_bank_business_day, next_bank_business_day
from ...zengin.file_format import Originator
from ..claims import claim_state_set
from ..errors import RefundRefused
from .common import BUILD_PERMISSION, batch_file_name, sha256_hex
from .files import RecordRefused, batch_file_write, zengin_line_ending, zengin_originator

logger = logging.getLogger(__name__)

# How many claims the writer may refuse in one build before we stop and ask a person.
MAX_REFUSED_RECORDS = 20


def default_transfer_date(today: date | None = None) -> date:
    """The next bank business day after today (Japan time): today's cut-off has usually passed by the time a file is approved."""
    return next_bank_business_day(today or timezone.localdate(), include_today=False)


def build_checkpoint(stage: str) -> None:
    """Does nothing. ``payout_batch_build`` calls it at fixed points inside its transaction (``locked``:
    the advisory lock taken; ``built``: everything written, before the commit) so the crash test (T4)
    can hold a build there and kill its worker inside the transaction by design, not by timing: its
    workers replace this function (tests/reliability/build_pause.py)."""


def _advisory_lock(method: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"refunds.payout_batch_build:{method}"])


def _approved(method: str) -> Any:
    return RefundClaim.objects.filter(state=RefundClaim.State.APPROVED, method=method)


def _details_model(method: str) -> type[BankDetails] | type[PostalDetails]:
    return BankDetails if method == PayoutBatch.Method.BANK else PostalDetails


def _hold(claim: RefundClaim, reasons: list[str], actor: User | None, note: str, detail: dict[str, Any] | None = None) -> None:
    claim.hold_reasons = sorted({*claim.hold_reasons, *reasons})
    claim_state_set(
        claim=claim,
        to_state=RefundClaim.State.REVIEW,
        actor=actor,
        kind="held",
        note=note,
        detail={"reasons": reasons, "at": "payout_batch_build", **(detail or {})},
    )


def _hold_at_batch_time(method: str, actor: User | None) -> int:
    """Re-check what can change after approval: a freeze, an open case, details gone missing."""
    details = _details_model(method).objects.filter(claim_id=OuterRef("pk"), superseded_at__isnull=True)
    frozen = Exists(AccountFreeze.objects.active().filter(user_id=OuterRef("customer_id"))) | Exists(
        User.objects.filter(pk=OuterRef("customer_id"), status=User.Status.FROZEN)
    )
    case = Exists(Case.objects.filter(customer_id=OuterRef("customer_id"), status__in=Case.OPEN_STATUSES))
    flagged = list(
        _approved(method)
        .annotate(is_frozen=frozen, has_case=case, has_details=Exists(details))
        .filter(Q(is_frozen=True) | Q(has_case=True) | Q(has_details=False))
        .order_by("pk")
        .values_list("pk", "is_frozen", "has_case", "has_details")
    )
    flags = {pk: (is_frozen, has_case, has_details) for pk, is_frozen, has_case, has_details in flagged}
    held = 0
    for claim in RefundClaim.objects.select_for_update().filter(pk__in=list(flags), state=RefundClaim.State.APPROVED).order_by("pk"):
        is_frozen, has_case, has_details = flags[claim.pk]
        reasons = [code for code, on in (("frozen", is_frozen), ("case_open", has_case), ("details_missing", not has_details)) if on]
        _hold(claim, reasons, actor, gettext("Held when the payout batch was built."))
        held += 1
    return held


def _lock_approved(method: str) -> int:
    """Row-lock every approved claim of the method (in id order) and count them."""
    table = RefundClaim._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT id FROM {table} WHERE state = %s AND method = %s ORDER BY id FOR UPDATE) AS locked",  # noqa: S608
            [RefundClaim.State.APPROVED, method],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _insert_payouts(batch: PayoutBatch, moment: datetime) -> int:
    """One payout per approved claim, with its current details; new-code 2 after an earlier return."""
    payout, claim = Payout._meta.db_table, RefundClaim._meta.db_table
    bank = batch.method == PayoutBatch.Method.BANK
    details = _details_model(batch.method)._meta.db_table
    columns = "d.id, NULL" if bank else "NULL, d.id"
    # The claims that had a payout returned, gathered once up front: a correlated EXISTS on the table being
    # inserted into would rescan every new row for every claim (quadratic on a large batch).
    sql = f"""
        WITH returned AS MATERIALIZED (SELECT DISTINCT claim_id FROM {payout} WHERE state = %s)
        INSERT INTO {payout}
            (batch_id, claim_id, bank_details_id, postal_details_id, amount_yen, new_code, state, result_reason, created_at)
        SELECT %s, c.id, {columns}, c.amount_yen, CASE WHEN r.claim_id IS NULL THEN %s ELSE %s END, %s, '', %s
        FROM {claim} c
        JOIN {details} d ON d.claim_id = c.id AND d.superseded_at IS NULL
        LEFT JOIN returned r ON r.claim_id = c.id
        WHERE c.state = %s AND c.method = %s
        ORDER BY c.id
    """  # noqa: S608 - table names come from the models, values are parameters
    params: list[Any] = [
        Payout.State.RETURNED,
        batch.pk,
        Payout.NewCode.FIRST,
        Payout.NewCode.CHANGED,
        Payout.State.SCHEDULED,
        connection.ops.adapt_datetimefield_value(moment),
        RefundClaim.State.APPROVED,
        batch.method,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def _schedule_claims(batch: PayoutBatch, moment: datetime, actor: User | None) -> int:
    """approved → scheduled for the batch's claims, and one history row each (the state machine's move, set-based)."""
    assert RefundClaim.State.SCHEDULED in RefundClaim.TRANSITIONS[RefundClaim.State.APPROVED]
    payout, claim, event = Payout._meta.db_table, RefundClaim._meta.db_table, ClaimEvent._meta.db_table
    stamp = connection.ops.adapt_datetimefield_value(moment)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {claim} SET state = %s, updated_at = %s"  # noqa: S608 - table names from the models, values are parameters
            f" WHERE state = %s AND id IN (SELECT claim_id FROM {payout} WHERE batch_id = %s)",
            [RefundClaim.State.SCHEDULED, stamp, RefundClaim.State.APPROVED, batch.pk],
        )
        moved = int(cursor.rowcount)
        cursor.execute(
            f"""
            INSERT INTO {event} (claim_id, actor_id, kind, from_state, to_state, note, detail, created_at)
            SELECT claim_id, %s, 'batched', %s, %s, '', jsonb_build_object('batch', batch_id, 'payout', id), %s
            FROM {payout} WHERE batch_id = %s ORDER BY id
            """,  # noqa: S608
            [actor.pk if actor else None, RefundClaim.State.APPROVED, RefundClaim.State.SCHEDULED, stamp, batch.pk],
        )
    return moved


def _build_once(
    *,
    method: str,
    transfer_date: date,
    task_id: str,
    acting_user: User | None,
    ip: str | None,
    originator: Originator | None,
    line_ending: bytes,
) -> PayoutBatch | None:
    approved = _lock_approved(method)
    if approved == 0:
        return None
    moment = timezone.now()
    batch = PayoutBatch.objects.create(
        method=method,
        state=PayoutBatch.State.AWAITING_RELEASE,
        transfer_date=transfer_date,
        file_content=b"",
        file_sha256="",
        built_by_task=fit(PayoutBatch, "built_by_task", task_id),
        built_by=acting_user,
        built_at=moment,
    )
    inserted = _insert_payouts(batch, moment)
    moved = _schedule_claims(batch, moment, acting_user)
    if moved != inserted:
        raise RuntimeError(f"batch {batch.pk}: {inserted} payouts but {moved} claims scheduled")
    if inserted != approved:  # pragma: no cover - _hold_at_batch_time held every claim without details
        logger.warning("batch %s: %s approved claims, %s payouts (the rest stay approved)", batch.pk, approved, inserted)
    content, count, total = batch_file_write(batch, originator, line_ending)
    sums = Payout.objects.filter(batch=batch).aggregate(count=Count("pk"), total=Sum("amount_yen"))
    if (count, total) != (sums["count"], sums["total"]):
        raise RuntimeError(f"batch {batch.pk}: the file holds {count} / ¥{total}, the payouts {sums['count']} / ¥{sums['total']}")
    batch.file_name = batch_file_name(batch_id=batch.pk, method=method, transfer_date=transfer_date)
    batch.file_content = content
    batch.file_sha256 = sha256_hex(content)
    batch.payout_count = count
    batch.total_yen = total
    batch.save(update_fields=["file_name", "file_content", "file_sha256", "payout_count", "total_yen"])
    staff_action_record(
        acting_user=acting_user,
        action="payout_batch.build",
        target=batch,
        after={
            "method": method,
            "transfer_date": transfer_date.isoformat(),
            "payouts": count,
            "total_yen": total,
            "sha256": batch.file_sha256,
            "task": task_id,
        },
        ip=ip,
    )
    return batch


def payout_batch_build(
    *,
    method: str,
    transfer_date: date | None = None,
    task_id: str = "",
    acting_user: User | None = None,
    ip: str | None = None,
) -> PayoutBatch | None:
    """Gather every approved claim of ``method`` into one batch with its file, or return None when there is none.

    ``acting_user`` is the finance user who pressed "build a batch now" (needs
    ``refunds.release_payoutbatch``); the scheduled task passes none. Raises
    ``RefundRefused`` and changes nothing when refused."""
    if method not in PayoutBatch.Method.values:
        raise RefundRefused(RefundRefused.Code.INVALID_METHOD, _("Choose bank transfer or Japan Post."))
    if acting_user is not None and not acting_user.has_perm(BUILD_PERMISSION):
        raise RefundRefused(RefundRefused.Code.NOT_ALLOWED, _("You are not allowed to build payout batches."))
    day = transfer_date or default_transfer_date()
    if not is_bank_business_day(day):
        raise RefundRefused(
            RefundRefused.Code.NOT_BUSINESS_DAY,
            gettext("%(date)s is not a bank business day: choose another transfer date.") % {"date": day.isoformat()},
        )
    bank = method == PayoutBatch.Method.BANK
    originator = zengin_originator() if bank else None
    line_ending = zengin_line_ending() if bank else b"\r\n"
    with transaction.atomic():
        _advisory_lock(method)
        build_checkpoint("locked")
        _hold_at_batch_time(method, acting_user)
        for _attempt in range(MAX_REFUSED_RECORDS):
            try:
                with transaction.atomic():  # a savepoint: a refused record undoes this attempt only
                    batch = _build_once(
                        method=method,
                        transfer_date=day,
                        task_id=task_id,
                        acting_user=acting_user,
                        ip=ip,
                        originator=originator,
                        line_ending=line_ending,
                    )
                build_checkpoint("built")
                return batch
            except RecordRefused as refused:
                claim = RefundClaim.objects.select_for_update().get(pk=refused.claim_id)
                logger.warning("payout file refused the record of claim %s: %s", claim.number, refused.message)
                _hold(
                    claim,
                    ["payout_file_refused"],
                    acting_user,
                    gettext("The Zengin file writer refused this claim's record: %(error)s") % {"error": refused.message},
                )
    # The holds commit (those claims wait in review), so the next build starts past them.
    raise RefundRefused(
        RefundRefused.Code.TOO_MANY_REFUSED_RECORDS,
        gettext("The Zengin writer refused %(count)d records; those claims are now in review. Build again.")
        % {"count": MAX_REFUSED_RECORDS},
    )
