"""Request and response shapes of the customer app API (documented by drf-spectacular)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from ..models import ApiToken, User
from ..services.second_factor import user_has_second_factor


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text=_("A message to show to the person."))
    code = serializers.CharField(
        required=False,
        help_text="invalid_credentials, locked, channel_disabled, challenge_invalid, invalid_code, no_enrolment, throttled, …",
    )


class LoginRequestSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})
    device_id = serializers.CharField(
        required=False,
        allow_blank=True,
        min_length=32,
        max_length=128,
        help_text=_("A random id the app generates once per install (32+ characters) and keeps; it identifies the device."),
    )


class LoginResponseSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["second_factor_required", "enrolment_required"],
        help_text=_(
            "second_factor_required: send `challenge` and a code to /auth/verify/. "
            "enrolment_required: `token` works only for /me/ and /factors/totp/ until an authenticator is enrolled."
        ),
    )
    detail = serializers.CharField()
    challenge = serializers.CharField(allow_null=True, help_text=_("Signed, valid 5 minutes."))
    methods = serializers.ListField(child=serializers.ChoiceField(choices=["totp", "backup_code"]))
    token = serializers.CharField(allow_null=True)
    expires_idle_days = serializers.IntegerField(allow_null=True)
    device_id = serializers.CharField(
        allow_null=True,
        required=False,
        help_text=_("Set when the request named no device_id: the id assigned to this install. Keep it and send it from now on."),
    )


class VerifyRequestSerializer(serializers.Serializer):
    challenge = serializers.CharField(max_length=2000)
    code = serializers.CharField(max_length=32, help_text=_("Six digits from the authenticator app, or a backup code."))


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField(help_text=_("Send as `Authorization: Bearer <token>`. Shown once."))
    expires_idle_days = serializers.IntegerField(help_text=_("The token dies after this many days without use."))


class CodeRequestSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=32)


class StepUpResponseSerializer(serializers.Serializer):
    step_up_at = serializers.DateTimeField()
    valid_seconds = serializers.IntegerField()


class MeSerializer(serializers.ModelSerializer):
    email_verified = serializers.SerializerMethodField()
    phone_verified = serializers.SerializerMethodField()
    second_factor_enrolled = serializers.SerializerMethodField()
    token_has_second_factor = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "full_name",
            "name_kana",
            "phone",
            "preferred_language",
            "email_verified",
            "phone_verified",
            "second_factor_enrolled",
            "token_has_second_factor",
        ]
        read_only_fields = fields

    def get_email_verified(self, obj: User) -> bool:
        return obj.email_verified_at is not None

    def get_phone_verified(self, obj: User) -> bool:
        return obj.phone_verified_at is not None

    def get_second_factor_enrolled(self, obj: User) -> bool:
        return user_has_second_factor(obj)

    def get_token_has_second_factor(self, obj: User) -> bool:
        return bool(getattr(self.context.get("token"), "second_factor_at", None))


class ApiTokenSerializer(serializers.ModelSerializer):
    second_factor = serializers.SerializerMethodField()
    current = serializers.SerializerMethodField()

    class Meta:
        model = ApiToken
        fields = ["id", "label", "key_prefix", "created_at", "last_used_at", "second_factor", "current"]
        read_only_fields = fields

    def get_second_factor(self, obj: ApiToken) -> bool:
        return obj.second_factor_at is not None

    def get_current(self, obj: ApiToken) -> bool:
        current = self.context.get("current_token_id")
        return bool(current and current == obj.pk)


class TotpEnrolmentSerializer(serializers.Serializer):
    otpauth_uri = serializers.CharField(help_text=_("Show as a QR code or open with the authenticator app."))
    secret = serializers.CharField(help_text=_("Base32 key for manual entry."))
    digits = serializers.IntegerField()
    period = serializers.IntegerField()


class TotpConfirmedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    token_has_second_factor = serializers.BooleanField()
