from django.urls import path

from .views import enrol as views

app_name = "backoffice"

urlpatterns = [
    path("enrol/", views.enrol_start, name="enrol"),
    path("enrol/confirm/", views.enrol_confirm, name="enrol_confirm"),
]
