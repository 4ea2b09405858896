from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import Group
from django.utils.translation import gettext_lazy as _

from wallet.models import User, normalize_email, validate_ascii_email


class StaffEnrolSignInForm(forms.Form):
    email = forms.EmailField(label=_("Staff email address"), max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "username"}))
    password = forms.CharField(
        label=_("Password"), strip=False, max_length=4096, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )

    def clean_email(self) -> str:
        return normalize_email(self.cleaned_data["email"])


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code from your authenticator app"),
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


class ChannelSwitchFlipForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Required. Recorded with your name in the audit log and shown to other staff."),
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("Give a reason for this change."))
        return reason


class StaffUserCreationForm(forms.ModelForm):
    """Superusers create staff accounts without a password (R07): the new staff member
    sets it through the reset mail and then enrols their own authenticator app."""

    groups = forms.ModelMultipleChoiceField(
        label=_("Roles"), queryset=Group.objects.order_by("name"), required=False, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = User
        fields = ["email", "full_name"]

    def clean_email(self) -> str:
        email = normalize_email(self.cleaned_data["email"])
        validate_ascii_email(email)
        if User.objects.filter(email=email).exists():
            raise forms.ValidationError(_("An account with this email address already exists."))
        return email

    def save(self, commit: bool = True) -> Any:  # pragma: no cover - the admin creates through the service
        raise NotImplementedError("staff accounts are created by backoffice.services.staff.staff_user_create")
