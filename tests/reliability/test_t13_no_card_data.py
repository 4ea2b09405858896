"""T13: after adding every test card (and every way of failing to), a pg_dump of the database
and the DEBUG logs hold no card number (Luhn-valid 13-19 digit run) and no security-code field.

The whole flow goes through the Django test client and the development gateway's hosted
page, SQL statements are logged with their parameters, and the mails sent are scanned too.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core import mail
from django.db import connection
from django.test import Client
from django.urls import reverse

from tests.conftest import enrol_totp, make_customer
from tests.wallet.test_account import verified_client
from tests.wallet.test_cards import (
    ALL_TEST_CARDS,
    THREE_DS,
    VISA,
    add_card,
    card_details,
    fingerprint_of,
)
from wallet.adapters.cards import DevCardGateway, GatewayTimeout, get_card_gateway
from wallet.models import Card

# Bounded like \b: a run inside a hex digest or token ("ab1234...") is not a card number.
DIGIT_RUN = re.compile(r"(?<![0-9A-Za-z_])[0-9]{13,19}(?![0-9A-Za-z_])")
GROUPED_RUN = re.compile(r"(?<![0-9A-Za-z_])[0-9]{4}(?:[ -][0-9]{4}){2}[ -][0-9]{1,7}(?![0-9A-Za-z_])")
# A column, key or parameter meant for a security code, or one holding a value.
# Bounded on both sides so random tokens ("x9cvc2") do not count; "security_code_failures" is a counter, not a code.
CVC_NAME = re.compile(r"(?<![A-Za-z0-9_])(cvc2?|cvv2?|csc|security[_ -]?code|card[_ -]?number)(?![A-Za-z0-9_])", re.IGNORECASE)
CVC_VALUE = re.compile(r"(?<![A-Za-z0-9_])(cvc2?|cvv2?|csc|security[_ -]?code)\W{0,6}[0-9]{3,4}(?![0-9])", re.IGNORECASE)

# What the customers type, including the ways it goes wrong.
TYPO = "4242424242424241"  # one digit off: not Luhn-valid
REAL_LOOKING = ["4111111111111111", "378282246310005", "6011111111111117"]  # Luhn-valid, not dev test cards
SECURITY_CODES = ["123", "4567", "000", "739", "8163"]


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char) * (2 if position % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


def card_number_hits(text: str) -> list[str]:
    runs = DIGIT_RUN.findall(text) + [re.sub(r"[ -]", "", found) for found in GROUPED_RUN.findall(text)]
    return [run for run in runs if 13 <= len(run) <= 19 and luhn_valid(run)]


def security_code_hits(text: str) -> list[str]:
    return [m.group(0) for m in CVC_VALUE.finditer(text)] + [m.group(0) for m in CVC_NAME.finditer(text)]


def pg_dump() -> str:
    db = connection.settings_dict
    env = {**os.environ, "PGPASSWORD": str(db.get("PASSWORD") or "")}
    command = ["pg_dump", "--no-owner", "--no-privileges", "-h", str(db.get("HOST") or "127.0.0.1"), "-p", str(db.get("PORT") or 5432)]
    command += ["-U", str(db["USER"]), str(db["NAME"])]
    return subprocess.run(command, env=env, capture_output=True, check=True, timeout=300).stdout.decode()


@pytest.fixture
def debug_log(tmp_path: Path) -> Iterator[Path]:
    """Every log record at DEBUG into a file, SQL statements with their parameters included."""
    path = tmp_path / "t13.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root, sql = logging.getLogger(), logging.getLogger("django.db.backends")
    saved = root.level, sql.level, connection.force_debug_cursor
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    sql.setLevel(logging.DEBUG)
    connection.force_debug_cursor = True
    try:
        yield path
    finally:
        connection.force_debug_cursor = saved[2]
        root.setLevel(saved[0])
        sql.setLevel(saved[1])
        root.removeHandler(handler)
        handler.close()


def fresh_browser(n: int) -> Client:
    user = make_customer(email=f"t13-{n}@example.jp")
    return verified_client(user, enrol_totp(user))


def run_every_card_flow() -> list[str]:
    """Adds each test card on its own wallet, then fails in every way the page allows; charges what was added."""
    typed: list[str] = []
    for n, number in enumerate(ALL_TEST_CARDS):
        add_card(fresh_browser(n), number, security_code=SECURITY_CODES[n % 2])
        typed.append(number)
    browser = fresh_browser(100)
    gateway_url = browser.post(reverse("wallet:card_add"))["Location"]
    for details in [
        card_details(TYPO),
        *[card_details(number) for number in REAL_LOOKING],
        card_details(VISA, expiry="01/20", security_code="739"),
        card_details("4242-4242-4242-4242", security_code="12"),
    ]:
        assert browser.post(gateway_url, details).status_code == 400
    for _attempt in range(3):
        response = browser.post(gateway_url, card_details(VISA, security_code="000"))
    assert browser.get(response["Location"].removeprefix("http://testserver")).status_code == 400
    add_card(fresh_browser(101), THREE_DS, three_ds_code="000000", security_code="8163")
    cancelled = fresh_browser(102).post(reverse("wallet:card_add"))["Location"]
    Client().post(cancelled.rstrip("/") + "/cancel/")
    typed += [TYPO, *REAL_LOOKING]

    gateway = get_card_gateway()
    assert isinstance(gateway, DevCardGateway)
    for card in Card.objects.all():
        try:
            result = gateway.charge(token=card.gateway_token, amount_yen=1000, idempotency_key=f"t13:{card.pk}")
        except GatewayTimeout:
            result = gateway.charge_lookup(idempotency_key=f"t13:{card.pk}")  # type: ignore[assignment]
        if result is not None and result.succeeded and card.brand == "jcb":
            gateway.refund(charge_id=result.charge_id, amount_yen=400, idempotency_key=f"t13-refund:{card.pk}")
        if result is not None and result.succeeded and card.brand == "mastercard":
            gateway.simulate_reversal(result.charge_id)
    return typed


@pytest.mark.django_db(transaction=True)
def test_t13_no_card_numbers_or_security_codes_in_database_dump_or_logs(debug_log: Path) -> None:
    typed = run_every_card_flow()
    assert Card.objects.count() == len(ALL_TEST_CARDS)

    dump = pg_dump()
    log = debug_log.read_text(encoding="utf-8")
    sessions = "\n".join(str(SessionStore().decode(s.session_data)) for s in Session.objects.all())
    mails = "\n".join(f"{m.subject}\n{m.body}" for m in mail.outbox)
    # The scan saw the real thing: the cards' rows, and SQL with its parameters.
    assert fingerprint_of(VISA) in dump and "COPY public.wallet_gatewaycharge" in dump
    assert 'INSERT INTO "wallet_gatewaycard"' in log and "MASTERCARD card ending in 4444" in mails

    findings = {}
    for name, text in {"dump": dump, "log": log, "sessions": sessions, "mail": mails}.items():
        findings[name] = {
            "luhn": card_number_hits(text),
            "typed": [number for number in typed if number in text or " ".join(re.findall("....", number)) in text],
            "cvc": security_code_hits(text),
        }
    print(
        f"RESULT t13 dump_bytes={len(dump)} log_bytes={len(log)} cards={Card.objects.count()} "
        + " ".join(f"{name}_hits={sum(len(v) for v in found.values())}" for name, found in findings.items())
    )
    assert findings == {name: {"luhn": [], "typed": [], "cvc": []} for name in findings}


def test_t13_scanner_finds_what_it_looks_for() -> None:
    planted = "\t4242424242424242\t| 4000 0566 5566 5556 | tok_ab4242424242424242cd | 1234567890123 |"
    assert card_number_hits(planted) == ["4242424242424242", "4000056655665556"]
    assert security_code_hits('{"cvc": "123"} security_code=4567') == ['cvc": "123', "security_code=4567", "cvc", "security_code"]
    assert security_code_hits("security_code_failures integer") == []
