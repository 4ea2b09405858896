"""The customer's money pages: top-up, the payment code, history with receipts and
"I don't recognise this", and locking the wallet.

Every page needs a verified second factor (A05); a large card top-up and unlocking
need a fresh one (S04). Locking needs nothing more: it only ever stops money.
"""

from __future__ import annotations

from django.urls import URLPattern, path

from . import activity, lock, pay, topup

urlpatterns: list[URLPattern] = [
    path("topup/", topup.topup_view, name="topup"),
    path("topup/<uuid:public_id>/", topup.topup_result, name="topup_result"),
    path("pay/", pay.pay_view, name="pay"),
    path("pay/code/new/", pay.pay_code_new, name="pay_code_new"),
    path("activity/", activity.activity_view, name="activity"),
    path("activity/export.csv", activity.activity_export, name="activity_export"),
    path("activity/<uuid:public_id>/", activity.receipt_view, name="receipt"),
    path("activity/<uuid:public_id>/report/", activity.report_view, name="receipt_report"),
    path("wallet/lock/", lock.lock_view, name="wallet_lock"),
    path("wallet/unlock/", lock.unlock_view, name="wallet_unlock"),
]
