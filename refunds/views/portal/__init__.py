"""The customer refund portal under ``/refund/``: the landing page, the claim steps of both
routes, the no-login route's proof, claim status and corrections, and the bank pickers' JSON."""

from __future__ import annotations

from django.urls import URLPattern, path

from ...models import RefundClaim
from . import banks, claim, contact, done, landing, status

LOGIN = {"route": RefundClaim.Route.LOGIN}
CONTACT = {"route": RefundClaim.Route.CONTACT}

urlpatterns: list[URLPattern] = [
    path("", landing.landing, name="landing"),
    path("banks/", banks.bank_search_view, name="bank_search"),
    path("banks/<str:code>/branches/", banks.branch_search_view, name="branch_search"),
    # Login route (second factor; step-up for the payee details, B09).
    path("claim/", claim.balance_step, LOGIN, name="claim_balance"),
    path("claim/method/", claim.method_step, LOGIN, name="claim_method"),
    path("claim/details/", claim.details_step, LOGIN, name="claim_details"),
    path("claim/check/", claim.check_step, LOGIN, name="claim_check"),
    path("claim/done/<str:number>/", done.claim_done, name="claim_done"),
    # No-login route: prove the email and phone on record, then the same steps.
    path("contact/", contact.contact_request, name="contact"),
    path("contact/sent/", contact.contact_sent, name="contact_sent"),
    path("contact/link/<int:proof_id>/<str:token>/", contact.contact_link, name="contact_link"),
    path("contact/code/", contact.contact_code, name="contact_code"),
    path("contact/claim/", claim.balance_step, CONTACT, name="contact_claim_balance"),
    path("contact/claim/method/", claim.method_step, CONTACT, name="contact_claim_method"),
    path("contact/claim/details/", claim.details_step, CONTACT, name="contact_claim_details"),
    path("contact/claim/check/", claim.check_step, CONTACT, name="contact_claim_check"),
    path("contact/claim/done/", done.contact_claim_done, name="contact_claim_done"),
    # Status and corrections.
    path("status/", status.status, name="status"),
    path("status/sent/", status.status_sent, name="status_sent"),
    path("status/link/<str:token>/", status.status_link, name="status_link"),
    path("status/view/", status.status_view, name="status_view"),
    path("status/view/correct/start/", status.status_view_correct_start, name="status_view_correct_start"),
    path("status/view/correct/", status.status_view_correct, name="status_view_correct"),
    path("status/<str:number>/", status.status_detail, name="status_detail"),
    path("status/<str:number>/correct/", status.status_detail_correct, name="status_detail_correct"),
]
