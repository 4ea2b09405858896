"""The hosted page's forms. Errors name the problem, never the value typed (P02)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from .testcards import luhn_valid


class NonEchoingInput(forms.TextInput):
    """A text box that never renders the value it was posted with, so a re-shown form
    (a wrong security code, say) does not print the card number into the page."""

    def format_value(self, value: Any) -> str | None:
        return None


def _digits(value: str) -> str:
    """Full-width digits (common on Japanese phones) and the spaces or dashes people type, folded away."""
    return re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", value))


class CardForm(forms.Form):
    number = forms.CharField(
        label=_("Card number"),
        max_length=32,
        widget=NonEchoingInput(attrs={"autocomplete": "cc-number", "inputmode": "numeric", "spellcheck": "false"}),
    )
    expiry = forms.CharField(
        label=_("Expiry (MM/YY)"),
        max_length=7,
        widget=forms.TextInput(attrs={"autocomplete": "cc-exp", "inputmode": "numeric", "placeholder": "MM/YY"}),
    )
    security_code = forms.CharField(
        label=_("Security code"),
        max_length=8,
        help_text=_("The 3 digits on the back of the card (4 on the front for some cards)."),
        widget=NonEchoingInput(attrs={"autocomplete": "cc-csc", "inputmode": "numeric", "spellcheck": "false"}),
    )
    holder = forms.CharField(
        label=_("Name on the card"),
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "cc-name", "spellcheck": "false"}),
    )

    @sensitive_variables()
    def clean_number(self) -> str:
        number = _digits(self.cleaned_data["number"])
        if not luhn_valid(number):
            raise ValidationError(_("This card number is not valid. Check it and type it again."), code="invalid")
        return number

    @sensitive_variables()
    def clean_security_code(self) -> str:
        code = _digits(self.cleaned_data["security_code"])
        if not re.fullmatch(r"[0-9]{3,4}", code):
            raise ValidationError(_("Enter the 3 or 4 digit security code."), code="invalid")
        return code

    def clean_expiry(self) -> tuple[int, int]:
        raw = _digits(self.cleaned_data["expiry"]).replace("/", "")
        if not re.fullmatch(r"[0-9]{4}|[0-9]{6}", raw):
            raise ValidationError(_("Enter the expiry as MM/YY, for example 08/29."), code="invalid")
        month, year = int(raw[:2]), int(raw[2:])
        if year < 100:
            year += 2000
        if not 1 <= month <= 12:
            raise ValidationError(_("Enter the expiry as MM/YY, for example 08/29."), code="invalid")
        today = timezone.localdate()
        if (year, month) < (today.year, today.month):
            raise ValidationError(_("This card has expired."), code="expired")
        if year > today.year + 20:
            raise ValidationError(_("Check the expiry year."), code="invalid")
        return month, year


class ChallengeForm(forms.Form):
    code = forms.CharField(
        label=_("Code from your bank's app"),
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def clean_code(self) -> str:
        return _digits(self.cleaned_data["code"])
