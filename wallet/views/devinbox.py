"""The developer inbox: what the development mail and SMS backends 'sent'.

Only with ``DEV_INBOX_ENABLED``, which the settings grant only in debug (S08): the page shows
reset links and sign-in codes, so outside a demo it does not exist, whatever the environment asks.
A newcomer running ``make run`` reads verification links and SMS codes here.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path

from ..field_length import fit
from ..models import DevInboxMessage

PAGE_SIZE = 100


def dev_inbox(request: HttpRequest) -> HttpResponse:
    if not settings.DEV_INBOX_ENABLED:
        raise Http404
    channel = request.GET.get("channel", "")
    # NUL cannot be stored or searched in PostgreSQL text; no address contains one (L04).
    recipient = fit(DevInboxMessage, "to", request.GET.get("to", "").replace("\x00", "").strip())
    found = DevInboxMessage.objects.order_by("-created_at", "-id")
    if channel in DevInboxMessage.Channel.values:
        found = found.filter(channel=channel)
    else:
        channel = ""
    if recipient:
        found = found.filter(to__icontains=recipient)
    context = {
        "inbox_messages": list(found[:PAGE_SIZE]),
        "channel": channel,
        "recipient": recipient,
        "channels": DevInboxMessage.Channel.choices,
        "page_size": PAGE_SIZE,
    }
    return render(request, "wallet/devinbox/inbox.html", context)


urlpatterns: list[URLPattern] = [path("dev/inbox/", dev_inbox, name="dev_inbox")]
