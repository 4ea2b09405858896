"""``manage.py ledger_check``: prove the ledger's invariants; exit 1 when one fails.

Safe on a live database: it only reads, on one snapshot. Run it after a restore,
a migration or an incident, and from monitoring.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from wallet.services.ledger_audit import SAMPLE_SIZE, ledger_verify


class Command(BaseCommand):
    help = "Prove the ledger's invariants (balanced transfers, cached balances, no negative wallet); exit 1 on a violation."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sample", type=int, default=SAMPLE_SIZE, help="How many offending ids to list per check.")

    def handle(self, *args: Any, **options: Any) -> None:
        report = ledger_verify(sample_size=options["sample"])
        for line in report.lines():
            self.stdout.write(line)
        if not report.ok:
            failed = ", ".join(check.name for check in report.failed()) or "totals"
            raise CommandError(f"ledger invariants violated: {failed}")
