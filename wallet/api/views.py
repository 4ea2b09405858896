"""Customer app API: authentication, tokens, profile and authenticator enrolment.

Thin: each view validates with a serializer, calls one service and answers. Every
answer is described for drf-spectacular (schema at /api/schema/, docs at /api/docs/).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..access import HasVerifiedSecondFactor
from ..models import ApiToken
from ..request_meta import RequestMeta
from ..services.api_auth import (
    SECOND_FACTOR_METHODS,
    ApiAuthError,
    api_login_start,
    api_login_verify,
    api_step_up,
    api_token_revoke,
)
from ..services.login import LoginRefused, reset_notice_message, reset_required_for, security_reset_in_effect
from .serializers import (
    ApiTokenSerializer,
    CodeRequestSerializer,
    ErrorSerializer,
    LoginRequestSerializer,
    LoginResponseSerializer,
    MeSerializer,
    StepUpResponseSerializer,
    TokenResponseSerializer,
    VerifyRequestSerializer,
)
from .throttles import ScopedRateThrottle

REFUSAL_STATUS: dict[str, int] = {LoginRefused.Code.INVALID: 401, LoginRefused.Code.LOCKED: 429, LoginRefused.Code.CHANNEL_DISABLED: 503}
REFUSAL_CODE: dict[str, str] = {
    LoginRefused.Code.INVALID: ApiAuthError.Code.INVALID_CREDENTIALS,
    LoginRefused.Code.LOCKED: LoginRefused.Code.LOCKED,
    LoginRefused.Code.CHANNEL_DISABLED: LoginRefused.Code.CHANNEL_DISABLED,
}

BAD_REQUEST = OpenApiResponse(OpenApiTypes.OBJECT, description="The request body is not valid: field name → list of messages.")
UNAUTHENTICATED = OpenApiResponse(ErrorSerializer, description="No token, or the token is invalid, idle too long or revoked.")
FORBIDDEN = OpenApiResponse(ErrorSerializer, description="The token lacks a verified second factor or a fresh step-up.")
THROTTLED = OpenApiResponse(ErrorSerializer, description="Too many attempts: from this address (throttle) or on this account (lock).")


def _idle_days() -> int:
    return int(settings.API_TOKEN_IDLE_TIMEOUT.total_seconds() // 86400)


def _error(exc: ApiAuthError) -> Response:
    return Response({"detail": exc.message, "code": exc.code}, status=exc.status)


def _meta(request: Request) -> RequestMeta:
    return RequestMeta.from_request(request._request, channel="api")


class AuthThrottledView(APIView):
    """Endpoints that take a password or a code: throttled together under the 'auth' rate."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"


class LoginView(AuthThrottledView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["auth"],
        summary="Sign in with email and password",
        description=(
            "Unknown accounts and wrong passwords get the same 401 answer. With a confirmed authenticator, the answer is a "
            "challenge for /auth/verify/. Without one, a limited token (only /me/ and /factors/totp/) and `enrolment_required`."
        ),
        request=LoginRequestSerializer,
        responses={
            200: LoginResponseSerializer,
            400: BAD_REQUEST,
            401: OpenApiResponse(
                ErrorSerializer,
                description=(
                    "Email or password incorrect (`invalid_credentials`, the same answer for unknown accounts). "
                    "`password_reset_required` (with `reset_at` and `reset_url`) only for an account whose password AnzenPay "
                    "reset for security, asked from a `device_id` that has logged in to it with its second factor before."
                ),
            ),
            429: THROTTLED,
            503: OpenApiResponse(ErrorSerializer, description="Password login is switched off (channel `login.password`)."),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        form = LoginRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            started = api_login_start(
                request=request._request, email=data["email"], password=data["password"], device_id=data.get("device_id") or None
            )
        except LoginRefused as exc:
            if exc.code == LoginRefused.Code.INVALID:
                return self._invalid(email=data["email"], device_id=data.get("device_id") or None, message=exc.message)
            return Response({"detail": exc.message, "code": REFUSAL_CODE.get(exc.code, exc.code)}, status=REFUSAL_STATUS.get(exc.code, 401))
        body: dict[str, Any]
        if started.challenge is not None:
            body = {
                "status": "second_factor_required",
                "detail": _("Enter a code from your authenticator app or a backup code."),
                "challenge": started.challenge,
                "methods": SECOND_FACTOR_METHODS,
                "token": None,
                "expires_idle_days": None,
                "device_id": started.device_id,
            }
        else:
            body = {
                "status": "enrolment_required",
                "detail": _(
                    "Set up an authenticator app to use your wallet. First confirm it is you: POST /api/v1/factors/contact-proof/ "
                    "sends a code to the phone on record, then POST it to /api/v1/factors/contact-proof/verify/; "
                    "then POST /api/v1/factors/totp/ with this token."
                ),
                "challenge": None,
                "methods": [],
                "token": started.key,
                "expires_idle_days": _idle_days(),
                "device_id": started.device_id,
            }
        return Response(LoginResponseSerializer(body).data)

    @staticmethod
    def _invalid(*, email: str, device_id: str | None, message: str) -> Response:
        """A refused password. The app's own known device of an account whose password staff or a mass
        reset made unusable is told so (``password_reset_required``); everyone else gets the same answer
        as for an unknown address (A12), with a hint while such resets are pending."""
        reset_user = reset_required_for(email=email, device_id=device_id)
        if reset_user is not None:
            reset_on = timezone.localtime(reset_user.credentials_changed_at)
            detail = _(
                "Your password was reset by AnzenPay for security on %(date)s. Your balance and your history are untouched. "
                "Ask for a reset link: it is sent only to the email address registered on your account. Then log in with your "
                "new password and your second factor."
            ) % {"date": reset_on.strftime("%Y-%m-%d")}
            body = {
                "detail": detail,
                "code": "password_reset_required",
                "reset_at": reset_on.isoformat(),
                "reset_url": settings.SITE_URL + reverse("wallet:password_reset"),
            }
            return Response(body, status=401)
        if security_reset_in_effect():
            message = f"{message} {reset_notice_message()}"
        return Response(
            {"detail": message, "code": REFUSAL_CODE[LoginRefused.Code.INVALID]}, status=REFUSAL_STATUS[LoginRefused.Code.INVALID]
        )


class VerifyView(AuthThrottledView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["auth"],
        summary="Complete sign-in with a second-factor code",
        request=VerifyRequestSerializer,
        responses={
            200: TokenResponseSerializer,
            400: BAD_REQUEST,
            401: OpenApiResponse(
                ErrorSerializer, description="Challenge expired or invalid (`challenge_invalid`), or code wrong (`invalid_code`)."
            ),
            429: THROTTLED,
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        form = VerifyRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            _token, key = api_login_verify(
                challenge=form.validated_data["challenge"], code=form.validated_data["code"], meta=_meta(request)
            )
        except ApiAuthError as exc:
            return _error(exc)
        return Response(TokenResponseSerializer({"token": key, "expires_idle_days": _idle_days()}).data)


class StepUpView(AuthThrottledView):
    permission_classes = [IsAuthenticated, HasVerifiedSecondFactor]

    @extend_schema(
        tags=["auth"],
        summary="Fresh second factor for this token (step-up)",
        description="Needed before sensitive changes; valid for STEP_UP_MAX_AGE.",
        request=CodeRequestSerializer,
        responses={200: StepUpResponseSerializer, 400: BAD_REQUEST, 401: UNAUTHENTICATED, 403: FORBIDDEN, 429: THROTTLED},
    )
    def post(self, request: Request) -> Response:
        form = CodeRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            token = api_step_up(user=request.user, token=request.auth, code=form.validated_data["code"], meta=_meta(request))  # type: ignore[arg-type]
        except ApiAuthError as exc:
            return _error(exc)
        valid = int(settings.STEP_UP_MAX_AGE.total_seconds())
        return Response(StepUpResponseSerializer({"step_up_at": token.step_up_at, "valid_seconds": valid}).data)


class LogoutView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["auth"],
        summary="Sign out: revoke the token in use",
        request=None,
        responses={204: OpenApiResponse(description="The token no longer works."), 401: UNAUTHENTICATED},
    )
    def post(self, request: Request) -> Response:
        api_token_revoke(user=request.user, token_id=request.auth.pk, meta=_meta(request))  # type: ignore[arg-type, union-attr]
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenListView(APIView):
    permission_classes = [IsAuthenticated, HasVerifiedSecondFactor]

    @extend_schema(
        tags=["auth"],
        summary="Your signed-in apps (tokens)",
        responses={200: ApiTokenSerializer(many=True), 401: UNAUTHENTICATED, 403: FORBIDDEN},
    )
    def get(self, request: Request) -> Response:
        tokens = ApiToken.objects.filter(user=request.user).order_by("-created_at", "-id")  # type: ignore[misc]
        return Response(ApiTokenSerializer(tokens, many=True, context={"current_token_id": request.auth.pk}).data)  # type: ignore[union-attr]


class TokenDetailView(APIView):
    permission_classes = [IsAuthenticated, HasVerifiedSecondFactor]

    @extend_schema(
        tags=["auth"],
        summary="Revoke one of your tokens",
        request=None,
        responses={
            204: OpenApiResponse(description="Revoked."),
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            404: OpenApiResponse(ErrorSerializer, description="No such token among yours."),
        },
    )
    def delete(self, request: Request, token_id: int) -> Response:
        if not api_token_revoke(user=request.user, token_id=token_id, meta=_meta(request)):  # type: ignore[arg-type]
            return Response({"detail": _("No such token."), "code": "not_found"}, status=404)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["account"], summary="Your profile", responses={200: MeSerializer, 401: UNAUTHENTICATED})
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user, context={"token": request.auth}).data)
