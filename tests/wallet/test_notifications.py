"""The notifications outbox: written with its cause, relayed after commit, at most once per row."""

from __future__ import annotations

from unittest import mock

import pytest
from django.core import mail
from django.db import transaction

from wallet.models import Notification, User
from wallet.services.notifications import notification_deliver, notification_enqueue, notifications_relay_due
from wallet.tasks import notifications_relay

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_mail_leaves_only_after_its_cause_commits(customer: User) -> None:
    with transaction.atomic():
        notification_enqueue(user=customer, kind="password_changed")
        assert mail.outbox == []
    assert [m.to for m in mail.outbox] == [[customer.email]]
    assert Notification.objects.get().status == Notification.Status.SENT


def test_a_rolled_back_cause_sends_nothing(customer: User) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        notification_enqueue(user=customer, kind="password_changed")
        raise RuntimeError("the cause failed")
    assert mail.outbox == []
    assert not Notification.objects.exists()


def test_a_lost_publish_is_delivered_by_the_next_relay_and_only_once(customer: User) -> None:
    # The process died between commit and publish: the row is there, no task was queued.
    with mock.patch("wallet.services.notifications._schedule_relay"), transaction.atomic():
        notification_enqueue(user=customer, kind="password_changed")
    assert mail.outbox == []

    notifications_relay.apply()
    notifications_relay.apply()  # a redelivered or duplicate run

    assert len(mail.outbox) == 1
    assert notification_deliver(notification_id=Notification.objects.get().pk) is False


def test_a_failed_delivery_is_retried_later_and_recorded(customer: User) -> None:
    with mock.patch("wallet.services.notifications._schedule_relay"), transaction.atomic():
        notification_enqueue(user=customer, kind="password_changed")
    with mock.patch("django.core.mail.EmailMessage.send", side_effect=ConnectionError("smtp down")):
        assert notifications_relay_due() == 0
    row = Notification.objects.get()
    assert row.status == Notification.Status.PENDING
    assert row.attempts == 1 and "smtp down" in row.last_error
    assert row.send_after > row.created_at  # backed off, not retried in a hot loop


def test_mail_is_written_in_the_customers_language(customer: User) -> None:
    customer.preferred_language = "en"
    customer.save()
    with transaction.atomic():
        notification_enqueue(user=customer, kind="password_changed")
    customer.preferred_language = "ja"
    customer.save()
    with transaction.atomic():
        notification_enqueue(user=customer, kind="password_changed")
    english, japanese = mail.outbox
    assert english.subject.isascii()
    assert not japanese.subject.isascii()


def test_an_unknown_kind_is_refused(customer: User) -> None:
    with pytest.raises(ValueError):
        notification_enqueue(user=customer, kind="no_such_kind")
