"""T10: the same valid TOTP code sent 20 times in parallel logs in exactly once."""

from __future__ import annotations

import pytest

from tests.conftest import enrol_totp, make_customer, totp_for
from tests.security.test_auth_factors import _parallel_codes, _pending_clients


@pytest.mark.django_db(transaction=True)
def test_t10_same_totp_twenty_times_in_parallel_exactly_one_success() -> None:
    user = make_customer()
    device = enrol_totp(user)
    clients = _pending_clients(user, 20)
    results = _parallel_codes(clients, totp_for(device).now())
    print(f"T10: {results.count(True)} success(es) out of {len(results)} parallel requests")
    assert results.count(True) == 1
