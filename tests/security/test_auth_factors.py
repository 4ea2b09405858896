"""A06, A08, A10: one-time codes, backup codes, removing factors."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import enrol_totp, make_customer, totp_for
from wallet.models import BackupCode, User
from wallet.request_meta import SYSTEM_META
from wallet.services.second_factor import backup_codes_generate

PASSWORD = "correct horse battery staple"


def _pending_clients(user: User, count: int) -> list[Client]:
    clients = []
    for i in range(count):
        client = Client()
        response = client.post(reverse("wallet:login"), {"username": user.email, "password": PASSWORD}, REMOTE_ADDR=f"10.6.0.{i}")
        assert response["Location"] == reverse("wallet:login_otp")
        clients.append(client)
    return clients


def _parallel_codes(clients: list[Client], code: str) -> list[bool]:
    barrier = threading.Barrier(len(clients))
    results: list[bool] = [False] * len(clients)

    def run(index: int) -> None:
        try:
            barrier.wait()
            clients[index].post(reverse("wallet:login_otp"), {"code": code})
            results[index] = "_auth_user_id" in clients[index].session
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.django_db
def test_a06_totp_code_works_once(customer: User, customer_totp: TOTPDevice) -> None:
    first, second = _pending_clients(customer, 2)
    code = totp_for(customer_totp).now()
    assert first.post(reverse("wallet:login_otp"), {"code": code}).status_code == 302
    assert second.post(reverse("wallet:login_otp"), {"code": code}).status_code == 200
    assert "_auth_user_id" not in second.session


@pytest.mark.django_db
def test_a06_backup_code_works_once(customer: User, customer_totp: TOTPDevice) -> None:
    codes = backup_codes_generate(user=customer, meta=SYSTEM_META)
    first, second = _pending_clients(customer, 2)
    assert first.post(reverse("wallet:login_otp"), {"code": codes[3]}).status_code == 302
    assert second.post(reverse("wallet:login_otp"), {"code": codes[3].upper().replace("-", " ")}).status_code == 200
    assert BackupCode.objects.filter(used_at__isnull=False).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a06_same_totp_twice_in_parallel_one_succeeds() -> None:
    user = make_customer()
    device = enrol_totp(user)
    results = _parallel_codes(_pending_clients(user, 2), totp_for(device).now())
    assert sorted(results) == [False, True]


@pytest.mark.django_db(transaction=True)
def test_a06_same_backup_code_in_parallel_one_succeeds() -> None:
    user = make_customer()
    enrol_totp(user)
    codes = backup_codes_generate(user=user, meta=SYSTEM_META)
    results = _parallel_codes(_pending_clients(user, 8), codes[0])
    assert results.count(True) == 1
    assert BackupCode.objects.filter(used_at__isnull=False).count() == 1


@pytest.mark.django_db
def test_a08_backup_codes_random_hashed_and_shown_once(customer: User, customer_totp: TOTPDevice) -> None:
    sets = [backup_codes_generate(user=customer, meta=SYSTEM_META) for _ in range(3)]
    flat = [code for codes in sets for code in codes]
    assert len(set(flat)) == 30  # no repeats across sets
    assert all(len(code.replace("-", "")) == 10 for code in flat)
    digests = list(BackupCode.objects.values_list("code_digest", flat=True))
    assert len(digests) == 10  # only the last set is live
    assert not any(code.replace("-", "") in digest for code in sets[-1] for digest in digests)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.post(reverse("wallet:login"), {"username": customer.email, "password": PASSWORD})
    client.post(reverse("wallet:login_otp"), {"code": totp_for(customer_totp).now()})
    page = client.get(reverse("wallet:security")).content.decode()
    assert not any(code in page for code in sets[-1])


@pytest.mark.django_db
def test_a10_factor_removal_needs_fresh_reauthentication(customer: User, customer_totp: TOTPDevice) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.post(reverse("wallet:login"), {"username": customer.email, "password": PASSWORD})
    client.post(reverse("wallet:login_otp"), {"code": totp_for(customer_totp).at(time.time() - 30)})
    url = reverse("wallet:factor_remove", args=["totp", customer_totp.pk])
    # Logged in with the second factor is not enough: a fresh code is asked.
    response = client.post(url)
    assert response["Location"].startswith(reverse("wallet:step_up"))
    assert TOTPDevice.objects.filter(pk=customer_totp.pk).exists()
    client.post(reverse("wallet:step_up"), {"code": totp_for(customer_totp).now()})
    assert client.post(url).status_code == 302
    assert not TOTPDevice.objects.filter(pk=customer_totp.pk).exists()


@pytest.mark.django_db
def test_a10_step_up_goes_stale(customer: User, customer_totp: TOTPDevice) -> None:
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.post(reverse("wallet:login"), {"username": customer.email, "password": PASSWORD})
    client.post(reverse("wallet:login_otp"), {"code": totp_for(customer_totp).at(time.time() - 30)})
    client.post(reverse("wallet:step_up"), {"code": totp_for(customer_totp).now()})
    url = reverse("wallet:factor_remove", args=["totp", customer_totp.pk])
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        response = client.post(url)
    assert response["Location"].startswith(reverse("wallet:step_up")) or response["Location"].startswith(reverse("wallet:login"))
    assert TOTPDevice.objects.filter(pk=customer_totp.pk).exists()
