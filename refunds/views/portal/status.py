"""Following a claim, and correcting the details after the bank returned the payment.

- Logged in with the second factor: the customer's own claims (B08: another customer's
  number is a 404) and, for a returned claim, the correction form, after a fresh second
  factor whatever the payout method (B09, S04); what was typed before the step-up is kept.
- Without a login: the claim number and the registered email select the claim; a link
  goes to the address on record (the answer is the same whatever matched, A12) and opens a
  read-only page. Correcting from there needs a fresh contact proof of this browser first
  (the link to the email and the code to the phone on record).
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from wallet.access import second_factor_required
from wallet.adapters.sms import SmsDeliveryError
from wallet.models import User
from wallet.request_meta import RequestMeta
from wallet.switches import ChannelDisabled

from ...forms.bank import BankDetailsForm, choice_rows
from ...forms.claim import PostalDetailsForm
from ...forms.contact import StatusLookupForm
from ...models import RefundClaim
from ...services.claims import claim_details_correct
from ...services.contact import (
    contact_details_correct,
    contact_proof_complete,
    contact_proof_start,
    status_link_claim,
    status_link_request,
)
from ...services.errors import RefundRefused
from ...services.payee import CleanBankDetails, CleanPostalDetails
from ...services.step_up import STEP_UP_REFUSED
from .common import browser_digest, browser_digest_if_any, claim_summary, ip_limited, portal_render, too_many, value_limited
from .contact import CONTACT_NEXT_KEY
from .step_up import draft_take, step_up_at, step_up_missing, step_up_redirect

STATUS_TOKEN_KEY = "refund_status_token"

Saver = Callable[[CleanBankDetails | None, CleanPostalDetails | None], RefundClaim]


def _verified(request: HttpRequest) -> bool:
    return bool(request.user.is_authenticated and request.user.is_verified())  # type: ignore[union-attr]


@never_cache
@require_http_methods(["GET", "POST"])
def status(request: HttpRequest) -> HttpResponse:
    if _verified(request) and request.method == "GET":
        customer: User = request.user  # type: ignore[assignment]
        claims = RefundClaim.objects.filter(customer=customer).select_related("programme").order_by("-created_at", "-id")
        return portal_render(request, "status_list.html", {"summaries": [claim_summary(claim) for claim in claims]})
    form = StatusLookupForm(request.POST or None)
    status_code = 200
    if request.method == "POST":
        if ip_limited(request, "refunds.status.ip"):
            return too_many(request)
        if form.is_valid():
            data = form.cleaned_data
            limited = value_limited(request, "refunds.status.email", data["email"]) or value_limited(
                request, "refunds.status.number", data["claim_number"]
            )
            status_link_request(number=data["claim_number"], email=data["email"], meta=RequestMeta.from_request(request), send=not limited)
            return redirect("refunds:status_sent")
        status_code = 400
    return portal_render(request, "status_lookup.html", {"form": form}, status=status_code)


@never_cache
@require_GET
def status_sent(request: HttpRequest) -> HttpResponse:
    return portal_render(request, "status_sent.html")


@never_cache
@second_factor_required
@require_GET
def status_detail(request: HttpRequest, number: str) -> HttpResponse:
    claim = get_object_or_404(RefundClaim, number=number, customer=request.user)
    return portal_render(request, "status_detail.html", {**claim_summary(claim), "linked": False})


@never_cache
@require_GET
def status_link(request: HttpRequest, token: str) -> HttpResponse:
    """First visit from the mail: the token moves into the session and out of the address bar."""
    request.session[STATUS_TOKEN_KEY] = token
    return redirect("refunds:status_view")


def _linked_claim(request: HttpRequest) -> RefundClaim | None:
    return status_link_claim(str(request.session.get(STATUS_TOKEN_KEY, "")))


@never_cache
@require_GET
def status_view(request: HttpRequest) -> HttpResponse:
    claim = _linked_claim(request)
    if claim is None:
        return portal_render(request, "status_link_invalid.html", status=400)
    return portal_render(request, "status_detail.html", {**claim_summary(claim), "linked": True})


@never_cache
@require_POST
def status_view_correct_start(request: HttpRequest) -> HttpResponse:
    """From the read-only page of a returned claim: prove the email and phone on record again."""
    claim = _linked_claim(request)
    if claim is None:
        return portal_render(request, "status_link_invalid.html", status=400)
    if claim.state != RefundClaim.State.RETURNED:
        return redirect("refunds:status_view")
    if ip_limited(request, "refunds.correct.ip") or value_limited(request, "refunds.correct.claim", claim.number):
        return too_many(request)
    try:
        contact_proof_start(
            user=claim.customer, session_digest=browser_digest(request), meta=RequestMeta.from_request(request), purpose="correct"
        )
    except SmsDeliveryError:
        messages.error(request, _("We could not send the SMS code just now. Please try again in a few minutes."))
        return redirect("refunds:status_view")
    request.session[CONTACT_NEXT_KEY] = _correct_url()
    return redirect("refunds:contact_sent")


def _correct_url() -> str:
    return reverse("refunds:status_view_correct")


@never_cache
@require_http_methods(["GET", "POST"])
def status_view_correct(request: HttpRequest) -> HttpResponse:
    claim = _linked_claim(request)
    if claim is None:
        return portal_render(request, "status_link_invalid.html", status=400)
    if claim.state != RefundClaim.State.RETURNED:
        return redirect("refunds:status_view")
    digest = browser_digest_if_any(request)
    proof = contact_proof_complete(session_digest=digest) if digest else None
    if proof is None or proof.user_id != claim.customer_id:
        messages.info(request, _("To change the details, first confirm the email address and phone number on your account."))
        return redirect("refunds:status_view")

    proof_id = proof.pk

    def save(bank: CleanBankDetails | None, postal: CleanPostalDetails | None) -> RefundClaim:
        return contact_details_correct(proof_id=proof_id, session_digest=digest, claim=claim, bank=bank, postal=postal)

    return _correct(request, claim, save=save, done=("refunds:status_view",), action=_correct_url())


@never_cache
@second_factor_required
@require_http_methods(["GET", "POST"])
def status_detail_correct(request: HttpRequest, number: str) -> HttpResponse:
    customer: User = request.user  # type: ignore[assignment]
    claim = get_object_or_404(RefundClaim, number=number, customer=customer)
    if claim.state != RefundClaim.State.RETURNED:
        return redirect("refunds:status_detail", number=claim.number)

    draft_key = f"correct:{customer.pk}:{claim.number}"
    form_class = BankDetailsForm if claim.method == RefundClaim.Method.BANK else PostalDetailsForm
    if step_up_missing(request):
        # B09/S04: new payee details of any kind need a fresh second factor; the step-up page comes first, then this form.
        return step_up_redirect(request, back=request.get_full_path(), draft_key=draft_key, fields=form_class.base_fields)

    def save(bank: CleanBankDetails | None, postal: CleanPostalDetails | None) -> RefundClaim:
        return claim_details_correct(claim=claim, customer=customer, bank=bank, postal=postal, step_up_at=step_up_at(request))

    return _correct(
        request,
        claim,
        save=save,
        done=("refunds:status_detail", claim.number),
        action=request.get_full_path(),
        holder_name=customer.name_kana,
        draft=draft_take(request, draft_key) if request.method == "GET" else None,
    )


def _correct(
    request: HttpRequest,
    claim: RefundClaim,
    *,
    save: Saver,
    done: tuple[str, ...],
    action: str,
    holder_name: str = "",
    draft: dict[str, str] | None = None,
) -> HttpResponse:
    bank_method = claim.method == RefundClaim.Method.BANK
    form: BankDetailsForm | PostalDetailsForm
    if request.method == "POST" or draft is not None:
        # A draft is what was typed before the step-up page: shown filled in again, saved only when sent.
        data = request.POST if draft is None else draft
        form = BankDetailsForm(data) if bank_method else PostalDetailsForm(data)
        if form.is_valid() and draft is None:
            try:
                if isinstance(form, BankDetailsForm):
                    save(form.details, None)
                else:
                    save(None, form.details)
            except RefundRefused as refused:
                messages.error(request, refused.message)
                if refused.code == STEP_UP_REFUSED:
                    return step_up_redirect(request, back=action)
            except ChannelDisabled as disabled:
                messages.error(request, disabled.message)
            else:
                messages.success(request, _("Thank you. The new details are saved and the refund will be sent again."))
                return redirect(*done)
    else:
        form = BankDetailsForm(initial=BankDetailsForm.initial_from(None, holder_name=holder_name)) if bank_method else PostalDetailsForm()
    context = {
        "claim": claim,
        "form": form,
        "bank_method": bank_method,
        "action": action,
        "bank_choices": choice_rows(getattr(form, "bank_choices", [])),
        "branch_choices": choice_rows(getattr(form, "branch_choices", [])),
        **{key: value for key, value in claim_summary(claim).items() if key in ("returned_reason", "bank", "bank_label", "postal")},
    }
    return portal_render(request, "correct.html", context, status=400 if form.errors else 200)
