"""The claim steps' small forms: the balance the customer confirms, the way to be paid, and the
address Japan Post mails the cash certificate to (checked by ``postal_details_clean``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from ..models import RefundClaim
from ..services.payee import CleanPostalDetails, PayeeInvalid, postal_details_clean


class BalanceConfirmForm(forms.Form):
    """The amount shown on the page travels with the confirmation, so a balance that changed
    in between is noticed here and again, under the wallet's lock, by ``claim_submit``."""

    amount_yen = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class MethodForm(forms.Form):
    method = forms.ChoiceField(
        label=_("How do you want to receive the money?"),
        choices=[
            (RefundClaim.Method.BANK, _("Bank transfer to an account in your name")),
            (RefundClaim.Method.POSTAL, _("Cash at a Japan Post counter, with a certificate we mail to you")),
        ],
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose bank transfer or cash at a Japan Post counter.")},
    )


class PostalDetailsForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=150,
        help_text=_("The certificate is made out to this name; bring an identity document with the same name to the counter."),
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
        error_messages={"required": _("Give the name the certificate is made out to (at most 150 characters).")},
    )
    name_kana = forms.CharField(
        label=_("Name in kana (optional)"),
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    postal_code = forms.CharField(
        label=_("Postal code"),
        max_length=10,
        help_text=_("Seven digits, for example 100-0001."),
        widget=forms.TextInput(attrs={"autocomplete": "postal-code", "inputmode": "numeric"}),
        error_messages={"required": _("A postal code is seven digits, like 100-0001.")},
    )
    address = forms.CharField(
        label=_("Address"),
        max_length=300,
        help_text=_("From the prefecture to the building and room number."),
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "street-address"}),
        error_messages={"required": _("Give the full address, from the prefecture to the building and room.")},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.details: CleanPostalDetails | None = None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            details = postal_details_clean(
                name=data.get("name", ""),
                name_kana=data.get("name_kana", ""),
                postal_code=data.get("postal_code", ""),
                address=data.get("address", ""),
            )
        except PayeeInvalid as invalid:
            for name, message in invalid.errors.items():
                if name not in self.errors:
                    self.add_error(name if name in self.fields else None, message)
        else:
            self.details = None if self.errors else details
        return data

    def stored(self) -> dict[str, str]:
        assert self.details is not None
        return {
            "name": self.details.name,
            "name_kana": self.details.name_kana,
            "postal_code": self.details.postal_code,
            "address": self.details.address,
        }


def postal_details_from_stored(stored: dict[str, Any]) -> CleanPostalDetails:
    return postal_details_clean(
        name=str(stored.get("name", "")),
        name_kana=str(stored.get("name_kana", "")),
        postal_code=str(stored.get("postal_code", "")),
        address=str(stored.get("address", "")),
    )
