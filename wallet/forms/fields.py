"""Form fields shared by sign-up, password change and password reset."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django import forms
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise


def new_password_field(label: str | _StrPromise) -> forms.CharField:
    """Never stripped or truncated (A03); the validators run in the form's clean step."""
    return forms.CharField(
        label=label,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 8 characters; a long passphrase of several words is best. Any characters are allowed."),
    )


def password_again_field(label: str | _StrPromise) -> forms.CharField:
    return forms.CharField(label=label, strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
