"""SMS adapter. ``SMS_BACKEND`` names the class; a production provider implements ``SmsBackend``."""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class SmsDeliveryError(Exception):
    """The provider refused or could not be reached; the caller tells the user to retry."""


class SmsBackend(Protocol):
    def send(self, *, to: str, body: str) -> str:
        """Send ``body`` to an E.164 number; return the provider's message id."""
        ...


class DevInboxSmsBackend:
    """Development backend: keeps each message in the developer inbox (/dev/inbox/),
    where the demo, a developer and the tests read the codes. Numbers under
    070-9999-00xx (+81 70 9999 00xx) are treated as unreachable, so the failure path can be tried."""

    UNREACHABLE_PREFIX = "+8170999900"

    def send(self, *, to: str, body: str) -> str:
        from ..models import DevInboxMessage

        if to.startswith(self.UNREACHABLE_PREFIX):
            raise SmsDeliveryError("number unreachable")
        message = DevInboxMessage.objects.create(channel=DevInboxMessage.Channel.SMS, to=to, body=body)
        return f"dev-{message.pk}"


@lru_cache(maxsize=1)
def _backend_class() -> type[SmsBackend]:
    return import_string(settings.SMS_BACKEND)  # type: ignore[no-any-return]


def sms_send(*, to: str, body: str) -> str:
    return _backend_class()().send(to=to, body=body)
