"""Importing the bank's (or Japan Post's) results: which payouts were paid and which came back.

The file is ``payout_id,status,reason`` (docs/payouts.md). The whole file is checked
first, under row locks of the payouts it names, and any problem is reported by line
with nothing changed. The same file twice (by SHA-256) is refused; a row whose payout
already has the reported state is counted as unchanged, so an overlapping second
file from the bank is harmless.

- ``paid``: payout paid, claim paid (set-based, in chunks), the customer mailed.
- ``returned``: payout returned with the bank's reason, the money moved back from
  payout_clearing to refund_payable (one transfer per payout, keyed by it), the claim
  ``returned`` and the customer asked to correct the details; the corrected claim is
  approved again and leaves in a later batch with new-code 2.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, TypeVar

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from backoffice.services.audit import staff_action_record
from wallet.field_length import fit
from wallet.models import Notification, Transfer, User
from wallet.services.ledger import Leg, system_account, transfer_post
from wallet.services.notifications import notification_enqueue

from ...models import ClaimEvent, Payout, PayoutBatch, PayoutResultImport, RefundClaim
from ..claims import claim_state_set
from ..errors import RefundRefused
from .common import IMPORT_PERMISSION, sha256_hex

RESULTS_HEADER = ["payout_id", "status", "reason"]
STATUSES = (Payout.State.PAID, Payout.State.RETURNED)
MAX_RESULTS_BYTES = 32 * 1024 * 1024
MAX_REASON = 200
MAX_ERRORS_SHOWN = 200
CHUNK = 5000

T = TypeVar("T")


class PayoutResultsInvalid(RefundRefused):
    """The file was refused as a whole; ``errors`` are line-numbered sentences. Nothing changed."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(
            "invalid_results",
            gettext("The results file has %(count)d problem(s); nothing was imported.") % {"count": len(errors)},
        )
        self.errors = errors


class PayoutResultsAlreadyImported(RefundRefused):
    """The same file (by SHA-256) was imported before; ``previous`` is that import."""

    def __init__(self, previous: PayoutResultImport | None) -> None:
        when = timezone.localtime(previous.imported_at).strftime("%Y-%m-%d %H:%M") if previous else ""
        super().__init__("already_imported", gettext("This file was already imported (%(when)s); nothing was changed.") % {"when": when})
        self.previous = previous


@dataclass(frozen=True)
class ResultRow:
    line: int
    payout_id: int
    status: str
    reason: str


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _line(line: int, message: str) -> str:
    return gettext("Line %(line)d: %(problem)s") % {"line": line, "problem": message}


Problem = tuple[int, str]  # (line, message); line 0 is the file as a whole


def _formatted(problems: list[Problem]) -> list[str]:
    ordered = sorted(problems, key=lambda problem: problem[0])
    return [message if line == 0 else _line(line, message) for line, message in ordered][:MAX_ERRORS_SHOWN]


def _parse(content: bytes) -> tuple[list[ResultRow], list[Problem]]:
    if not content.strip():
        return [], [(0, gettext("The file is empty."))]
    if len(content) > MAX_RESULTS_BYTES:
        return [], [(0, gettext("The file is larger than %(mb)d MB; split it.") % {"mb": MAX_RESULTS_BYTES // (1024 * 1024)})]
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [(0, gettext("The file is not UTF-8 text (byte %(position)d).") % {"position": exc.start + 1})]
    reader = csv.reader(io.StringIO(text, newline=""))
    problems: list[Problem] = []
    rows: list[ResultRow] = []
    seen: dict[int, int] = {}
    try:
        header = next(reader, None)
        if header is None or [cell.strip().lower() for cell in header] != RESULTS_HEADER:
            return [], [(1, gettext("the header must be exactly “payout_id,status,reason”."))]
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != 3:
                problems.append((line, gettext("expected 3 columns (payout_id,status,reason), found %(count)d.") % {"count": len(cells)}))
                continue
            raw_id, raw_status, raw_reason = (cell.strip() for cell in cells)
            status = raw_status.lower()
            reason = " ".join(raw_reason.split())
            found: list[str] = []
            payout_id = int(raw_id) if raw_id.isascii() and raw_id.isdigit() and 0 < len(raw_id) <= 10 else 0
            if payout_id <= 0:
                found.append(gettext("“%(value)s” is not a payout id.") % {"value": raw_id[:20]})
            elif payout_id in seen:
                found.append(gettext("payout %(id)d is already on line %(first)d.") % {"id": payout_id, "first": seen[payout_id]})
            else:
                seen[payout_id] = line
            if status not in STATUSES:
                found.append(gettext("the status must be “paid” or “returned”, not “%(value)s”.") % {"value": raw_status[:20]})
            if status == Payout.State.RETURNED and not reason:
                found.append(gettext("a returned payout needs the bank's reason."))
            if len(reason) > MAX_REASON:
                found.append(gettext("the reason is longer than %(max)d characters.") % {"max": MAX_REASON})
            usable = payout_id > 0 and seen.get(payout_id) == line and status in STATUSES
            if found:
                problems.extend((line, problem) for problem in found)
            if usable:
                # A row with other problems is still checked against the database, so every problem is listed at once.
                rows.append(
                    ResultRow(line=line, payout_id=payout_id, status=status, reason=reason if status == Payout.State.RETURNED else "")
                )
    except csv.Error as exc:
        problems.append((reader.line_num, gettext("the CSV cannot be read (%(error)s).") % {"error": exc}))
    if not rows and not problems:
        problems.append((0, gettext("The file has a header but no results.")))
    return rows, problems


def payout_results_parse(content: bytes) -> tuple[list[ResultRow], list[str]]:
    """Rows and line-numbered errors of a results file, checked without the database."""
    rows, problems = _parse(content)
    return rows, _formatted(problems)


class PayoutFacts(NamedTuple):
    """What the check needs of a payout, read as plain values (no model instances for 120,000 rows)."""

    pk: int
    state: str
    claim_id: int
    amount_yen: int
    batch_id: int
    batch_state: str


def _payouts(ids: list[int], *, lock: bool) -> dict[int, PayoutFacts]:
    payouts: dict[int, PayoutFacts] = {}
    for chunk in _chunks(sorted(ids)):
        query = Payout.objects.filter(pk__in=chunk).order_by("pk")
        if lock:
            # Locked in id order, like every other writer of payouts, so two imports cannot deadlock.
            query = query.select_for_update(of=("self",))
        for row in query.values_list("pk", "state", "claim_id", "amount_yen", "batch_id", "batch__state"):
            facts = PayoutFacts(*row)
            payouts[facts.pk] = facts
    return payouts


def _database_problems(rows: list[ResultRow], payouts: dict[int, PayoutFacts]) -> list[Problem]:
    return [(row.line, problem) for row in rows if (problem := _row_problem(row, payouts.get(row.payout_id)))]


def _row_problem(row: ResultRow, payout: PayoutFacts | None) -> str | None:
    if payout is None:
        return gettext("there is no payout %(id)d.") % {"id": row.payout_id}
    if payout.batch_state != PayoutBatch.State.DELIVERED:
        return gettext("payout %(id)d is in batch %(batch)d, which has not been delivered (%(state)s).") % {
            "id": payout.pk,
            "batch": payout.batch_id,
            "state": PayoutBatch.State(payout.batch_state).label,
        }
    if payout.state == row.status:
        return None
    if payout.state == Payout.State.PAID:
        return gettext(
            "payout %(id)d was reported paid earlier and cannot be returned later; ask the bank, and correct it with a ledger correction."
        ) % {"id": payout.pk}
    if payout.state == Payout.State.RETURNED:
        return gettext("payout %(id)d was reported returned earlier and cannot be paid now.") % {"id": payout.pk}
    if payout.state != Payout.State.SENT:
        return gettext("payout %(id)d is “%(state)s”, not sent.") % {"id": payout.pk, "state": Payout.State(payout.state).label}
    return None


def _mark_paid(payouts: list[PayoutFacts], result: PayoutResultImport, actor: User, moment: datetime) -> None:
    """sent → paid and scheduled → paid, set-based: the payouts by id in chunks, then the claims, their
    history rows and the customers' mails keyed by this import."""
    assert RefundClaim.State.PAID in RefundClaim.TRANSITIONS[RefundClaim.State.SCHEDULED]
    updated = 0
    for chunk in _chunks([payout.pk for payout in payouts]):
        updated += Payout.objects.filter(pk__in=chunk, state=Payout.State.SENT).update(
            state=Payout.State.PAID, result_at=moment, result_import=result
        )
    payout, claim, event = Payout._meta.db_table, RefundClaim._meta.db_table, ClaimEvent._meta.db_table
    stamp = connection.ops.adapt_datetimefield_value(moment)
    mine = f"SELECT claim_id FROM {payout} WHERE result_import_id = %s AND state = %s"  # noqa: S608 - table names from the models
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {claim} SET state = %s, paid_at = %s, updated_at = %s WHERE state = %s AND id IN ({mine})",  # noqa: S608
            [RefundClaim.State.PAID, stamp, stamp, RefundClaim.State.SCHEDULED, result.pk, Payout.State.PAID],
        )
        moved = int(cursor.rowcount)
        if updated != len(payouts) or moved != len(payouts):
            raise RefundRefused(
                RefundRefused.Code.INCONSISTENT,
                gettext("Some of these payouts or their claims changed meanwhile; nothing was imported. Try again."),
            )
        cursor.execute(
            f"""
            INSERT INTO {event} (claim_id, actor_id, kind, from_state, to_state, note, detail, created_at)
            SELECT claim_id, %s, 'paid', %s, %s, '', jsonb_build_object('payout', id, 'batch', batch_id, 'import', result_import_id), %s
            FROM {payout} WHERE result_import_id = %s AND state = %s ORDER BY id
            """,  # noqa: S608
            [actor.pk, RefundClaim.State.SCHEDULED, RefundClaim.State.PAID, stamp, result.pk, Payout.State.PAID],
        )
    # The outbox rows, as notification_enqueue writes them, one INSERT per chunk; relayed after commit.
    rows = (
        Payout.objects.filter(result_import=result, state=Payout.State.PAID)
        .order_by("pk")
        .values_list(
            "amount_yen",
            "claim__number",
            "claim__method",
            "claim__customer_id",
            "claim__customer__email",
            "claim__customer__preferred_language",
        )
    )
    batch: list[Notification] = []
    for amount, number, method, customer_id, email, language in rows.iterator(chunk_size=CHUNK):
        batch.append(
            Notification(
                user_id=customer_id,
                to_address=email,
                kind="refund_claim_paid",
                language=language or settings.LANGUAGE_CODE,
                context={"claim_number": number, "amount_yen": amount, "method": method, "state": RefundClaim.State.PAID},
                created_at=moment,
                send_after=moment,
            )
        )
        if len(batch) >= CHUNK:
            Notification.objects.bulk_create(batch)
            batch = []
    if batch:
        Notification.objects.bulk_create(batch)


def _mark_returned(facts: PayoutFacts, reason: str, result: PayoutResultImport, actor: User, moment: datetime) -> None:
    payout = Payout.objects.get(pk=facts.pk)  # already locked by the import
    claim = RefundClaim.objects.select_for_update().select_related("customer").get(pk=payout.claim_id)
    transfer = transfer_post(
        kind=Transfer.Kind.REFUND_PAYOUT_RETURN,
        legs=[Leg(system_account("payout_clearing"), -payout.amount_yen), Leg(system_account("refund_payable"), payout.amount_yen)],
        idempotency_key=f"payout_return:{payout.pk}",
        description=fit(Transfer, "description", f"Payout {payout.pk} of claim {claim.number} returned: {reason}"),
        acting_user=actor,
    )
    payout.state = Payout.State.RETURNED
    payout.result_reason = fit(Payout, "result_reason", reason)
    payout.result_at = moment
    payout.return_transfer = transfer
    payout.result_import = result
    payout.save(update_fields=["state", "result_reason", "result_at", "return_transfer", "result_import"])
    claim_state_set(
        claim=claim,
        to_state=RefundClaim.State.RETURNED,
        actor=actor,
        kind="returned",
        note=reason,
        detail={"payout": payout.pk, "batch": payout.batch_id, "import": result.pk},
    )
    notification_enqueue(
        user=claim.customer,
        kind="refund_payout_returned",
        context={"claim_number": claim.number, "amount_yen": payout.amount_yen, "reason": reason, "method": claim.method},
    )


def _relay_soon() -> None:
    from wallet.tasks import notifications_relay

    notifications_relay.delay()


def payout_results_import(*, content: bytes, file_name: str, acting_user: User, ip: str | None = None) -> PayoutResultImport:
    """Apply a results file. Raises ``PayoutResultsInvalid`` (line-numbered ``errors``) or ``RefundRefused``, changing nothing."""
    if not acting_user.has_perm(IMPORT_PERMISSION):
        raise RefundRefused(RefundRefused.Code.NOT_ALLOWED, _("You are not allowed to import payout results."))
    digest = sha256_hex(content)
    if PayoutResultImport.objects.filter(file_sha256=digest).exists():
        raise _already_imported(digest)
    rows, problems = _parse(content)
    if problems:
        # Also check the rows that parsed (read only, unlocked), so one round trip lists every problem.
        problems += _database_problems(rows, _payouts([row.payout_id for row in rows], lock=False))
        raise PayoutResultsInvalid(_formatted(problems))
    with transaction.atomic():
        payouts = _payouts([row.payout_id for row in rows], lock=True)
        problems = _database_problems(rows, payouts)
        if problems:
            raise PayoutResultsInvalid(_formatted(problems))
        paid = [
            payouts[row.payout_id] for row in rows if row.status == Payout.State.PAID and payouts[row.payout_id].state == Payout.State.SENT
        ]
        returned = [row for row in rows if row.status == Payout.State.RETURNED and payouts[row.payout_id].state == Payout.State.SENT]
        moment = timezone.now()
        try:
            with transaction.atomic():
                result = PayoutResultImport.objects.create(
                    file_sha256=digest,
                    file_name=fit(PayoutResultImport, "file_name", file_name),
                    rows=len(rows),
                    paid=len(paid),
                    returned=len(returned),
                    unchanged=len(rows) - len(paid) - len(returned),
                    paid_yen=sum(p.amount_yen for p in paid),
                    returned_yen=sum(payouts[row.payout_id].amount_yen for row in returned),
                    content=content,
                    imported_by=acting_user,
                    imported_at=moment,
                )
        except IntegrityError:  # the same file imported at this moment by someone else
            raise _already_imported(digest) from None
        _mark_paid(paid, result, acting_user, moment)
        for row in returned:
            _mark_returned(payouts[row.payout_id], row.reason, result, acting_user, moment)
        staff_action_record(
            acting_user=acting_user,
            action="payout_results.import",
            target=result,
            after={
                "file": result.file_name,
                "sha256": digest,
                "rows": result.rows,
                "paid": result.paid,
                "returned": result.returned,
                "unchanged": result.unchanged,
                "paid_yen": result.paid_yen,
                "returned_yen": result.returned_yen,
            },
            ip=ip,
        )
        if paid:
            transaction.on_commit(_relay_soon, robust=True)
    return result


def _already_imported(digest: str) -> PayoutResultsAlreadyImported:
    return PayoutResultsAlreadyImported(PayoutResultImport.objects.filter(file_sha256=digest).defer("content").first())
