"""Request and response shapes of the money API (customer app and store terminals).

Terminal answers never carry who the customer is: a register learns that a code
paid, not whose wallet it was.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..forms.money import ACTIVITY_KINDS, activity_date_check
from ..models import Card, Entry, Payment, PaymentRefund, TopUp, Transfer

# Far above any limit policy (the services apply the real caps) and far below BigIntegerField's range.
AMOUNT_MAX_YEN = 1_000_000_000
PAYMENT_CODE_MAX_LENGTH = 32


def amount_field(help_text: Any = None) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=AMOUNT_MAX_YEN, help_text=help_text or _("Whole yen, at least 1."))


# --- errors ------------------------------------------------------------------------


class MoneyErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text=_("A message to show to the person."))
    code = serializers.CharField(
        help_text=(
            "insufficient_funds, wallet_frozen, limit_exceeded, balance_cap, invalid_payment_code, payment_declined, "
            "refund_too_large, card_not_usable, idempotency_key_required, idempotency_key_invalid, idempotency_key_reused, "
            "not_found, not_authenticated, permission_denied, refused, …"
        )
    )


class ChannelDisabledSerializer(MoneyErrorSerializer):
    channel = serializers.CharField(help_text=_("The channel staff switched off, e.g. payment.store."))


# --- customer: wallet and history --------------------------------------------------------


class LimitSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["topup.card", "topup.cash", "payment"])
    per_charge_max_yen = serializers.IntegerField()
    per_day_max_yen = serializers.IntegerField(allow_null=True, help_text=_("Rolling 24 hours; null means no daily cap."))
    per_30_days_max_yen = serializers.IntegerField(allow_null=True, help_text=_("Rolling 30 days; null means no cap."))


class WalletSerializer(serializers.Serializer):
    balance_yen = serializers.IntegerField()
    balance_max_yen = serializers.IntegerField(allow_null=True, help_text=_("The most the wallet may hold."))
    locked = serializers.BooleanField(help_text=_("Payments from this wallet are blocked (by you or by support)."))
    locked_by_you = serializers.BooleanField(help_text=_("You locked the wallet yourself and can unlock it."))
    topups_blocked = serializers.BooleanField(help_text=_("Money cannot be added to this wallet at the moment."))
    limits = LimitSerializer(many=True)


class ActivityFilterSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ACTIVITY_KINDS, required=False, help_text=_("Only this kind of transaction."))
    date_from = serializers.DateField(
        required=False, validators=[activity_date_check], help_text=_("From this day (inclusive, Japan time); 2000-01-01 at the earliest.")
    )
    date_to = serializers.DateField(
        required=False, validators=[activity_date_check], help_text=_("Up to this day (inclusive, Japan time); at most five years ahead.")
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("date_from"), attrs.get("date_to")
        if start and end and start > end:
            raise serializers.ValidationError({"date_to": [_("The end date is before the start date.")]})
        return attrs


class ActivitySerializer(serializers.Serializer):
    """One line of the history: one transaction as it touched this wallet."""

    id = serializers.UUIDField(source="transfer.public_id", help_text=_("The transaction's reference; GET it for the receipt."))
    kind = serializers.ChoiceField(source="transfer.kind", choices=Transfer.Kind.choices)
    kind_display = serializers.CharField(source="transfer.get_kind_display")
    amount_yen = serializers.IntegerField(help_text=_("Positive: money in. Negative: money out."))
    created_at = serializers.DateTimeField()
    description = serializers.CharField(source="transfer.description")
    merchant = serializers.SerializerMethodField(help_text=_("The store, for payments and their refunds."))
    card = serializers.SerializerMethodField(help_text=_("The card, for card top-ups."))
    channel = serializers.SerializerMethodField(help_text=_("How money was added, for top-ups."))
    reverses = serializers.SerializerMethodField(help_text=_("The transaction this one reverses, if any."))

    def _payment(self, entry: Entry) -> Payment | None:
        transfer = entry.transfer
        payment = getattr(transfer, "payment", None)
        refund = getattr(transfer, "payment_refund", None)
        return payment or (refund.payment if refund is not None else None)

    def _topup(self, entry: Entry) -> TopUp | None:
        return getattr(entry.transfer, "topup", None) or getattr(entry.transfer, "released_topup", None)

    def get_merchant(self, entry: Entry) -> str | None:
        payment = self._payment(entry)
        return payment.merchant.name if payment is not None else None

    def get_card(self, entry: Entry) -> str | None:
        topup = self._topup(entry)
        return str(topup.card) if topup is not None and topup.card is not None else None

    def get_channel(self, entry: Entry) -> str | None:
        topup = self._topup(entry)
        return topup.channel if topup is not None else None

    def get_reverses(self, entry: Entry) -> str | None:
        reverses = entry.transfer.reverses
        return str(reverses.public_id) if reverses is not None else None


# --- customer: cards, top-ups, payment codes ---------------------------------------------


class CardSerializer(serializers.ModelSerializer):
    class Meta:
        model = Card
        fields = ["id", "brand", "last4", "exp_month", "exp_year", "funding", "created_at"]
        read_only_fields = fields


class TopUpRequestSerializer(serializers.Serializer):
    card_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text=_("One of your cards (GET /api/v1/cards/)."))
    amount_yen = amount_field()


class TopUpCardSerializer(serializers.ModelSerializer):
    class Meta:
        model = Card
        fields = ["id", "brand", "last4"]
        read_only_fields = fields


class TopUpSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    status_display = serializers.CharField(source="get_status_display")
    card = TopUpCardSerializer(allow_null=True)
    transaction_id = serializers.SerializerMethodField(help_text=_("The history entry, once money reached the wallet."))

    class Meta:
        model = TopUp
        fields = [
            "id",
            "status",
            "status_display",
            "failure_code",
            "amount_yen",
            "channel",
            "card",
            "created_at",
            "completed_at",
            "transaction_id",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "status": {
                "help_text": _(
                    "succeeded: in the wallet. held: received and held for review. pending: waiting for the card company "
                    "(GET this top-up again later). declined / failed: nothing was charged."
                )
            }
        }

    def get_transaction_id(self, topup: TopUp) -> str | None:
        transfer = topup.release_transfer or (topup.transfer if topup.status == TopUp.Status.SUCCEEDED else None)
        return str(transfer.public_id) if transfer is not None else None


class PaymentCodeSerializer(serializers.Serializer):
    code = serializers.CharField(help_text=_("Show as QR code and barcode at the register. Works once, until expires_at."))
    expires_at = serializers.DateTimeField()


# --- terminals ---------------------------------------------------------------------------


class TerminalPaymentRequestSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=PAYMENT_CODE_MAX_LENGTH, help_text=_("The payment code scanned from the customer's app."))
    amount_yen = amount_field()
    description = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")


class TerminalRefundRequestSerializer(serializers.Serializer):
    amount_yen = amount_field(_("Whole yen, at least 1, at most what is left to refund."))


class TerminalCashTopUpRequestSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=PAYMENT_CODE_MAX_LENGTH, help_text=_("The payment code scanned from the customer's app."))
    amount_yen = amount_field(_("The cash taken, in whole yen."))


class PaymentRefundLineSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    terminal = serializers.CharField(source="terminal.name")

    class Meta:
        model = PaymentRefund
        fields = ["id", "amount_yen", "created_at", "terminal"]
        read_only_fields = fields


class TerminalPaymentSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    terminal = serializers.CharField(source="terminal.name")
    refundable_yen = serializers.IntegerField()
    refunds = serializers.SerializerMethodField()

    class Meta:
        model = Payment
        fields = ["id", "status", "amount_yen", "refunded_yen", "refundable_yen", "description", "terminal", "created_at", "refunds"]
        read_only_fields = fields

    @extend_schema_field(PaymentRefundLineSerializer(many=True))
    def get_refunds(self, payment: Payment) -> list[dict[str, Any]]:
        # .all() so a list view's prefetch_related("refunds__terminal") is used.
        refunds = sorted(payment.refunds.all(), key=lambda refund: (refund.created_at, refund.pk))
        return PaymentRefundLineSerializer(refunds, many=True).data  # type: ignore[return-value]


class TerminalRefundSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    payment = TerminalPaymentSerializer()

    class Meta:
        model = PaymentRefund
        fields = ["id", "amount_yen", "created_at", "payment"]
        read_only_fields = fields


class TerminalTopUpSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    status_display = serializers.CharField(source="get_status_display")

    class Meta:
        model = TopUp
        fields = ["id", "status", "status_display", "amount_yen", "channel", "created_at", "completed_at"]
        read_only_fields = fields
