"""Mounted at /dev/gateway/ only while the development gateway is the configured backend."""

from django.urls import path

from . import views

app_name = "devgateway"

urlpatterns = [
    path("pay/<str:session_id>/", views.pay, name="pay"),
    path("pay/<str:session_id>/challenge/", views.challenge, name="challenge"),
    path("pay/<str:session_id>/cancel/", views.cancel, name="cancel"),
]
