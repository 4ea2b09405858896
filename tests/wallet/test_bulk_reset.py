"""The wallet's set-based reset of a batch of accounts (the statement behind the back office's mass reset),
and text cut to the length of the field it is stored in."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import make_customer, make_customer_fast
from wallet.api.authentication import api_token_issue
from wallet.field_length import fit, max_length
from wallet.models import ApiToken, AuthEvent, Notification
from wallet.services.bulk_reset import ResetNotice, accounts_reset_batch

pytestmark = pytest.mark.django_db


def _notice(slots_from: datetime) -> ResetNotice:
    return ResetNotice(kind="mass_reset_notice", context={"mass_reset": 1}, slots_from=slots_from, slot_offset=0, per_second=10)


def test_a_batch_resets_exactly_the_population_in_its_id_range() -> None:
    first, skipped, last, beyond = (make_customer_fast(f"b{i}@example.jp", "Bulk") for i in range(4))
    for user in (first, skipped, last, beyond):
        user.set_password("correct horse battery staple")
        user.save(update_fields=["password"])
    token, key = api_token_issue(user=first, label="phone", second_factor=True)
    now = timezone.now()

    done = accounts_reset_batch(
        after_id=first.pk - 1,
        through_id=last.pk,
        population="NOT u.is_staff AND u.id <> %(p_skip)s",
        population_params={"p_skip": skipped.pk},
        now=now,
        notice=_notice(now),
    )

    assert (done.accounts, done.tokens, done.notices, done.factors) == (2, 1, 2, 0)
    for user in (first, last):
        user.refresh_from_db()
        assert not user.has_usable_password() and user.must_reset_password and user.credentials_changed_at == now
    for user in (skipped, beyond):
        user.refresh_from_db()
        assert user.has_usable_password() and not user.must_reset_password
    assert not ApiToken.objects.filter(pk=token.pk).exists()
    assert Client().get(reverse("api:me"), HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401
    notices = list(Notification.objects.filter(kind="mass_reset_notice").order_by("user_id"))
    assert [n.to_address for n in notices] == [first.email, last.email]
    # Spaced at the given rate (10 a second) from slots_from, in id order.
    assert [n.send_after - now for n in notices] == [timedelta(seconds=0.1), timedelta(seconds=0.2)]


def test_a_bad_batch_is_refused_and_changes_nothing() -> None:
    customer = make_customer_fast("bad@example.jp", "Bulk")
    now = timezone.now()
    with pytest.raises(ValueError, match="reuse the statement's names: start"):
        accounts_reset_batch(
            after_id=0, through_id=customer.pk, population="u.id > %(start)s", population_params={"start": 0}, now=now, notice=_notice(now)
        )
    with pytest.raises(ValueError, match=r"ends .* before it starts"):
        accounts_reset_batch(after_id=customer.pk, through_id=0, population="TRUE", population_params={}, now=now, notice=_notice(now))
    customer.refresh_from_db()
    assert not customer.must_reset_password and not Notification.objects.filter(kind="mass_reset_notice").exists()


def test_an_overlong_user_agent_is_recorded_cut_to_the_field_length() -> None:
    customer = make_customer("ua@example.jp")
    response = Client(HTTP_USER_AGENT="Mozilla/5.0 " + "x" * 1000).post(
        reverse("wallet:login"), {"username": customer.email, "password": "wrong password"}
    )
    assert response.status_code == 200
    event = AuthEvent.objects.filter(user=customer).latest("id")
    assert event.user_agent == ("Mozilla/5.0 " + "x" * 1000)[: max_length(AuthEvent, "user_agent")]
    assert len(event.user_agent) == AuthEvent._meta.get_field("user_agent").max_length


def test_fit_takes_the_length_from_the_model_field() -> None:
    length = ApiToken._meta.get_field("label").max_length
    assert isinstance(length, int) and max_length(ApiToken, "label") == length
    assert fit(ApiToken, "label", "x" * 500) == "x" * length
    assert fit(ApiToken, "label", "short") == "short"
    with pytest.raises(TypeError, match="has no max_length"):
        fit(AuthEvent, "detail", "{}")
