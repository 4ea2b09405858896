"""(being written)"""

from django.urls import URLPattern

app_name = "devgateway"
urlpatterns: list[URLPattern] = []
