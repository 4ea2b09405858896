"""The customer's freezes page: freeze now with a scope, reason and optional end;
ask a second person to lift a staff freeze (B04). Mixed into the user admin."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from wallet.models import AccountFreeze, User
from wallet.request_meta import client_ip

from ..models import Approval
from ..services.approvals import ApprovalRefused
from ..services.freezes import FREEZE_PERMISSION, UNFREEZE_REQUEST_PERMISSION, FreezeRefused, account_freeze, account_unfreeze_request
from .approvals import approval_change_url


class FreezeForm(forms.Form):
    scope = forms.ChoiceField(label=_("What the freeze stops"), choices=AccountFreeze.Scope.choices, widget=forms.RadioSelect)
    reason = forms.CharField(
        label=_("Reason"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Required. Recorded with your name in the audit log and shown to other staff."),
    )
    expires_at = forms.DateTimeField(
        label=_("Ends at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("Optional. Leave empty to keep the freeze until it is lifted with a second person's approval."),
    )

    def clean_reason(self) -> str:
        reason = str(self.cleaned_data["reason"]).strip()
        if not reason:
            raise forms.ValidationError(_("A reason is required."))
        return reason

    def clean_expires_at(self) -> Any:
        expires_at = self.cleaned_data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError(_("The end of the freeze must be in the future."))
        return expires_at


class UnfreezeRequestForm(forms.Form):
    reason = forms.CharField(label=_("Why lift this freeze"), max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_reason(self) -> str:
        reason = str(self.cleaned_data["reason"]).strip()
        if not reason:
            raise forms.ValidationError(_("A reason is required."))
        return reason


class CustomerFreezesMixin:
    """Adds /<id>/freezes/ (list and freeze form) and /<id>/freezes/<freeze>/unfreeze/ to the user admin."""

    admin_site: admin.AdminSite
    model: type[User]

    def freeze_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("<int:user_id>/freezes/", view(self.freezes_view), name="wallet_user_freezes"),
            path("<int:user_id>/freezes/<int:freeze_id>/unfreeze/", view(self.unfreeze_view), name="wallet_user_unfreeze"),
        ]

    def _customer(self, user_id: int) -> User:
        customer = User.objects.filter(pk=user_id, is_staff=False).first()
        if customer is None:
            raise Http404(gettext("There is no such customer."))
        return customer

    def freezes_view(self, request: HttpRequest, user_id: int, unfreeze_form: UnfreezeRequestForm | None = None) -> HttpResponse:
        if not request.user.has_perm("wallet.view_accountfreeze"):
            raise PermissionDenied
        customer = self._customer(user_id)
        may_freeze = request.user.has_perm(FREEZE_PERMISSION)
        form = FreezeForm(request.POST if request.method == "POST" and unfreeze_form is None else None)
        if request.method == "POST" and unfreeze_form is None:
            if not may_freeze:
                raise PermissionDenied
            if form.is_valid():
                try:
                    account_freeze(
                        user=customer,
                        scope=form.cleaned_data["scope"],
                        reason=form.cleaned_data["reason"],
                        expires_at=form.cleaned_data["expires_at"],
                        acting_user=request.user,  # type: ignore[arg-type]
                        ip=client_ip(request),
                    )
                except FreezeRefused as exc:
                    form.add_error(None, exc.message)
                else:
                    messages.success(request, gettext("Frozen. The customer's sessions and API tokens have ended."))
                    return HttpResponseRedirect(reverse("admin:wallet_user_freezes", args=[customer.pk]))
        now = timezone.now()
        freezes = list(AccountFreeze.objects.filter(user=customer).select_related("set_by", "lifted_by").order_by("-created_at"))
        active_ids = set(AccountFreeze.objects.active().filter(user=customer).values_list("pk", flat=True))
        waiting = {
            approval.payload.get("freeze_id"): approval
            for approval in Approval.objects.filter(kind=Approval.Kind.UNFREEZE, state=Approval.State.PENDING, expires_at__gt=now)
        }
        rows = [{"freeze": f, "active": f.pk in active_ids, "approval": waiting.get(f.pk)} for f in freezes]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Freezes of %(customer)s") % {"customer": customer.email},
            "customer": customer,
            "form": form,
            "may_freeze": may_freeze,
            "may_request_unfreeze": request.user.has_perm(UNFREEZE_REQUEST_PERMISSION),
            "unfreeze_form": unfreeze_form or UnfreezeRequestForm(),
            "rows": rows,
        }
        invalid = form.errors or (unfreeze_form is not None and unfreeze_form.errors)
        return TemplateResponse(request, "admin/wallet/user/freezes.html", context, status=400 if invalid else 200)

    def unfreeze_view(self, request: HttpRequest, user_id: int, freeze_id: int) -> HttpResponse:
        if not request.user.has_perm(UNFREEZE_REQUEST_PERMISSION):
            raise PermissionDenied
        customer = self._customer(user_id)
        freeze = AccountFreeze.objects.filter(pk=freeze_id, user=customer).first()
        if freeze is None:
            raise Http404(gettext("There is no such freeze."))
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:wallet_user_freezes", args=[customer.pk]))
        form = UnfreezeRequestForm(request.POST)
        if not form.is_valid():
            return self.freezes_view(request, customer.pk, unfreeze_form=form)
        try:
            approval = account_unfreeze_request(
                freeze=freeze,
                reason=form.cleaned_data["reason"],
                maker=request.user,  # type: ignore[arg-type]
                ip=client_ip(request),
            )
        except ApprovalRefused as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(reverse("admin:wallet_user_freezes", args=[customer.pk]))
        messages.success(request, gettext("Waiting for a second person to approve lifting the freeze."))
        return HttpResponseRedirect(approval_change_url(approval))
