"""The bank pickers' JSON: ``/refund/banks/?q=`` and ``/refund/banks/<code>/branches/?q=``.

Public data (the Zengin master with staff overrides), read by the form's script on every
keystroke, so the answers are small, cached briefly by the browser, and rate-limited per
address like any open endpoint."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET
from django_ratelimit.core import is_ratelimited

from ...forms.bank import QUERY_MAX, bank_search, branch_search, choice_rows
from ...services.banks import bank_master

SEARCH_RATE_PER_IP = "600/h"
CACHE_SECONDS = 300


def _answer(payload: dict[str, object], status: int = 200) -> JsonResponse:
    response = JsonResponse(payload, status=status, json_dumps_params={"ensure_ascii": False})
    if status == 200:
        response["Cache-Control"] = f"private, max-age={CACHE_SECONDS}"
    return response


def _limited(request: HttpRequest) -> bool:
    return is_ratelimited(request, group="refunds.banks.ip", key="ip", rate=SEARCH_RATE_PER_IP, method="GET", increment=True)


@require_GET
def bank_search_view(request: HttpRequest) -> JsonResponse:
    if _limited(request):
        return _answer({"detail": _("Too many searches. Please wait a minute.")}, status=429)
    query = request.GET.get("q", "")[:QUERY_MAX]
    return _answer({"query": query, "results": choice_rows(bank_search(query))})


@require_GET
def branch_search_view(request: HttpRequest, code: str) -> JsonResponse:
    if _limited(request):
        return _answer({"detail": _("Too many searches. Please wait a minute.")}, status=429)
    bank = bank_master().bank(code)
    if bank is None:
        return _answer({"detail": _("There is no bank with this code."), "results": []}, status=404)
    query = request.GET.get("q", "")[:QUERY_MAX]
    return _answer({"query": query, "bank": {"code": bank.code, "name": bank.name}, "results": choice_rows(branch_search(code, query))})
