"""Customer app API: proving a contact on record and enrolling an authenticator (A13, A14).

The first authenticator needs the token to have proven the phone on record
(``/factors/contact-proof/``); later ones need a full token with a fresh step-up.
"""

from __future__ import annotations

import base64
from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from ..access import HasFreshStepUp
from ..models import User
from ..services.api_auth import (
    ApiAuthError,
    api_contact_proof_send,
    api_contact_proof_verify,
    api_totp_enrolment_confirm,
    api_totp_enrolment_start,
)
from ..services.first_factor import FirstFactorRefused
from ..services.second_factor import user_has_second_factor
from .serializers import CodeRequestSerializer, ErrorSerializer, TotpConfirmedSerializer, TotpEnrolmentSerializer
from .views import BAD_REQUEST, FORBIDDEN, THROTTLED, UNAUTHENTICATED, AuthThrottledView, _error, _meta


class CanManageFactors(BasePermission):
    """The first authenticator may be enrolled with a limited token; once the account
    has one, changing factors needs a full token with a fresh step-up (S04)."""

    message = HasFreshStepUp.message

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not isinstance(user, User):
            return False
        if not user_has_second_factor(user):
            return True
        return HasFreshStepUp().has_permission(request, view)


def _first_factor_refused(refused: FirstFactorRefused) -> Response:
    statuses: dict[str, int] = {
        FirstFactorRefused.Code.PROOF_REQUIRED: 403,
        FirstFactorRefused.Code.STAFF: 403,
        FirstFactorRefused.Code.FROZEN: 403,
        FirstFactorRefused.Code.NO_VERIFIED_PHONE: 409,
        FirstFactorRefused.Code.TOO_MANY: 429,
    }
    status_code = statuses.get(refused.code, 400)
    return Response({"detail": refused.message, "code": refused.code}, status=status_code)


FIRST_FACTOR_FORBIDDEN = OpenApiResponse(
    ErrorSerializer,
    description=(
        "`proof_required`: a first authenticator needs a fresh proof of the phone on record with this token "
        "(/factors/contact-proof/). `staff`: staff accounts never enrol here. `frozen`: the account is frozen or under investigation."
    ),
)


class ContactProofSendView(AuthThrottledView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["factors"],
        summary="Send a code to the phone on record (before the first authenticator)",
        description="The code goes only to the verified phone number on the account; nothing in the request can choose another.",
        request=None,
        responses={
            202: OpenApiResponse(ErrorSerializer, description="Sent."),
            401: UNAUTHENTICATED,
            403: FIRST_FACTOR_FORBIDDEN,
            409: OpenApiResponse(ErrorSerializer, description="No verified phone (`no_verified_phone`) or a factor exists (`not_needed`)."),
            429: THROTTLED,
        },
    )
    def post(self, request: Request) -> Response:
        try:
            api_contact_proof_send(user=request.user, meta=_meta(request))  # type: ignore[arg-type]
        except ApiAuthError as exc:
            return _error(exc)
        except FirstFactorRefused as refused:
            return _first_factor_refused(refused)
        return Response({"detail": _("We sent a 6-digit code by SMS to the phone number on your account."), "code": "sent"}, status=202)


class ContactProofVerifyView(AuthThrottledView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["factors"],
        summary="Prove the phone on record with the SMS code",
        description="On success this token may enrol the first authenticator for the next minutes (FIRST_FACTOR_PROOF_MINUTES).",
        request=CodeRequestSerializer,
        responses={200: ErrorSerializer, 400: BAD_REQUEST, 401: UNAUTHENTICATED, 429: THROTTLED},
    )
    def post(self, request: Request) -> Response:
        form = CodeRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            api_contact_proof_verify(
                user=request.user,  # type: ignore[arg-type]
                token=request.auth,  # type: ignore[arg-type]
                code=form.validated_data["code"],
                meta=_meta(request),
            )
        except ApiAuthError as exc:
            return _error(exc)
        return Response({"detail": _("Thank you. Now set up your authenticator app."), "code": "contact_proven"})


class TotpStartView(AuthThrottledView):
    permission_classes = [IsAuthenticated, CanManageFactors]

    @extend_schema(
        tags=["factors"],
        summary="Start enrolling an authenticator app",
        description="Returns a new secret; it counts only after /factors/totp/confirm/ with a first code. Starting again replaces it.",
        request=None,
        responses={200: TotpEnrolmentSerializer, 401: UNAUTHENTICATED, 403: FORBIDDEN, 429: THROTTLED},
    )
    def post(self, request: Request) -> Response:
        try:
            device = api_totp_enrolment_start(user=request.user, token=request.auth, meta=_meta(request))  # type: ignore[arg-type]
        except FirstFactorRefused as refused:
            return _first_factor_refused(refused)
        body = {
            "otpauth_uri": device.config_url,
            "secret": base64.b32encode(device.bin_key).decode().rstrip("="),
            "digits": device.digits,
            "period": device.step,
        }
        return Response(TotpEnrolmentSerializer(body).data)


class TotpConfirmView(AuthThrottledView):
    permission_classes = [IsAuthenticated, CanManageFactors]

    @extend_schema(
        tags=["factors"],
        summary="Confirm the authenticator app with its first code",
        description="On success the token in use gains the second factor (and a fresh step-up).",
        request=CodeRequestSerializer,
        responses={
            200: TotpConfirmedSerializer,
            400: BAD_REQUEST,
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            409: OpenApiResponse(ErrorSerializer, description="No enrolment in progress (`no_enrolment`)."),
            429: THROTTLED,
        },
    )
    def post(self, request: Request) -> Response:
        form = CodeRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            api_totp_enrolment_confirm(
                user=request.user,  # type: ignore[arg-type]
                token=request.auth,  # type: ignore[arg-type]
                code=form.validated_data["code"],
                meta=_meta(request),
            )
        except ApiAuthError as exc:
            return _error(exc)
        except FirstFactorRefused as refused:
            return _first_factor_refused(refused)
        body = {"detail": _("Your authenticator app is set up."), "token_has_second_factor": True}
        return Response(TotpConfirmedSerializer(body).data)
