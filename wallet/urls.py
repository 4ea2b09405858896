from .views import account, auth, cards, devinbox, money, portal, reset, signup

app_name = "wallet"

urlpatterns = [
    *portal.urlpatterns,
    *signup.urlpatterns,
    *auth.urlpatterns,
    *reset.urlpatterns,
    *account.urlpatterns,
    *money.urlpatterns,
    *cards.urlpatterns,
    *devinbox.urlpatterns,
]
