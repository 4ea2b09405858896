"""Helpers shared by several test modules."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.db import connection

if TYPE_CHECKING:
    from wallet.models import User

SIGNUP_PASSWORD = "a long and quiet river"

# No test opens more PostgreSQL connections than this at once (its own, its threads' and its workers'), so
# the suite passes with half of the server's 100 held by something else (tests/reliability/conftest.py
# holds 50 while the reliability tests run).
CONNECTION_BUDGET = 40


def connections_for_threads(wanted: int, *, reserved: int = 2) -> int:
    """How many threads with a database connection each a test may run at once: ``wanted``, at most
    the budget less ``reserved`` (the test's own connection and a margin), and less when the
    server has fewer free than that (another suite on it); at least 2, so there is a race."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('max_connections')::int - (SELECT count(*) FROM pg_stat_activity)")
        row = cursor.fetchone()
    free = int(row[0]) if row else 0
    return max(2, min(wanted, CONNECTION_BUDGET - reserved, free - 5))


class SqlStatements:
    """Every SQL statement run inside the block (CaptureQueriesContext is reset by
    the test client's request_started signal, so it cannot span a request)."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    def __call__(self, execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        self.sql.append(sql)
        return execute(sql, params, many, context)

    def __enter__(self) -> SqlStatements:
        self._wrapper = connection.execute_wrapper(self)
        self._wrapper.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._wrapper.__exit__(*exc)


def signup_data(**overrides: str) -> dict[str, str]:
    data = {
        "email": "taro@example.jp",
        "password": SIGNUP_PASSWORD,
        "password_confirm": SIGNUP_PASSWORD,
        "full_name": "鈴木 太郎",
        "name_kana": "スズキ タロウ",
        "phone": "090-1234-5678",
        "birth_date": "",
    }
    data.update(overrides)
    return data


class PasswordCheckCounter:
    """Counts how often a password is actually verified (T9, A04: a locked account
    must not even reach the hasher)."""

    def __init__(self, monkeypatch: Any) -> None:
        from wallet.models import User

        self.count = 0
        original = User.check_password

        def counting(user: User, raw_password: str) -> bool:
            self.count += 1
            return original(user, raw_password)

        monkeypatch.setattr(User, "check_password", counting)


def latest_sms_code(phone: str) -> str:
    """The newest 6-digit code the development SMS backend 'sent' to ``phone``."""
    from wallet.models import DevInboxMessage

    message = DevInboxMessage.objects.filter(channel=DevInboxMessage.Channel.SMS, to=phone).order_by("-id").first()
    assert message is not None, f"no SMS to {phone}"
    found = re.search(r"(?<!\d)(\d{6})(?!\d)", message.body)
    assert found, f"no 6-digit code in SMS: {message.body!r}"
    return found.group(1)


def race(attempts: list[Callable[[], object]], *, refusals: tuple[type[Exception], ...], success: str) -> Counter[str]:
    """Run every attempt in its own thread, released together; count the outcomes:
    ``success``, the ``code`` of an expected refusal, or ``error:…`` for a crash (so the
    assertion shows it). Each thread closes its database connection when done.

    At most ``connections_for_threads`` attempts hold a connection at once (the
    connection budget): with more attempts than that, the first ones race together
    and each later one starts the moment one of them finishes."""
    slots = threading.BoundedSemaphore(connections_for_threads(len(attempts)))
    go = threading.Event()
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def run(attempt: Callable[[], object]) -> None:
        go.wait()
        with slots:
            try:
                try:
                    attempt()
                    outcome = success
                except refusals as refusal:
                    outcome = str(getattr(refusal, "code", type(refusal).__name__))
                except Exception as exc:  # a crash is an outcome the assertion shows
                    outcome = f"error:{type(exc).__name__}:{exc}"
                with lock:
                    outcomes[outcome] += 1
            finally:
                connection.close()

    threads = [threading.Thread(target=run, args=(attempt,)) for attempt in attempts]
    for thread in threads:
        thread.start()
    go.set()
    for thread in threads:
        thread.join()
    return outcomes


def prove_contact_by_sms(client: Any, user: User) -> None:
    """A13: in a logged-in web session without a factor, prove the phone on record the way
    a customer does (ask for the SMS code, type it), so the session may enrol a first factor."""
    from django.urls import reverse

    response = client.post(reverse("wallet:contact_proof"), {"action": "sms_send"})
    assert response.status_code == 302, response.content
    response = client.post(reverse("wallet:contact_proof"), {"action": "sms_verify", "code": latest_sms_code(user.phone)})
    assert response.status_code == 302, response.content


def api_prove_contact_by_sms(api_client: Any, user: User) -> None:
    """A13: the same proof through the API, with the limited token the client carries."""
    from django.urls import reverse

    response = api_client.post(reverse("api:factors_contact_proof"), format="json")
    assert response.status_code == 202, response.content
    response = api_client.post(reverse("api:factors_contact_proof_verify"), {"code": latest_sms_code(user.phone)}, format="json")
    assert response.status_code == 200, response.content
