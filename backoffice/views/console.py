"""The incident console: the page an operator opens when accounts are being drained.

Every channel switch with its state, who turned it and why, and a form to turn it
off at once (one person) or to ask for it to be turned back on (a second person
approves, B04), both through ``channel_switch_flip``; the requests waiting for a
second person; the active account freezes; the latest switch changes.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from wallet.models import ChannelSwitch
from wallet.request_meta import client_ip
from wallet.switches import UnknownChannel, get_channel

from ..forms import ChannelSwitchFlipForm
from ..models import Approval
from ..selectors.dashboard import (
    approvals_waiting,
    channel_enable_requests_waiting,
    freezes_active,
    switch_changes_recent,
    switch_states,
)
from ..services.approvals import ApprovalRefused
from ..services.switches import channel_switch_flip
from .base import acting_staff, staff_page, staff_render

VIEW_PERMISSION = "wallet.view_channelswitch"
FLIP_PERMISSION = "wallet.change_channelswitch"
APPROVALS_SHOWN = 30
FREEZES_SHOWN = 50


class ConsoleSwitchForm(ChannelSwitchFlipForm):
    """The state asked for is explicit, never "the opposite of now": two operators
    pressing "turn off" together both get an off channel, not off-then-on."""

    turn = forms.ChoiceField(choices=[("off", _("Turn off")), ("on", _("Ask to turn on"))], widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].error_messages["required"] = _("Give a reason for this change.")


def _form_id(name: str) -> str:
    return "id_" + name.replace(".", "_") + "_%s"


def _anchor(name: str) -> str:
    return "switch-" + name.replace(".", "-")


def _console(request: HttpRequest, *, failed: tuple[str, ConsoleSwitchForm] | None = None) -> HttpResponse:
    user = request.user
    waiting = channel_enable_requests_waiting()
    states = switch_states()
    switches: list[dict[str, Any]] = []
    for state in states:
        bound = failed[1] if failed is not None and failed[0] == state.name else None
        turn = "off" if state.enabled else "on"
        form = bound or ConsoleSwitchForm(initial={"turn": turn}, auto_id=_form_id(state.name))
        switches.append({"state": state, "form": form, "turn": turn, "waiting": waiting.get(state.name), "anchor": _anchor(state.name)})
    context: dict[str, Any] = {
        "switches": switches,
        "switches_off": sum(1 for state in states if not state.enabled),
        "may_flip": user.has_perm(FLIP_PERMISSION),
        "may_see_approvals": user.has_perm("backoffice.view_approval"),
        "may_see_freezes": user.has_perm("wallet.view_accountfreeze"),
        "may_see_changes": user.has_perm("wallet.view_channelswitchchange"),
        "may_see_audit": user.has_perm("backoffice.view_staffaction"),
        "may_see_dashboard": user.has_perm("backoffice.view_case"),
    }
    if context["may_see_approvals"]:
        approvals = approvals_waiting()
        context["approvals"] = list(approvals[:APPROVALS_SHOWN])
        context["approvals_total"] = approvals.count()
    if context["may_see_freezes"]:
        context["freezes"] = freezes_active(limit=FREEZES_SHOWN)
    if context["may_see_changes"]:
        context["changes"] = list(switch_changes_recent())
    status = 400 if failed is not None else 200
    return staff_render(request, "admin/backoffice/console/console.html", context, title=gettext("Incident console"), status=status)


@require_GET
@staff_page(VIEW_PERMISSION)
def console(request: HttpRequest) -> HttpResponse:
    return _console(request)


@require_POST
@staff_page(VIEW_PERMISSION, FLIP_PERMISSION)
def console_switch(request: HttpRequest, name: str) -> HttpResponse:
    """Turn a channel off now, or ask a second person to turn it back on."""
    try:
        get_channel(name)
    except UnknownChannel as exc:
        raise Http404(gettext("There is no such channel.")) from exc
    acting_user = acting_staff(request)
    form = ConsoleSwitchForm(request.POST, auto_id=_form_id(name))
    if not form.is_valid():
        return _console(request, failed=(name, form))
    back = reverse("admin:incident_console") + "#" + _anchor(name)
    currently_enabled = ChannelSwitch.objects.filter(name=name).values_list("enabled", flat=True).first()
    if form.cleaned_data["turn"] == "off" and currently_enabled is False:
        messages.info(request, gettext("“%(name)s” is already off. Nothing was changed.") % {"name": name})
        return HttpResponseRedirect(back)
    try:
        result = channel_switch_flip(
            name=name,
            enabled=form.cleaned_data["turn"] == "on",
            reason=form.cleaned_data["reason"],
            acting_user=acting_user,
            ip=client_ip(request),
        )
    except ApprovalRefused as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(back)
    if isinstance(result, Approval):
        messages.success(
            request,
            gettext("Request #%(id)s made: “%(name)s” stays off until a second person approves it.") % {"id": result.pk, "name": name},
        )
    else:
        messages.success(request, gettext("“%(name)s” is off now, for every customer and terminal.") % {"name": name})
    return HttpResponseRedirect(back)


urlpatterns: list[URLPattern] = [
    path("console/", console, name="incident_console"),
    path("console/switches/<str:name>/", console_switch, name="incident_console_switch"),
]
