"""The Japan Post request file of a postal batch: one row per payout, so Japan Post Bank
mails each holder a cash certificate (払出証書). The request format is contract-specific
(ZENGIN.md); ours is documented in docs/payouts.md and written only here."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass

from backoffice.selectors.general import csv_safe

POSTAL_CSV_HEADER = ["payout_id", "claim_number", "name", "name_kana", "postal_code", "address", "amount_yen"]


@dataclass(frozen=True)
class PostalRequest:
    payout_id: int
    claim_number: str
    name: str
    name_kana: str
    postal_code: str
    address: str
    amount_yen: int


@dataclass(frozen=True)
class PostalSummary:
    record_count: int
    total_yen: int


def write_postal_file(*, requests: Iterable[PostalRequest], out: io.BytesIO) -> PostalSummary:
    """UTF-8 (no BOM), a header row, CRLF line ends (RFC 4180), every field as given except that
    customer-typed text starting with = + - @ gets a leading apostrophe: finance opens these files
    in spreadsheets, and a name must never run as a formula (CSV injection)."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(POSTAL_CSV_HEADER)
    count = 0
    total = 0
    for request in requests:
        count += 1
        total += request.amount_yen
        writer.writerow(
            [
                request.payout_id,
                request.claim_number,
                csv_safe(request.name),
                csv_safe(request.name_kana),
                request.postal_code,
                csv_safe(request.address),
                request.amount_yen,
            ]
        )
    text.flush()
    text.detach()
    return PostalSummary(record_count=count, total_yen=total)
