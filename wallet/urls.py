from .views import account, auth, cards, devinbox, first_factor, money, portal, reset, security, signup, unlock

app_name = "wallet"

urlpatterns = [
    *portal.urlpatterns,
    *signup.urlpatterns,
    *auth.urlpatterns,
    *first_factor.urlpatterns,
    *security.urlpatterns,
    *unlock.urlpatterns,
    *reset.urlpatterns,
    *account.urlpatterns,
    *money.urlpatterns,
    *cards.urlpatterns,
    *devinbox.urlpatterns,
]
