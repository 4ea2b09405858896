"""The batch's file, written from the payouts just inserted: the 総合振込 file for bank batches
(``refunds/zengin/transfer_file.py``, our side from the ``ZENGIN_*`` settings) and the
Japan Post request CSV for postal ones (``postal.py``). Rows stream from a server-side
cursor, so a batch of 120,000 never sits in memory as model instances."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext

from wallet.errors import Refused

from ...models import Payout, PayoutBatch
from ...zengin.file_format import Originator, TransferRecord, ZenginFileError
from ...zengin.transfer_file import write_transfer_file
from ..errors import RefundRefused
from .common import sha256_hex
from .postal import PostalRequest, write_postal_file

logger = logging.getLogger(__name__)

LINE_ENDINGS = {"CRLF": b"\r\n", "LF": b"\n", "CR": b"\r", "NONE": b""}
CHUNK = 5000


class RecordRefused(Refused):
    """The writer refused one payout's record; ``claim_id`` names its claim."""

    class Code(StrEnum):
        RECORD_INVALID = "record_invalid"

    def __init__(self, claim_id: int, message: str) -> None:
        super().__init__(self.Code.RECORD_INVALID, message)
        self.claim_id = claim_id


@dataclass
class _Cursor:
    """Which claim the writer is looking at, so a refused record can be traced to it."""

    records: int = 0
    claim_id: int = 0


def zengin_originator() -> Originator:
    """Our side of the header, from settings (``ZENGIN_*``); the bank and branch names are the master's."""
    from ..banks import bank_master

    bank_code, branch_code = settings.ZENGIN_BANK_CODE, settings.ZENGIN_BRANCH_CODE
    bank_name = branch_name = ""
    try:
        master = bank_master()
        bank = master.bank(bank_code)
        branch = master.branch(bank_code, branch_code)
        bank_name = bank.kana if bank is not None else ""
        branch_name = branch.kana if branch is not None else ""
    except Exception:  # the names are optional in the header; the codes route the money
        logger.warning("bank master unavailable: the payout file header carries no bank and branch names", exc_info=True)
    return Originator(
        company_code=str(settings.ZENGIN_COMPANY_CODE),
        company_name=str(settings.ZENGIN_COMPANY_NAME_KANA),
        bank_code=str(bank_code),
        bank_name=bank_name,
        branch_code=str(branch_code),
        branch_name=branch_name,
        account_type=int(settings.ZENGIN_ACCOUNT_TYPE),
        account_number=str(settings.ZENGIN_ACCOUNT_NUMBER),
    )


def zengin_line_ending() -> bytes:
    name = str(settings.ZENGIN_LINE_ENDING).upper()
    if name not in LINE_ENDINGS:
        raise ImproperlyConfigured(f"ZENGIN_LINE_ENDING must be one of {', '.join(LINE_ENDINGS)}, not {name!r}")
    return LINE_ENDINGS[name]


def _bank_records(batch: PayoutBatch, cursor_state: _Cursor) -> Iterator[TransferRecord]:
    rows = (
        Payout.objects.filter(batch=batch)
        .order_by("pk")
        .values_list(
            "pk",
            "claim_id",
            "amount_yen",
            "new_code",
            "bank_details__bank_code",
            "bank_details__bank_name_kana",
            "bank_details__branch_code",
            "bank_details__branch_name_kana",
            "bank_details__account_type",
            "bank_details__account_number",
            "bank_details__holder_name",
        )
        .iterator(chunk_size=CHUNK)  # a server-side cursor on PostgreSQL: the batch never sits in memory as rows
    )
    for pk, claim_id, amount, new_code, bank, bank_kana, branch, branch_kana, account_type, number, holder in rows:
        cursor_state.records += 1
        cursor_state.claim_id = claim_id
        yield TransferRecord(
            bank_code=bank,
            branch_code=branch,
            account_type=account_type,
            account_number=number,
            recipient_name=holder,
            amount_yen=amount,
            new_code=new_code,
            customer_code_1=pk,
            bank_name=bank_kana,
            branch_name=branch_kana,
        )


def _postal_requests(batch: PayoutBatch) -> Iterator[PostalRequest]:
    rows = (
        Payout.objects.filter(batch=batch)
        .order_by("pk")
        .values_list(
            "pk",
            "claim__number",
            "amount_yen",
            "postal_details__name",
            "postal_details__name_kana",
            "postal_details__postal_code",
            "postal_details__address",
        )
        .iterator(chunk_size=CHUNK)
    )
    for pk, number, amount, name, kana, postal_code, address in rows:
        yield PostalRequest(
            payout_id=pk, claim_number=number, name=name, name_kana=kana, postal_code=postal_code, address=address, amount_yen=amount
        )


def batch_file_write(batch: PayoutBatch, originator: Originator | None, line_ending: bytes) -> tuple[bytes, int, int]:
    out = io.BytesIO()
    if batch.method == PayoutBatch.Method.POSTAL:
        postal = write_postal_file(requests=_postal_requests(batch), out=out)
        return out.getvalue(), postal.record_count, postal.total_yen
    assert originator is not None
    where = _Cursor()
    try:
        summary = write_transfer_file(
            originator=originator, transfer_date=batch.transfer_date, records=_bank_records(batch, where), out=out, line_ending=line_ending
        )
    except ZenginFileError as exc:
        if where.records == 0:  # the header: our own settings are wrong
            raise RefundRefused(
                RefundRefused.Code.ORIGINATOR_INVALID, gettext("Our Zengin settings are refused: %(error)s") % {"error": exc.message}
            ) from exc
        raise RecordRefused(where.claim_id, exc.message) from exc
    content = out.getvalue()
    if sha256_hex(content) != summary.sha256:  # pragma: no cover - the writer hashes what it wrote
        raise RuntimeError("the transfer file's digest changed while it was kept")
    return content, summary.record_count, summary.total_yen
