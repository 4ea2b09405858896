"""Forms of the no-login route and the claim status lookup.

The email address and phone number are normalised as the wallet normalises them (so a
lookalike typed in another case or in full width finds the same account, and a non-ASCII
lookalike is refused); they only select an account. Name and birth date are supporting
data for the reviewer and select nothing (R05)."""

from __future__ import annotations

from datetime import date

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from wallet.forms.signup import EmailInputField, PhoneCodeForm, PhoneField

from ..services.contact import claim_number_normalise

__all__ = ["ContactRequestForm", "PhoneCodeForm", "StatusLookupForm"]


class ContactRequestForm(forms.Form):
    email = EmailInputField(
        label=_("Email address you registered"),
        help_text=_("We send a link to the email address on your account, never to another one."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    phone = PhoneField(
        label=_("Mobile phone number you registered"),
        help_text=_("For example 090-1234-5678. We text a code to the number on your account, never to another one."),
    )
    full_name = forms.CharField(
        label=_("Your full name"),
        max_length=150,
        help_text=_("Supporting information for our staff. It does not prove who you are."),
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    birth_date = forms.DateField(
        label=_("Birth date"),
        help_text=_("Supporting information for our staff. It does not prove who you are."),
        widget=forms.DateInput(attrs={"type": "date", "autocomplete": "bday"}, format="%Y-%m-%d"),
    )

    def clean_full_name(self) -> str:
        value = " ".join(str(self.cleaned_data["full_name"]).split())
        if not value:
            raise ValidationError(_("Enter your full name."), code="required")
        return value

    def clean_birth_date(self) -> date:
        value: date = self.cleaned_data["birth_date"]
        if value > timezone.localdate() or value.year < 1900:
            raise ValidationError(_("Enter a real birth date."), code="invalid")
        return value


class StatusLookupForm(forms.Form):
    claim_number = forms.CharField(
        label=_("Claim number"),
        max_length=24,
        help_text=_("In the mail we sent when you claimed, for example R0123456789."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}),
    )
    email = EmailInputField(
        label=_("Email address you registered"),
        help_text=_("We send a link to the claim's status to the email address on your account."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    def clean_claim_number(self) -> str:
        number = claim_number_normalise(self.cleaned_data["claim_number"])
        if not (len(number) == 11 and number[0] == "R" and number[1:].isdigit()):
            raise ValidationError(_("A claim number is R followed by 10 digits, for example R0123456789."), code="invalid")
        return number
