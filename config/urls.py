from django.conf import settings
from django.urls import include, path
from django.views.i18n import set_language
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from backoffice.admin_site import staff_admin_site

urlpatterns = [
    path("i18n/setlang/", set_language, name="set_language"),
    # Before the admin site, whose catch-all view would answer 404 for these.
    path("admin/refund-desk/", include("refunds.staff_urls")),
    path("admin/", staff_admin_site.urls),
    path("refund/", include("refunds.urls")),
    path("staff/", include("backoffice.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("wallet.api.urls")),
    path("", include("wallet.urls")),
]

# The development card gateway's hosted page stands in for the acquirer's own site: only in debug, with its own
# setting, while it is the configured backend (S08, DEV_GATEWAY_ENABLED in config/settings.py).
if settings.DEV_GATEWAY_ENABLED:
    urlpatterns.insert(0, path("dev/gateway/", include("wallet.adapters.devgateway.urls")))
