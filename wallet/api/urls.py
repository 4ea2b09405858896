from django.urls import path

from . import views

app_name = "api"

urlpatterns = [
    path("auth/login/", views.LoginView.as_view(), name="auth_login"),
    path("auth/verify/", views.VerifyView.as_view(), name="auth_verify"),
    path("auth/step-up/", views.StepUpView.as_view(), name="auth_step_up"),
    path("auth/logout/", views.LogoutView.as_view(), name="auth_logout"),
    path("auth/tokens/", views.TokenListView.as_view(), name="auth_tokens"),
    path("auth/tokens/<int:token_id>/", views.TokenDetailView.as_view(), name="auth_token_detail"),
    path("me/", views.MeView.as_view(), name="me"),
    path("factors/totp/", views.TotpStartView.as_view(), name="factors_totp"),
    path("factors/totp/confirm/", views.TotpConfirmView.as_view(), name="factors_totp_confirm"),
]
