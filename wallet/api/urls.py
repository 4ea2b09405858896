from django.urls import path, re_path

from . import factors, money, views
from .errors import api_not_found

app_name = "api"

urlpatterns = [
    path("auth/login/", views.LoginView.as_view(), name="auth_login"),
    path("auth/verify/", views.VerifyView.as_view(), name="auth_verify"),
    path("auth/step-up/", views.StepUpView.as_view(), name="auth_step_up"),
    path("auth/logout/", views.LogoutView.as_view(), name="auth_logout"),
    path("auth/tokens/", views.TokenListView.as_view(), name="auth_tokens"),
    path("auth/tokens/<int:token_id>/", views.TokenDetailView.as_view(), name="auth_token_detail"),
    path("me/", views.MeView.as_view(), name="me"),
    path("factors/contact-proof/", factors.ContactProofSendView.as_view(), name="factors_contact_proof"),
    path("factors/contact-proof/verify/", factors.ContactProofVerifyView.as_view(), name="factors_contact_proof_verify"),
    path("factors/totp/", factors.TotpStartView.as_view(), name="factors_totp"),
    path("factors/totp/confirm/", factors.TotpConfirmView.as_view(), name="factors_totp_confirm"),
    # Customer app: money.
    path("wallet/", money.WalletView.as_view(), name="wallet"),
    path("wallet/activity/", money.ActivityListView.as_view(), name="wallet_activity"),
    path("wallet/activity/<uuid:transaction_id>/", money.ActivityDetailView.as_view(), name="wallet_activity_detail"),
    path("wallet/payment-code/", money.PaymentCodeView.as_view(), name="wallet_payment_code"),
    path("cards/", money.CardListView.as_view(), name="cards"),
    path("topups/", money.TopUpCreateView.as_view(), name="topups"),
    path("topups/<uuid:topup_id>/", money.TopUpDetailView.as_view(), name="topup_detail"),
    # Store registers and ATMs.
    path("terminal/payments/", money.TerminalPaymentsView.as_view(), name="terminal_payments"),
    path("terminal/payments/<uuid:payment_id>/", money.TerminalPaymentDetailView.as_view(), name="terminal_payment_detail"),
    path("terminal/payments/<uuid:payment_id>/refunds/", money.TerminalRefundView.as_view(), name="terminal_payment_refunds"),
    path("terminal/topups/", money.TerminalTopUpView.as_view(), name="terminal_topups"),
    # Last: unmatched API addresses (e.g. a malformed UUID) get a JSON 404, not the HTML page.
    re_path(r"^[\s\S]*$", api_not_found, name="not_found"),
]
