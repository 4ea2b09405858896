"""Money API: the customer app (balance, history, cards, top-ups, payment codes)
and store terminals (payments, refunds, cash top-ups).

Thin, like views.py: validate with a serializer, call one service or selector,
answer. Refusals raised by services (``MoneyError``, ``ChannelDisabled``) become
``{"detail", "code"}`` answers in errors.py. Another customer's or merchant's
object is always 404, exactly like one that does not exist (B08).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from ..access import HasVerifiedSecondFactor
from ..models import Entry, LimitPolicy, Payment, PaymentRefund, Terminal, User
from ..request_meta import RequestMeta
from ..selectors import activity_for, cards_active_for, entry_for_customer, payments_for_terminal, topups_for, wallet_balance, wallet_locks
from ..services.payments import payment_code_issue, payment_redeem, payment_refund
from ..services.step_up_policy import StepUpRequired
from ..services.topups import topup_card, topup_cash
from .authentication import ApiTokenAuthentication
from .idempotency import IDEMPOTENCY_KEY_PARAMETER, REPLAYED_RESPONSE_HEADER, IdempotencyContext, idempotent
from .money_serializers import (
    ActivityFilterSerializer,
    ActivitySerializer,
    CardSerializer,
    ChannelDisabledSerializer,
    MoneyErrorSerializer,
    PaymentCodeSerializer,
    TerminalCashTopUpRequestSerializer,
    TerminalPaymentRequestSerializer,
    TerminalPaymentSerializer,
    TerminalRefundRequestSerializer,
    TerminalRefundSerializer,
    TerminalTopUpSerializer,
    TopUpRequestSerializer,
    TopUpSerializer,
    WalletSerializer,
)
from .step_up import HasFreshStepUpForTopUp, cumulative_step_up_refusal
from .terminal_auth import IsCustomer, IsTerminal, TerminalKeyAuthentication

CUSTOMER_LIMIT_KINDS = ("topup.card", "topup.cash", "payment")

# --- documented answers ------------------------------------------------------------------

_ERROR_DESCRIPTIONS = {
    400: "The request is not valid: field name → list of messages; or `{detail, code}` for a missing or malformed Idempotency-Key.",
    401: "No credentials, or invalid, idle or revoked ones (a terminal key on a customer endpoint counts as none, and vice versa).",
    402: "`payment_declined`: the payment was refused after a risk check.",
    403: "The token lacks a verified second factor, or (top-ups) a fresh step-up from /api/v1/auth/step-up/.",
    404: "No such object among yours (another customer's or merchant's objects answer exactly the same).",
    409: "The object is not in a state that allows this.",
    422: "Refused: `insufficient_funds`, `limit_exceeded`, `balance_cap`, `refund_too_large`, `card_not_usable`, "
    "`idempotency_key_reused` (same key, different request), `refused`, …",
    423: "`wallet_frozen`: the wallet is locked (by its owner or by support).",
    503: "`channel_disabled`: this service is switched off for now; balances and history are safe.",
}


def _answers(success: dict[int, Any], *error_statuses: int, **descriptions: str) -> dict[int, Any]:
    answers: dict[int, Any] = dict(success)
    for code in error_statuses:
        text = descriptions.get(f"d{code}", _ERROR_DESCRIPTIONS[code])
        if code == 400:
            answers[code] = OpenApiResponse(OpenApiTypes.OBJECT, description=text)
        elif code == 503:
            answers[code] = OpenApiResponse(ChannelDisabledSerializer, description=text)
        else:
            answers[code] = OpenApiResponse(MoneyErrorSerializer, description=text)
    return answers


def _created(serializer: Any, description: str) -> dict[int, Any]:
    return {201: OpenApiResponse(serializer, description=description)}


def _not_found(message: str) -> exceptions.NotFound:
    return exceptions.NotFound(message)


# --- customer ----------------------------------------------------------------------------


class CustomerView(APIView):
    """Customer app endpoints: a Bearer token with a verified second factor. Terminal keys are not looked at."""

    authentication_classes = [ApiTokenAuthentication]
    permission_classes = [IsAuthenticated, IsCustomer, HasVerifiedSecondFactor]
    parser_classes = [JSONParser]

    @property
    def customer(self) -> User:
        return self.request.user  # type: ignore[return-value]  # IsCustomer


class StrictCursorPagination(CursorPagination):
    """Cursor pages (stable while new rows arrive, no COUNT(*)); a bad ``page_size`` is a 400
    rather than silently replaced by the default (L03)."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            message = _("Enter a whole number from 1 to %(max)s.") % {"max": self.max_page_size}
            raise exceptions.ValidationError({self.page_size_query_param: [message]})
        return int(raw)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size, "default": self.page_size}
        return parameters


class ActivityPagination(StrictCursorPagination):
    ordering = "-id"


class WalletView(CustomerView):
    @extend_schema(
        tags=["wallet"],
        summary="Balance, lock state and limits",
        responses=_answers({200: WalletSerializer}, 401, 403),
    )
    def get(self, request: Request) -> Response:
        user = self.customer
        locks = wallet_locks(user)
        policies = {p.kind: p for p in LimitPolicy.objects.filter(kind__in=(*CUSTOMER_LIMIT_KINDS, "balance"))}
        balance_policy = policies.get("balance")
        body = {
            "balance_yen": wallet_balance(user),
            "balance_max_yen": balance_policy.per_charge_max_yen if balance_policy else None,
            "locked": locks["debits_blocked"],
            "locked_by_you": locks["locked_by_you"],
            "topups_blocked": locks["credits_blocked"],
            "limits": [policies[kind] for kind in CUSTOMER_LIMIT_KINDS if kind in policies],
        }
        return Response(WalletSerializer(body).data)


class ActivityListView(CustomerView, GenericAPIView):  # type: ignore[type-arg]
    serializer_class = ActivitySerializer
    pagination_class = ActivityPagination

    def get_queryset(self) -> QuerySet[Entry]:
        # A plain dict: as form data, an empty "?kind=" would count as absent rather than invalid.
        filters = ActivityFilterSerializer(data=self.request.query_params.dict())
        filters.is_valid(raise_exception=True)
        return activity_for(self.customer, **filters.validated_data)

    @extend_schema(
        tags=["wallet"],
        summary="Your history, newest first",
        description="Cursor-paginated: follow `next` until it is null. Filters combine.",
        parameters=[ActivityFilterSerializer],
        responses=_answers({200: ActivitySerializer(many=True)}, 400, 401, 403, 404, d404="The `cursor` is not valid."),
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ActivitySerializer(page, many=True).data)


class ActivityDetailView(CustomerView):
    @extend_schema(
        tags=["wallet"],
        summary="One transaction (receipt)",
        responses=_answers({200: ActivitySerializer}, 401, 403, 404),
    )
    def get(self, request: Request, transaction_id: UUID) -> Response:
        try:
            entry = entry_for_customer(self.customer, transaction_id)
        except Entry.DoesNotExist as exc:
            raise _not_found(_("No such transaction.")) from exc
        return Response(ActivitySerializer(entry).data)


class PaymentCodeView(CustomerView):
    @extend_schema(
        tags=["wallet"],
        summary="A payment code to show at the register",
        description=(
            "Moves no money, so no Idempotency-Key: each call gives a new code and the previous unused one stops working. "
            "The register (or ATM) scans it to take a payment or a cash top-up."
        ),
        request=None,
        responses=_answers({201: PaymentCodeSerializer}, 401, 403),
    )
    def post(self, request: Request) -> Response:
        issued = payment_code_issue(user=self.customer)
        return Response(PaymentCodeSerializer(issued).data, status=status.HTTP_201_CREATED)


class CardListView(CustomerView):
    @extend_schema(tags=["cards"], summary="Your cards", responses=_answers({200: CardSerializer(many=True)}, 401, 403))
    def get(self, request: Request) -> Response:
        cards = cards_active_for(self.customer)
        return Response(CardSerializer(cards, many=True).data)


class TopUpCreateView(CustomerView):
    permission_classes = [IsAuthenticated, IsCustomer, HasFreshStepUpForTopUp]
    step_up_fresh = False

    @extend_schema(
        tags=["top-ups"],
        summary="Top up from one of your cards",
        description=(
            "Needs a fresh step-up (POST /api/v1/auth/step-up/) and an Idempotency-Key. The step-up threshold is cumulative "
            "(B11): the web asks for a code once the customer's top-ups of the last TOPUP_STEP_UP_WINDOW_HOURS, from every "
            "channel, reach TOPUP_STEP_UP_FROM_YEN together, and app top-ups count towards it. The answer is 201 whatever "
            "the card company said: read `status`. A `pending` top-up is settled later; GET it again."
        ),
        parameters=[IDEMPOTENCY_KEY_PARAMETER, REPLAYED_RESPONSE_HEADER],
        request=TopUpRequestSerializer,
        responses=_answers(
            _created(TopUpSerializer, "The top-up as recorded (or as first recorded, when replayed)."),
            400,
            401,
            403,
            404,
            422,
            423,
            503,
            d404="No such card among yours.",
        ),
    )
    @idempotent(atomic=False)  # the card gateway is called between the service's own transactions
    def post(self, request: Request) -> Response:
        form = TopUpRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        card = cards_active_for(self.customer).filter(pk=form.validated_data["card_id"]).first()
        if card is None:
            raise _not_found(_("No such card."))
        idempotency: IdempotencyContext = request.idempotency  # type: ignore[attr-defined]
        try:
            topup = topup_card(
                user=self.customer,
                card=card,
                amount_yen=form.validated_data["amount_yen"],
                idempotency_key=idempotency.service_key,
                meta=RequestMeta.from_request(request._request, channel="api"),
                step_up_fresh=self.step_up_fresh,
            )
        except StepUpRequired as exc:  # the service's own check (B11): answered in the permission's 403 shape
            raise exceptions.PermissionDenied(cumulative_step_up_refusal()) from exc
        return Response(TopUpSerializer(topup).data, status=status.HTTP_201_CREATED)


class TopUpDetailView(CustomerView):
    @extend_schema(tags=["top-ups"], summary="One of your top-ups", responses=_answers({200: TopUpSerializer}, 401, 403, 404))
    def get(self, request: Request, topup_id: UUID) -> Response:
        topup = topups_for(self.customer).filter(public_id=topup_id).first()
        if topup is None:
            raise _not_found(_("No such top-up."))
        return Response(TopUpSerializer(topup).data)


# --- terminals ---------------------------------------------------------------------------


class TerminalView(APIView):
    """Store register and ATM endpoints: ``Authorization: Terminal <key>``. Customer tokens are not looked at."""

    authentication_classes = [TerminalKeyAuthentication]
    permission_classes = [IsTerminal]
    parser_classes = [JSONParser]

    @property
    def terminal(self) -> Terminal:
        return self.request.user  # type: ignore[return-value]  # IsTerminal

    def merchant_payments(self) -> QuerySet[Payment]:
        refunds = PaymentRefund.objects.select_related("terminal")
        return payments_for_terminal(self.terminal).prefetch_related(Prefetch("refunds", queryset=refunds))

    def merchant_payment(self, payment_id: UUID) -> Payment:
        payment = self.merchant_payments().filter(public_id=payment_id).first()
        if payment is None:
            raise _not_found(_("No such payment at this merchant."))
        return payment


class PaymentPagination(StrictCursorPagination):
    ordering = ("-created_at", "-id")


INVALID_CODE_404 = "`invalid_payment_code`: the code is unknown, expired, used or replaced; ask the customer for a new one."


class TerminalPaymentsView(TerminalView, GenericAPIView):  # type: ignore[type-arg]
    pagination_class = PaymentPagination

    def get_serializer_class(self) -> type[Serializer]:  # type: ignore[type-arg]
        # OPTIONS describes the POST body; GET lists payments.
        return TerminalPaymentRequestSerializer if self.request.method == "POST" else TerminalPaymentSerializer

    @extend_schema(
        tags=["terminal"],
        summary="Payments taken by this terminal's merchant, newest first",
        responses=_answers({200: TerminalPaymentSerializer(many=True)}, 400, 401, 404, d404="The `cursor` is not valid."),
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.merchant_payments())
        return self.get_paginated_response(TerminalPaymentSerializer(page, many=True).data)

    @extend_schema(
        tags=["terminal"],
        summary="Take a payment from a customer's payment code",
        parameters=[IDEMPOTENCY_KEY_PARAMETER, REPLAYED_RESPONSE_HEADER],
        request=TerminalPaymentRequestSerializer,
        responses=_answers(
            _created(TerminalPaymentSerializer, "Paid. The code cannot be used again."),
            400,
            401,
            402,
            404,
            422,
            423,
            503,
            d404=INVALID_CODE_404,
        ),
    )
    @idempotent
    def post(self, request: Request) -> Response:
        form = TerminalPaymentRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        idempotency: IdempotencyContext = request.idempotency  # type: ignore[attr-defined]
        payment = payment_redeem(
            terminal=self.terminal,
            code=form.validated_data["code"],
            amount_yen=form.validated_data["amount_yen"],
            idempotency_key=idempotency.service_key,
            description=form.validated_data["description"],
        )
        return Response(TerminalPaymentSerializer(payment).data, status=status.HTTP_201_CREATED)


class TerminalPaymentDetailView(TerminalView):
    @extend_schema(
        tags=["terminal"], summary="One payment of this merchant", responses=_answers({200: TerminalPaymentSerializer}, 401, 404)
    )
    def get(self, request: Request, payment_id: UUID) -> Response:
        return Response(TerminalPaymentSerializer(self.merchant_payment(payment_id)).data)


class TerminalRefundView(TerminalView):
    @extend_schema(
        tags=["terminal"],
        summary="Refund all or part of a payment to the customer's wallet",
        description="Any terminal of the merchant may refund; several partial refunds up to the amount paid.",
        parameters=[IDEMPOTENCY_KEY_PARAMETER, REPLAYED_RESPONSE_HEADER],
        request=TerminalRefundRequestSerializer,
        responses=_answers(
            _created(TerminalRefundSerializer, "Refunded; `payment` shows what is left to refund."),
            400,
            401,
            404,
            422,
            503,
            d404="No such payment at this merchant.",
        ),
    )
    @idempotent
    def post(self, request: Request, payment_id: UUID) -> Response:
        payment = self.merchant_payment(payment_id)
        form = TerminalRefundRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        idempotency: IdempotencyContext = request.idempotency  # type: ignore[attr-defined]
        refund = payment_refund(
            terminal=self.terminal, payment=payment, amount_yen=form.validated_data["amount_yen"], idempotency_key=idempotency.service_key
        )
        refund.payment = self.merchant_payment(payment_id)  # as it is now, with this refund
        return Response(TerminalRefundSerializer(refund).data, status=status.HTTP_201_CREATED)


class TerminalTopUpView(TerminalView):
    @extend_schema(
        tags=["terminal"],
        summary="Cash top-up: the customer paid cash at this register (or ATM)",
        description="The channel follows the terminal's kind: charge.store_register or charge.atm. Read `status`: "
        "`held` means the money was received but is held for review.",
        parameters=[IDEMPOTENCY_KEY_PARAMETER, REPLAYED_RESPONSE_HEADER],
        request=TerminalCashTopUpRequestSerializer,
        responses=_answers(
            _created(TerminalTopUpSerializer, "Recorded. Give the customer the receipt."),
            400,
            401,
            404,
            422,
            423,
            503,
            d404=INVALID_CODE_404,
        ),
    )
    @idempotent
    def post(self, request: Request) -> Response:
        form = TerminalCashTopUpRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        idempotency: IdempotencyContext = request.idempotency  # type: ignore[attr-defined]
        topup = topup_cash(
            terminal=self.terminal,
            code=form.validated_data["code"],
            amount_yen=form.validated_data["amount_yen"],
            idempotency_key=idempotency.service_key,
        )
        return Response(TerminalTopUpSerializer(topup).data, status=status.HTTP_201_CREATED)
