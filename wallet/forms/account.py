from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from .fields import new_password_field, password_again_field
from .signup import EmailInputField, PhoneCodeForm, PhoneNumberForm

__all__ = ["EmailChangeForm", "PasswordChangeForm", "PhoneChangeCodeForm", "PhoneChangeForm"]


class PasswordChangeForm(forms.Form):
    """Shape only; the service checks the current password and the validators (A02, A03)."""

    current_password = forms.CharField(
        label=_("Current password"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    new_password = new_password_field(_("New password"))
    new_password_confirm = password_again_field(_("New password again"))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        new, confirm = cleaned.get("new_password"), cleaned.get("new_password_confirm")
        if new and confirm and new != confirm:
            self.add_error("new_password_confirm", _("The two passwords are not the same."))
        return cleaned


class EmailChangeForm(forms.Form):
    new_email = EmailInputField(label=_("New email address"), widget=forms.EmailInput(attrs={"autocomplete": "email"}))


class PhoneChangeForm(PhoneNumberForm):
    pass


class PhoneChangeCodeForm(PhoneCodeForm):
    pass
