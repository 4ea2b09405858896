"""L04: nothing a customer can send causes a server error.

Every customer-facing route is taken from the URL conf (``wallet:*``, the refund portal ``refunds:*``, the
customer and terminal API ``api:*`` and the development gateway when it is mounted), so a new page is fuzzed
without anyone listing it here. Each is sent hostile query strings, form bodies and JSON bodies: dates like
9999-12-31 and 0000-00-00, huge and negative numbers, very long strings, unicode, NUL bytes, lists where one
value is expected, nothing at all and broken JSON; anonymously and as a customer with a verified second factor
(a web session, an API token, a store terminal's key), with the customer's own ids in the path and hostile ones.
The field names come from every customer form and serializer and from the page's own HTML, so fields a view
reads straight from ``request.GET`` / ``request.POST`` are covered as well as the schema's. Then hypothesis
mixes values and fields on the forms with the most to parse. Not one answer may be a 5xx.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django import forms
from django.core.signals import got_request_exception
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework import serializers

from tests.api_clients import customer_client, terminal_client
from tests.conftest import enrol_totp, make_customer
from tests.money import fund_wallet, make_card, make_terminal
from tests.refunds.factories import make_programme
from tests.wallet.test_account import verified_client
from wallet.models import KnownDevice, User
from wallet.selectors import activity_for, wallet_balance

pytestmark = pytest.mark.django_db

CUSTOMER_NAMESPACES = {"wallet", "refunds", "api", "devgateway"}
FORM_PACKAGES = ("wallet.forms", "refunds.forms", "wallet.adapters.devgateway.forms")
SERIALIZER_MODULES = ("wallet.api.serializers", "wallet.api.money_serializers")
# Names views read without a form (paging, filters, language, redirects) and some that are nobody's.
# Query-string parameters the customer pages and API lists read.
QUERY_FIELDS = {"page", "cursor", "next", "q", "to", "channel", "kind", "date_from", "date_to", "search"}
EXTRA_FIELDS = QUERY_FIELDS | {"language", "lang", "id", "code", "number", "token"}

HOSTILE_TEXT = [
    "9999-12-31",
    "0000-00-00",
    "-1",
    "-99999999999999999999999999999",
    "x" * 5000,
    "𠮷野家ｱﾝｾﾞﾝ\u202e\u200b🙂",
    "a\x00b",
    "",
    "' OR 1=1 --<script>",
]
# Sent in every query parameter at once; the structured values go one parameter at a time instead.
WHOLE_QUERY_VALUES = {"x" * 5000, "a\x00b", "𠮷野家ｱﾝｾﾞﾝ\u202e\u200b🙂", "' OR 1=1 --<script>"}
# Path-parameter values, for each converter: ids that are not the customer's, or not ids at all.
HOSTILE_PATH = {
    "int": ["0", "99999999999999999999999"],
    "str": ["x" * 300, "%00", "%E2%80%AE%F0%9F%99%82", "..%2F..", "%ff"],
    "uuid": [str(uuid.UUID(int=0)), str(uuid.uuid4())],
    "path": ["x" * 300],
}
HOSTILE_JSON: list[Any] = [10**30, -(10**30), 1e308, "9999-12-31", "a\x00b" + "x" * 5000, ["a", "b"], {"nested": [1]}, None, True]
BAD_BODIES = [b'{"email": ', b"[]", b'"text"', b"\xff\xfe\x00", b'{"a": NaN}']


@dataclass
class Route:
    name: str
    pattern: str
    converters: dict[str, str]


@dataclass
class Identity:
    """Who sends the requests. ``make`` gives a fresh client for each route: a route like /logout/
    or /api/v1/auth/logout/ must not turn the customer anonymous for the routes after it."""

    label: str
    make: Callable[[], Client]
    path_values: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Failures:
    seen: list[str] = field(default_factory=list)

    def check(self, method: str, path: str, who: str, what: str, response: Any, error: list[BaseException]) -> None:
        if response.status_code >= 500:
            cause = f"{type(error[-1]).__name__}: {error[-1]}"[:300] if error else ""
            self.seen.append(f"{response.status_code} {method} {path[:120]} as {who} with {what[:80]!r} {cause}")
        error.clear()


def customer_routes() -> list[Route]:
    found: list[Route] = []

    def walk(patterns: list[Any], prefix: str, namespace: str | None) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern), entry.namespace or namespace)
            elif isinstance(entry, URLPattern) and namespace in CUSTOMER_NAMESPACES:
                converters = {
                    name: type(conv).__name__.removesuffix("Converter").lower() for name, conv in entry.pattern.converters.items()
                }
                found.append(Route(name=f"{namespace}:{entry.name}", pattern=prefix + str(entry.pattern), converters=converters))

    walk(get_resolver().url_patterns, "/", None)
    return found


def _import_all(package: str) -> None:
    module = importlib.import_module(package)
    for info in pkgutil.walk_packages(getattr(module, "__path__", []), package + "."):
        importlib.import_module(info.name)


def _subclasses(base: type) -> Iterator[type]:
    sub: type
    for sub in base.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def known_field_names() -> set[str]:
    """Every field of the customer forms and API serializers (staff forms live in backoffice and refunds.forms.staff*)."""
    for package in FORM_PACKAGES:
        _import_all(package)
    for module in SERIALIZER_MODULES:
        importlib.import_module(module)
    names = set(EXTRA_FIELDS)
    for form in _subclasses(forms.BaseForm):
        if form.__module__.startswith(("wallet.", "refunds.")) and "staff" not in form.__module__:
            names.update(getattr(form, "base_fields", {}))
    for serializer in _subclasses(serializers.Serializer):
        if serializer.__module__ in SERIALIZER_MODULES:
            try:
                names.update(serializer().fields)
            except Exception:  # a serializer that needs context to build its fields
                continue
    return names


def html_field_names(html: str) -> set[str]:
    return set(re.findall(r"""<(?:input|select|textarea)[^>]*\bname=["']([^"']+)["']""", html))


def build_path(route: Route, values: dict[str, str]) -> str:
    path = route.pattern
    for name, conv in route.converters.items():
        path = path.replace(f"<{conv}:{name}>", values[name]).replace(f"<{name}>", values[name])
    # The API's catch-all is a regex: give it something to swallow.
    return path.replace("^[\\s\\S]*$", "no-such-thing/%ff").replace("^", "").replace("$", "")


def path_variants(route: Route, identity: Identity) -> list[tuple[str, bool]]:
    """(path, whether to send every hostile body to it): the customer's own ids, or the route's only
    address, get every body; hostile ids, one parameter at a time, get a few (the path is the attack)."""
    if not route.converters:
        return [(build_path(route, {}), True)]
    own = {name: (identity.path_values.get(name) or identity.path_values.get(conv) or [""])[0] for name, conv in route.converters.items()}
    variants = []
    if all(own.values()):
        variants.append((build_path(route, own), True))
    for name, conv in route.converters.items():
        for hostile in HOSTILE_PATH.get(conv, HOSTILE_PATH["str"]):
            values = {key: (own[key] or HOSTILE_PATH.get(c, ["x"])[0]) for key, c in route.converters.items()}
            values[name] = hostile
            variants.append((build_path(route, values), not variants))
    return variants


def fuzz_route(
    client: Client, path: str, full: bool, identity: Identity, names: set[str], failures: Failures, errors: list[BaseException]
) -> None:
    api = path.startswith("/api/")
    page = client.get(path)
    failures.check("GET", path, identity.label, "", page, errors)
    if not full:
        failures.check("POST", path, identity.label, "empty", client.post(path, {}), errors)
        mixed = {name: HOSTILE_TEXT[index % len(HOSTILE_TEXT)] for index, name in enumerate(sorted(names))}
        failures.check("POST", path, identity.label, "mixed", client.post(path, mixed), errors)
        return
    fields = names | (
        html_field_names(page.content.decode(errors="replace")) if page.get("Content-Type", "").startswith("text/html") else set()
    )
    headers: dict[str, Any] = {"HTTP_IDEMPOTENCY_KEY": "x" * 300} if api else {}
    for value in HOSTILE_TEXT:
        query = dict.fromkeys(fields, value)
        if value in WHOLE_QUERY_VALUES:
            failures.check("GET", path, identity.label, value, client.get(path, query), errors)
        failures.check("POST", path, identity.label, value, client.post(path, query, **headers), errors)
    # One hostile parameter at a time too: a filter form with one bad field is dropped as a whole, which
    # would hide the field that crashes when it is the only one (?date_to=9999-12-31 alone, the finding).
    for name in sorted(QUERY_FIELDS | (fields - names)):
        for value in ("9999-12-31", "-99999999999999999999999999999"):
            failures.check("GET", path, identity.label, f"{name}={value}", client.get(path, {name: value}), errors)
    # Lists where one value is expected, and nothing at all.
    doubled = {name: ["1", "9999-12-31"] for name in fields}
    failures.check("GET", path, identity.label, "lists", client.get(path, doubled), errors)
    failures.check("POST", path, identity.label, "lists", client.post(path, doubled), errors)
    failures.check("POST", path, identity.label, "empty", client.post(path, {}), errors)
    failures.check(
        "GET", path + "?date_to=%ff%00&page=%ff", identity.label, "raw bytes", client.get(path + "?date_to=%ff%00&page=%ff"), errors
    )
    if api:
        key: dict[str, Any] = {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())}
        for value in HOSTILE_JSON:
            body = json.dumps(dict.fromkeys(fields, value))
            response = client.post(path, body, content_type="application/json", **key)
            failures.check("POST", path, identity.label, f"json {body[:60]}", response, errors)
        for raw in BAD_BODIES:
            response = client.generic("POST", path, raw, content_type="application/json", **key)
            failures.check("POST", path, identity.label, f"body {raw!r}", response, errors)
        # The Idempotency-Key header itself.
        for header in ("\x00", "x" * 10_000):
            response = client.post(path, "{}", content_type="application/json", HTTP_IDEMPOTENCY_KEY=header)
            failures.check("POST", path, identity.label, f"Idempotency-Key {header[:20]!r}", response, errors)


@pytest.fixture
def request_errors() -> Iterator[list[BaseException]]:
    errors: list[BaseException] = []

    def record(sender: Any, request: Any = None, **kwargs: Any) -> None:
        import sys

        exc = sys.exc_info()[1]
        if exc is not None:
            errors.append(exc)

    got_request_exception.connect(record, weak=False)
    yield errors
    got_request_exception.disconnect(record)


@pytest.fixture
def fuzz_settings(settings: Any) -> None:
    # Rate limits would answer 429 before most forms are even parsed; the fuzz wants the parsing.
    settings.RATELIMIT_ENABLE = False
    settings.AXES_ENABLED = False
    # Hundreds of password checks: a fast hasher for the accounts made here (the login code path is the same).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]


def _identities(customer: User) -> tuple[list[Identity], list[Identity]]:
    """(web identities, API identities) with the ids their paths may name."""
    device = enrol_totp(customer)
    card = make_card(customer)
    register, register_key = make_terminal()
    topup = fund_wallet(customer, 5_000, register)
    transfer = activity_for(customer).first()
    assert transfer is not None
    known = KnownDevice.objects.create(user=customer, device_digest="0" * 64, label="test browser")
    token_ids: list[str] = []

    def api_customer() -> Client:
        client = customer_client(customer, step_up=True, raise_request_exception=False)
        token_ids[:] = [str(customer.api_tokens.order_by("-pk").values_list("pk", flat=True).first())]  # type: ignore[attr-defined]
        return client

    def web_customer() -> Client:
        client = verified_client(customer, device)
        client.raise_request_exception = False
        return client

    web_values = {
        "card_id": [str(card.pk)],
        "pk": [str(known.pk)],
        "kind": ["totp"],
        "public_id": [str(transfer.transfer.public_id)],
        "registration_id": [str(uuid.uuid4())],
        "uuid": [str(topup.public_id)],
    }
    api_values = {
        "token_id": token_ids,
        "transaction_id": [str(transfer.transfer.public_id)],
        "topup_id": [str(topup.public_id)],
        "payment_id": [str(uuid.uuid4())],
    }
    api_customer()

    def anonymous() -> Client:
        return Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE="en")

    def terminal() -> Client:
        return terminal_client(register_key, raise_request_exception=False)

    return (
        [Identity("anonymous", anonymous), Identity("customer", web_customer, web_values)],
        [Identity("anonymous", anonymous), Identity("api customer", api_customer, api_values), Identity("terminal", terminal, api_values)],
    )


def test_l04_no_customer_route_answers_5xx_to_hostile_input(fuzz_settings: None, request_errors: list[BaseException]) -> None:
    make_programme()
    customer = make_customer()
    web_identities, api_identities = _identities(customer)
    names = known_field_names()
    routes = customer_routes()
    assert {"wallet:activity", "wallet:activity_export", "refunds:contact", "wallet:password_reset", "api:wallet_activity"} <= {
        r.name for r in routes
    }
    failures = Failures()
    for route in routes:
        identities = api_identities if route.pattern.startswith("/api/") else web_identities
        for identity in identities:
            client = identity.make()
            for path, full in path_variants(route, identity):
                fuzz_route(client, path, full, identity, names, failures, request_errors)
    assert failures.seen == [], "\n".join(failures.seen)
    # And the customer is as before: the same balance, still able to sign in.
    customer.refresh_from_db()
    assert wallet_balance(customer) == 5_000
    assert customer.check_password("correct horse battery staple")


@pytest.mark.parametrize(
    ("path", "field_name"),
    [("/activity/", "date_to"), ("/activity/export.csv", "date_to"), ("/api/v1/wallet/activity/", "date_to"), ("/activity/", "date_from")],
)
def test_l04_out_of_range_history_dates_get_a_clear_field_error(fuzz_settings: None, path: str, field_name: str) -> None:
    """The original finding: ?date_to=9999-12-31 raised OverflowError. Now the date is refused with a message."""
    customer = make_customer()
    device = enrol_totp(customer)
    fund_wallet(customer, 1_000)
    client: Client = customer_client(customer) if path.startswith("/api/") else verified_client(customer, device)
    for day in ("9999-12-31", "0001-01-01", "1999-12-31"):
        response = client.get(path, {field_name: day})
        assert response.status_code in (200, 400), response.status_code
        if path.startswith("/api/"):
            assert response.status_code == 400
            assert "Enter a date between 2000-01-01 and" in response.json()[field_name][0]
        elif path.endswith(".csv"):
            # The export ignores a filter it cannot use, as the page does: the whole history, not a crash.
            assert response.status_code == 200
        else:
            assert "Enter a date between 2000-01-01 and" in response.content.decode()


def test_l04_hypothesis_mixes_fields_and_values_on_the_busiest_forms(fuzz_settings: None, request_errors: list[BaseException]) -> None:
    customer = make_customer()
    device = enrol_totp(customer)
    make_card(customer)
    fund_wallet(customer, 2_000)
    make_programme()
    web = verified_client(customer, device)
    web.raise_request_exception = False
    api = customer_client(customer, step_up=True, raise_request_exception=False)
    anonymous = Client(raise_request_exception=False)
    targets: list[tuple[Client, str, str, bool]] = [
        (web, "GET", "/activity/", False),
        (web, "GET", "/activity/export.csv", False),
        (web, "POST", "/topup/", False),
        (web, "POST", "/profile/phone/", False),
        (anonymous, "POST", "/signup/", False),
        (anonymous, "POST", "/password-reset/", False),
        (anonymous, "POST", "/refund/contact/", False),
        (anonymous, "POST", "/login/", False),
        (api, "GET", "/api/v1/wallet/activity/", False),
        (api, "POST", "/api/v1/topups/", True),
        (anonymous, "POST", "/api/v1/auth/login/", True),
    ]
    names = sorted(known_field_names())
    text = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=40), st.dates().map(str), st.integers().map(str))
    scalar = st.one_of(text, st.integers(), st.floats(allow_nan=False), st.none(), st.booleans())
    failures = Failures()

    @hypothesis_settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None)
    @given(
        target=st.sampled_from(targets),
        form=st.dictionaries(st.sampled_from(names), text, max_size=8),
        body=st.dictionaries(st.sampled_from(names), scalar, max_size=8),
    )
    def run(target: tuple[Client, str, str, bool], form: dict[str, str], body: dict[str, Any]) -> None:
        client, method, path, as_json = target
        if as_json:
            response = client.post(path, json.dumps(body), content_type="application/json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
            failures.check(method, path, "hypothesis", json.dumps(body)[:80], response, request_errors)
        elif method == "GET":
            failures.check(method, path, "hypothesis", repr(form)[:80], client.get(path, form), request_errors)
        else:
            failures.check(method, path, "hypothesis", repr(form)[:80], client.post(path, form), request_errors)

    run()
    assert failures.seen == [], "\n".join(failures.seen)
    assert wallet_balance(customer) == 2_000
