"""Approvals (maker-checker, B04): a read-only list and a detail page whose Approve
and Reject buttons call the services. Requests are made where the act lives (for
example the channel switch page), never added here by hand."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from wallet.request_meta import client_ip

from ..admin_site import staff_admin_site
from ..models import Approval, MassReset
from ..services.approvals import CHECK_PERMISSION, EXECUTORS, ApprovalRefused, approval_approve, approval_check_permission, approval_reject
from .base import ReadOnlyAdmin


class ApprovalDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", _("Approve")), ("reject", _("Reject"))], widget=forms.HiddenInput)
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Required to reject. Recorded with your name in the audit log."),
    )


def approval_change_url(approval: Approval) -> str:
    return reverse("admin:backoffice_approval_change", args=[approval.pk])


def approval_subject_link(approval: Approval) -> tuple[str, str] | None:
    """Where the checker sees in full what approving would do: the payload names rows, the page shows them."""
    executor = EXECUTORS.get(approval.kind)
    if executor is not None and executor.subject_link is not None:
        return executor.subject_link(approval)
    if approval.kind == Approval.Kind.COMPENSATION:
        return gettext("See each payment this approves"), f"{reverse('admin:incident_compensation_list')}?approval={approval.pk}"
    if approval.kind == Approval.Kind.MASS_RESET:
        job = MassReset.objects.filter(approval=approval).only("pk").first()
        if job is not None:
            return gettext("See who would be reset"), reverse("admin:incident_mass_reset_detail", args=[job.pk])
    if approval.kind == Approval.Kind.CHANNEL_ENABLE:
        return gettext("Open the incident console"), reverse("admin:incident_console")
    return None


@admin.register(Approval, site=staff_admin_site)
class ApprovalAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "payload_summary", "state", "maker", "created_at", "expires_at", "checker", "decided_at"]
    list_filter = ["state", "kind"]
    search_fields = ["maker__email"]
    search_help_text = _("Search by the email of the person who made the request.")
    list_select_related = ["maker", "checker"]

    @admin.display(description=_("details"))
    def payload_summary(self, obj: Approval) -> str:
        return obj.payload_summary

    def has_check_permission(self, request: HttpRequest, approval: Approval | None = None) -> bool:
        permission = approval_check_permission(approval.kind) if approval is not None else CHECK_PERMISSION
        return bool(request.user.has_perm(permission))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        approval = self.get_object(request, unquote(object_id))
        if approval is None:
            raise Http404(gettext("There is no such approval."))
        if not self.has_view_permission(request, approval):
            raise PermissionDenied
        form = ApprovalDecisionForm(request.POST or None)
        if request.method == "POST":
            if not self.has_check_permission(request, approval):
                raise PermissionDenied
            if form.is_valid():
                decide = approval_approve if form.cleaned_data["decision"] == "approve" else approval_reject
                try:
                    decided = decide(
                        approval=approval,
                        checker=request.user,  # type: ignore[arg-type]
                        note=form.cleaned_data["note"],
                        ip=client_ip(request),
                    )
                except ApprovalRefused as exc:
                    self.message_user(request, exc.message, messages.ERROR)
                else:
                    done = gettext("Approved and carried out.") if decided.state == Approval.State.APPROVED else gettext("Rejected.")
                    self.message_user(request, done, messages.SUCCESS)
                return HttpResponseRedirect(approval_change_url(approval))
        is_maker = approval.maker_id == request.user.pk
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": str(approval),
            "approval": approval,
            "form": form,
            "is_pending": approval.state == Approval.State.PENDING and not approval.is_expired(),
            "is_maker": is_maker,
            "can_decide": self.has_check_permission(request, approval) and not is_maker,
            "can_check": self.has_check_permission(request, approval),
            "subject_link": approval_subject_link(approval),
        }
        return TemplateResponse(request, "admin/backoffice/approval/detail.html", context, status=400 if form.errors else 200)
