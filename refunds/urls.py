"""The customer refund portal under ``/refund/`` (URL namespace ``refunds``)."""

from __future__ import annotations

from django.urls import URLPattern

from .views.portal import urlpatterns as portal_urlpatterns

app_name = "refunds"

urlpatterns: list[URLPattern] = [*portal_urlpatterns]
