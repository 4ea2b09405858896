"""The customer refund portal under ``/refund/`` (URL namespace ``refunds``)."""

from __future__ import annotations

from django.urls import URLPattern

app_name = "refunds"

urlpatterns: list[URLPattern] = []
