from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..models import User, normalize_email, validate_ascii_email
from ..services.phone import phone_normalise
from .fields import new_password_field, password_again_field

# Full-width katakana, the long-vowel mark, the middle dot and single spaces between names.
_KANA_RE = re.compile(r"^[ァ-ヶー・]+( [ァ-ヶー・]+)*$")


def clean_email_value(raw: str) -> str:
    """Normalise first (full-width letters fold to ASCII), then insist on ASCII and a valid shape."""
    email = normalize_email(raw)
    validate_ascii_email(email)
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ValidationError(_("Enter a valid email address, for example hanako@example.jp."), code="invalid") from exc
    return email


def clean_kana_value(raw: str) -> str:
    """NFKC turns half-width katakana and the ideographic space into their standard forms."""
    value = " ".join(unicodedata.normalize("NFKC", raw or "").split())
    if not _KANA_RE.match(value):
        raise ValidationError(_("Write your name in full-width katakana, for example ヤマダ ハナコ."), code="invalid")
    return value


class EmailInputField(forms.CharField):
    widget = forms.EmailInput

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 254)
        super().__init__(**kwargs)

    def clean(self, value: Any) -> str:
        value = super().clean(value)
        return clean_email_value(value) if value else value


class PhoneField(forms.CharField):
    widget = forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("label", _("Mobile phone number"))
        kwargs.setdefault("help_text", _("A Japanese mobile number, for example 090-1234-5678. We send a code to it by SMS."))
        super().__init__(**kwargs)

    def clean(self, value: Any) -> str:
        value = super().clean(value)
        return phone_normalise(value) if value else value


class SignupForm(forms.Form):
    email = EmailInputField(label=_("Email address"), widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = new_password_field(_("Password"))
    password_confirm = password_again_field(_("Password again"))
    full_name = forms.CharField(label=_("Full name"), max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"}))
    name_kana = forms.CharField(
        label=_("Name in katakana"),
        max_length=150,
        help_text=_("As on your bank account, for example ヤマダ ハナコ."),
    )
    phone = PhoneField()
    birth_date = forms.DateField(
        label=_("Birth date (optional)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date", "autocomplete": "bday"}, format="%Y-%m-%d"),
    )

    def clean_full_name(self) -> str:
        value = " ".join(str(self.cleaned_data["full_name"]).split())
        if not value:
            raise ValidationError(_("Enter your full name."), code="required")
        return value

    def clean_name_kana(self) -> str:
        return clean_kana_value(self.cleaned_data["name_kana"])

    def clean_birth_date(self) -> date | None:
        value: date | None = self.cleaned_data.get("birth_date")
        if value is not None and (value > timezone.localdate() or value.year < 1900):
            raise ValidationError(_("Enter a real birth date, or leave it empty."), code="invalid")
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        password, confirm = cleaned.get("password"), cleaned.get("password_confirm")
        if password and confirm and password != confirm:
            self.add_error("password_confirm", _("The two passwords are not the same."))
        if password:
            probe = User(email=cleaned.get("email") or "", full_name=cleaned.get("full_name") or "")
            try:
                password_validation.validate_password(password, probe)
            except ValidationError as exc:
                self.add_error("password", exc)
        return cleaned


class ResendLinkForm(forms.Form):
    email = EmailInputField(label=_("Email address"), widget=forms.EmailInput(attrs={"autocomplete": "email"}))


class PhoneCodeForm(forms.Form):
    code = forms.CharField(
        label=_("6-digit code from the SMS"),
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9 ]*"}),
    )

    def clean_code(self) -> str:
        code = "".join(unicodedata.normalize("NFKC", self.cleaned_data["code"]).split())
        if not re.fullmatch(r"[0-9]{6}", code):
            raise ValidationError(_("Enter the 6 digits from the SMS."), code="invalid")
        return code


class PhoneNumberForm(forms.Form):
    phone = PhoneField()
