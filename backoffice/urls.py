from django.urls import path

from . import views

app_name = "backoffice"

urlpatterns = [
    path("enrol/", views.enrol_start, name="enrol"),
    path("enrol/confirm/", views.enrol_confirm, name="enrol_confirm"),
]
