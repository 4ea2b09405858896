"""Development mail backend: keeps every message in the developer inbox (/dev/inbox/),
so ``make run`` shows mail without an SMTP server. Compose and production use SMTP
(Mailpit in compose)."""

from __future__ import annotations

from collections.abc import Sequence

from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage


class DevInboxEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        from ..models import DevInboxMessage

        for message in email_messages:
            for recipient in message.recipients():
                DevInboxMessage.objects.create(
                    channel=DevInboxMessage.Channel.EMAIL, to=recipient, subject=str(message.subject), body=str(message.body)
                )
        return len(email_messages)
