"""Register a store register or ATM and print its API key (shown this once only).

manage.py terminal_create --merchant lawson-shibuya --name "Register 1"
manage.py terminal_create --merchant seven-atm --merchant-name "Seven Bank" --name "ATM 12" --kind atm
manage.py terminal_create --rotate 7
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...models import Merchant, Terminal
from ...services.terminals import merchant_create, terminal_create, terminal_key_rotate


class Command(BaseCommand):
    help = "Create a terminal (or rotate a terminal's key) and print the API key once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--merchant", help="Merchant code (slug).")
        parser.add_argument("--merchant-name", help="Create the merchant with this name if the code is new.")
        parser.add_argument("--name", help="Terminal name, e.g. 'Register 1'.")
        parser.add_argument("--kind", choices=Terminal.Kind.values, default=Terminal.Kind.STORE_REGISTER)
        parser.add_argument("--rotate", type=int, metavar="TERMINAL_ID", help="Issue a new key for this terminal instead.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["rotate"] is not None:
            terminal = Terminal.objects.select_related("merchant").filter(pk=options["rotate"]).first()
            if terminal is None:
                raise CommandError(f"No terminal with id {options['rotate']}.")
            terminal, key = terminal_key_rotate(terminal=terminal)
            self._print(terminal, key, "New key (the old one no longer works)")
            return
        if not options["merchant"] or not options["name"]:
            raise CommandError("--merchant and --name are required.")
        merchant = Merchant.objects.filter(code=options["merchant"]).first()
        if merchant is None:
            if not options["merchant_name"]:
                raise CommandError(f"No merchant {options['merchant']!r}; pass --merchant-name to create it.")
            try:
                merchant = merchant_create(name=options["merchant_name"], code=options["merchant"])
            except ValidationError as exc:
                raise CommandError(f"Merchant code: {' '.join(exc.messages)}") from exc
        terminal, key = terminal_create(merchant=merchant, name=options["name"], kind=options["kind"])
        self._print(terminal, key, "API key")

    def _print(self, terminal: Terminal, key: str, label: str) -> None:
        self.stdout.write(f"Terminal {terminal.pk}: {terminal} ({terminal.get_kind_display()})")
        self.stdout.write(f"{label}: {key}")
        self.stdout.write("Store it in the terminal now: it is not kept and cannot be shown again.")
