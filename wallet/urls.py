from .views import account, auth, devinbox, portal, reset, signup

app_name = "wallet"

urlpatterns = [
    *portal.urlpatterns,
    *signup.urlpatterns,
    *auth.urlpatterns,
    *reset.urlpatterns,
    *account.urlpatterns,
    *devinbox.urlpatterns,
]
