"""A draft shutdown programme for the demo, so a newcomer can announce it and try the
refund portal and the payout loop (README, "The refund programme in the demo").

Draft, never announced here: announcing closes no channel yet, but it mails every
holder, so a person does it on purpose. Idempotent; refused when DEBUG is off."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from refunds.models import ShutdownProgramme
from refunds.services.programme import programme_current

NOTICE_JA = (
    "AnzenPayは、サービスを終了いたします。残高をお持ちのお客さまには、資金決済法に基づき、"
    "申請期限までにお申し出いただいた全額を払い戻します。払戻しは /refund/ から、銀行振込または"
    "ゆうちょ銀行の窓口での現金受取をお選びいただけます。ログインできない方は、ご登録のメールアドレスと"
    "電話番号の確認でお手続きいただけます。当社がメールや電話でパスワードや確認コードをお尋ねすることはありません。"
)
NOTICE_EN = (
    "AnzenPay is ending its service. Under the Payment Services Act we refund the whole balance to every holder who "
    "claims it by the deadline, at /refund/, by bank transfer or as cash at a Japan Post counter. Holders who can no "
    "longer log in prove the email address and phone number on record instead. We never ask for a password or a code "
    "by mail or phone."
)


class Command(BaseCommand):
    help = "Create the demo's draft shutdown programme if there is none (development only)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_refund_demo is for development only (DEBUG is off).")
        existing = programme_current()
        if existing is not None:
            self.stdout.write(f"Shutdown programme already there: “{existing.title}” ({existing.get_state_display()}).")
            return
        now = timezone.now()
        programme = ShutdownProgramme.objects.create(
            title="AnzenPay サービス終了 (demo)",
            announced_on=timezone.localdate(now),
            service_ends_at=now + timedelta(days=30),
            claims_open_at=now,
            claims_close_at=now + timedelta(days=120),
            notice_ja=NOTICE_JA,
            notice_en=NOTICE_EN,
        )
        self.stdout.write(f"Draft shutdown programme “{programme.title}”: announce it under Admin → Shutdown programmes.")
