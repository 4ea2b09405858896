"""Channel switches: a list of what each channel stops, and a flip page with a required reason."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from wallet.models import ChannelSwitch
from wallet.request_meta import client_ip
from wallet.switches import CHANNELS, UnknownChannel, get_channel

from ..admin_site import staff_admin_site
from ..forms import ChannelSwitchFlipForm
from ..models import Approval
from ..selectors import channel_switch_history
from ..services.approvals import ApprovalRefused
from ..services.switches import channel_switch_flip
from .approvals import approval_change_url
from .base import ReadOnlyAdmin


@admin.register(ChannelSwitch, site=staff_admin_site)
class ChannelSwitchAdmin(ReadOnlyAdmin):
    """The list shows each channel with what it stops; turning one off or on is a
    separate page with a required reason, through ``channel_switch_flip``. Off is
    immediate; on becomes an approval a second person must grant (B04)."""

    list_display = ["name", "description", "state", "reason", "changed_by", "changed_at", "flip_link"]
    list_select_related = ["changed_by"]
    ordering = ["name"]

    def get_urls(self) -> list[URLPattern]:
        flip = path("<str:name>/flip/", self.admin_site.admin_view(self.flip_view), name="wallet_channelswitch_flip")
        return [flip, *super().get_urls()]

    def has_flip_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("wallet.change_channelswitch"))

    @admin.display(description=_("what it stops"))
    def description(self, obj: ChannelSwitch) -> str:
        channel = CHANNELS.get(obj.name)
        return str(channel.description) if channel else gettext("(not in the registry)")

    @admin.display(description=_("state"))
    def state(self, obj: ChannelSwitch) -> str:
        if obj.enabled:
            return format_html('<strong class="switch-on">{}</strong>', gettext("On"))
        return format_html('<strong class="switch-off">{}</strong>', gettext("Off"))

    @admin.display(description=_("change"))
    def flip_link(self, obj: ChannelSwitch) -> str:
        label = gettext("Turn off…") if obj.enabled else gettext("Turn on…")
        return format_html('<a href="{}">{}</a>', reverse("admin:wallet_channelswitch_flip", args=[obj.name]), label)

    def flip_view(self, request: HttpRequest, name: str) -> HttpResponse:
        if not self.has_flip_permission(request):
            raise PermissionDenied
        try:
            channel = get_channel(name)
        except UnknownChannel as exc:
            raise Http404(gettext("There is no such channel.")) from exc
        switch = ChannelSwitch.objects.filter(name=name).first()
        currently_enabled = True if switch is None else switch.enabled
        form = ChannelSwitchFlipForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = channel_switch_flip(
                    name=name,
                    enabled=not currently_enabled,
                    reason=form.cleaned_data["reason"],
                    acting_user=request.user,  # type: ignore[arg-type]
                    ip=client_ip(request),
                )
            except ApprovalRefused as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return HttpResponseRedirect(reverse("admin:wallet_channelswitch_flip", args=[name]))
            if isinstance(result, Approval):
                self.message_user(request, gettext("Waiting for a second person to approve turning it back on."), messages.SUCCESS)
                return HttpResponseRedirect(approval_change_url(result))
            self.message_user(request, gettext("Turned off at once."), messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:wallet_channelswitch_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Turn off %(name)s") % {"name": name} if currently_enabled else gettext("Turn on %(name)s") % {"name": name},
            "channel": channel,
            "switch": switch,
            "currently_enabled": currently_enabled,
            "form": form,
            "history": channel_switch_history(name=name),
            "waiting": Approval.objects.filter(
                kind=Approval.Kind.CHANNEL_ENABLE, payload={"channel": name}, state=Approval.State.PENDING, expires_at__gt=timezone.now()
            ).select_related("maker"),
        }
        return TemplateResponse(request, "admin/wallet/channelswitch/flip.html", context, status=400 if form.errors else 200)
