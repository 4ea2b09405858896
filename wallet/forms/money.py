"""Forms of the money pages: top-up, history filters, the "I don't recognise this" report."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import date, timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..models import Card, Transfer

# What a customer can meet in their own history (ledger-internal kinds are never theirs).
ACTIVITY_KINDS = [
    Transfer.Kind.TOPUP,
    Transfer.Kind.TOPUP_RELEASE,
    Transfer.Kind.PAYMENT,
    Transfer.Kind.PAYMENT_REFUND,
    Transfer.Kind.REVERSAL,
    Transfer.Kind.COMPENSATION,
    Transfer.Kind.REFUND_CLAIM,
    Transfer.Kind.REFUND_CLAIM_RETURN,
    Transfer.Kind.ADJUSTMENT,
]
AMOUNT_DIGITS_MAX = 9
# History filters accept days in a sane window (L04): nothing in a wallet predates the service, and a
# year like 9999 would overflow the day-after arithmetic of the query.
ACTIVITY_DATE_MIN = date(2000, 1, 1)
ACTIVITY_DATE_YEARS_AHEAD = 5


def activity_date_max() -> date:
    return timezone.localdate() + timedelta(days=365 * ACTIVITY_DATE_YEARS_AHEAD)


def activity_date_check(value: date) -> None:
    """Refuse a history filter day outside ``ACTIVITY_DATE_MIN`` … today + a few years, with a message."""
    latest = activity_date_max()
    if value < ACTIVITY_DATE_MIN or value > latest:
        raise ValidationError(
            _("Enter a date between %(first)s and %(last)s."),
            code="out_of_range",
            params={"first": ACTIVITY_DATE_MIN.isoformat(), "last": latest.isoformat()},
        )


class YenAmountField(forms.CharField):
    """Whole yen as people type them: "10000", "10,000", "¥10,000" or full-width "１００００".

    A text input rather than type=number, which refuses the thousands separator many
    customers type and silently drops full-width digits on some phones.
    """

    widget = forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 20)
        super().__init__(**kwargs)

    def clean(self, value: Any) -> int | None:  # type: ignore[override]
        raw = super().clean(value)
        if not raw:
            return None
        text = unicodedata.normalize("NFKC", raw).replace(",", "").replace("¥", "").replace("円", "").strip()
        if not text.isascii() or not text.isdigit() or len(text) > AMOUNT_DIGITS_MAX:
            raise ValidationError(_("Enter the amount in whole yen, for example 5000."), code="invalid")
        amount = int(text)
        if amount < 1:
            raise ValidationError(_("Enter an amount of at least ¥1."), code="min_value")
        return amount


def card_label(card: Card) -> str:
    """ "VISA •••• 4242": the brand as printed on the card."""
    return f"{card.brand.upper()} •••• {card.last4}"


class CardChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Card) -> str:
        return f"{card_label(obj)} ({obj.exp_month:02d}/{obj.exp_year % 100:02d}, {obj.get_funding_display()})"


class TopUpForm(forms.Form):
    card = CardChoiceField(queryset=Card.objects.none(), label=_("Card"), empty_label=None)
    amount = YenAmountField(label=_("Amount (yen)"))
    # Made when the form is shown: pressing the button twice, or reloading the result, tops up once (B06).
    attempt = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, cards: QuerySet[Card], step_up_from_yen: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["card"].queryset = cards  # type: ignore[attr-defined]
        if step_up_from_yen is not None:
            self.fields["amount"].help_text = _("From ¥%(amount)s we ask for a code from your authenticator app first.") % {
                "amount": f"{step_up_from_yen:,}"
            }
        if not self.is_bound:
            self.initial.setdefault("attempt", uuid.uuid4())


class ActivityFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Type"),
        required=False,
        choices=[("", _("All types")), *[(kind.value, kind.label) for kind in ACTIVITY_KINDS]],
    )
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}), validators=[activity_date_check]
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}), validators=[activity_date_check]
    )
    search = forms.CharField(label=_("Search"), required=False, max_length=100, help_text=_("Store name, description or reference"))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date is before the start date."))
        return cleaned

    def filters(self) -> dict[str, Any]:
        """Arguments for ``activity_for``; an invalid filter is dropped rather than failing the page."""
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "kind": data.get("kind") or None,
            "date_from": data.get("date_from"),
            "date_to": data.get("date_to"),
            "search": (data.get("search") or "").strip(),
        }


class TransactionReportForm(forms.Form):
    note = forms.CharField(
        label=_("What happened? (optional)"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("For example: I was at home that day and did not shop there."),
    )
    lock_wallet = forms.BooleanField(
        label=_("Also lock my wallet now"),
        required=False,
        initial=True,
        help_text=_("Stops every payment from your wallet at once. You can unlock it later with a code from your authenticator app."),
    )
