"""The customer portal's home: a landing page for visitors, a status page for customers."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path

from ..models import User
from ..services.phone import phone_display
from ..services.second_factor import user_has_second_factor


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return render(request, "wallet/portal/landing.html")
    user: User = request.user  # type: ignore[assignment]
    context = {
        "has_second_factor": user_has_second_factor(user),
        "phone": phone_display(user.phone) if user.phone else "",
    }
    return render(request, "wallet/portal/home.html", context)


urlpatterns: list[URLPattern] = [path("", home, name="home")]
