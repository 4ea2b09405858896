"""``manage.py devbank_results BATCH_ID [--return-account-suffix 9999] [--out PATH]``

The development "bank": writes the results file a bank would send back for a
delivered batch, in the format finance imports (docs/payouts.md), so a person can
try the whole loop in the demo. Payouts to an account number ending in the suffix
come back ``returned`` ("口座なし / no such account"), every other one ``paid``;
a payout that already has a result is reported with it (the import counts it as
unchanged). Postal batches are all paid (Japan Post issued every certificate).

It only writes a file: nothing changes until finance imports it.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from refunds.models import Payout, PayoutBatch
from refunds.services.payouts import RESULTS_HEADER

NO_SUCH_ACCOUNT = "口座なし / no such account"


class Command(BaseCommand):
    help = "Write a bank results CSV for a delivered payout batch (development bank): accounts ending in the suffix are returned."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("batch_id", type=int)
        parser.add_argument("--return-account-suffix", default="9999", help="Account numbers ending in this come back returned.")
        parser.add_argument("--out", help="Write the CSV here instead of to standard output.")

    def handle(self, *args: Any, **options: Any) -> None:
        suffix = str(options["return_account_suffix"]).strip()
        if not suffix.isdigit():
            raise CommandError("--return-account-suffix must be digits.")
        batch = PayoutBatch.objects.defer("file_content").filter(pk=options["batch_id"]).first()
        if batch is None:
            raise CommandError(f"There is no payout batch {options['batch_id']}.")
        if batch.state != PayoutBatch.State.DELIVERED:
            raise CommandError(f"Batch {batch.pk} is {batch.state}: the bank only reports on a delivered file.")
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(RESULTS_HEADER)
        counts = {"paid": 0, "returned": 0}
        rows = Payout.objects.filter(batch=batch).order_by("pk").values_list("pk", "state", "result_reason", "bank_details__account_number")
        for pk, state, reason, account_number in rows.iterator(chunk_size=5000):
            if state in (Payout.State.PAID, Payout.State.RETURNED):
                status, why = state, reason
            elif batch.method == PayoutBatch.Method.BANK and (account_number or "").endswith(suffix):
                status, why = Payout.State.RETURNED, NO_SUCH_ACCOUNT
            else:
                status, why = Payout.State.PAID, ""
            counts[status] += 1
            writer.writerow([pk, status, why])
        data = buffer.getvalue().encode("utf-8")
        if options.get("out"):
            Path(options["out"]).write_bytes(data)
            self.stderr.write(f"batch {batch.pk}: {counts['paid']} paid, {counts['returned']} returned → {options['out']}")
        else:
            self.stdout.write(buffer.getvalue(), ending="")
