from django.urls import URLPattern

app_name = "backoffice"

urlpatterns: list[URLPattern] = []
