"""The claim steps, the same for both routes: (1) confirm the balance, (2) choose bank transfer
or cash at a Japan Post counter, (3) the details, (4) check and submit. The state between
the steps is kept in the session; nothing is written until step 4 calls the service.

- Login route (``/refund/claim/``): a session verified with the second factor (A05); for every
  payout method, a fresh second factor (B09, S04) on the details step and on the step that files
  the claim and so saves the details: the step-up page comes first and returns, with what was typed
  kept (``step_up``), and the service checks the step-up's time again.
- Contact route (``/refund/contact/claim/``): a complete contact proof of this browser instead
  (see ``refunds.services.contact`` for why there is no step-up page there); the claim always
  goes to staff review and uses the proof.

Pressing "Submit" twice, or going back and submitting again, files one claim: the service
refuses a second one and the page shows the first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import wraps
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from wallet.access import second_factor_required
from wallet.models import User
from wallet.selectors import wallet_balance
from wallet.switches import ChannelDisabled

from ...forms.bank import BankDetailsForm, bank_details_from_stored, choice_rows
from ...forms.claim import BalanceConfirmForm, MethodForm, PostalDetailsForm, postal_details_from_stored
from ...models import BankDetails, ContactProof, RefundClaim
from ...services.claims import claim_submit
from ...services.contact import contact_claim_submit, contact_proof_complete
from ...services.errors import RefundRefused
from ...services.payee import CleanBankDetails, CleanPostalDetails, PayeeInvalid
from ...services.programme import programme_current
from ...services.step_up import STEP_UP_REFUSED
from .common import Phase, browser_digest_if_any, portal_render, programme_view
from .step_up import draft_take, step_up_at, step_up_missing, step_up_redirect

TOTAL_STEPS = 4
CONTACT_STATED_KEY = "refund_contact_stated"
CONTACT_DONE_KEY = "refund_contact_done"
LOGIN = RefundClaim.Route.LOGIN
CONTACT = RefundClaim.Route.CONTACT
BANK = RefundClaim.Method.BANK
POSTAL = RefundClaim.Method.POSTAL


@dataclass
class Flow:
    """One customer's claim in progress on one route, and where its state lives in the session."""

    request: HttpRequest
    route: str
    customer: User
    proof: ContactProof | None = None

    @property
    def session_key(self) -> str:
        return f"refund_claim_{self.route}"

    def url(self, step: str) -> str:
        return reverse(f"refunds:{'claim' if self.route == LOGIN else 'contact_claim'}_{step}")

    @property
    def state(self) -> dict[str, Any]:
        state = self.request.session.get(self.session_key) or {}
        owner = {"customer": self.customer.pk, "proof": self.proof.pk if self.proof else None}
        if {key: state.get(key) for key in owner} != owner:
            # Another customer's or another proof's steps: start from nothing.
            state = dict(owner)
        return dict(state)

    def save(self, **changes: Any) -> None:
        state = self.state
        state.update(changes)
        self.request.session[self.session_key] = state

    def clear(self) -> None:
        self.request.session.pop(self.session_key, None)

    def context(self, step: int, title: str, **extra: Any) -> dict[str, Any]:
        return {
            "flow": self,
            "route": self.route,
            "contact_route": self.route == CONTACT,
            "step": step,
            "total_steps": TOTAL_STEPS,
            "steps": range(1, TOTAL_STEPS + 1),
            "step_title": title,
            "back_url": {1: reverse("refunds:landing"), 2: self.url("balance"), 3: self.url("method"), 4: self.url("details")}[step],
            "urls": {name: self.url(name) for name in ("balance", "method", "details", "check")},
            **extra,
        }


FlowView = Callable[[HttpRequest, Flow], HttpResponse]


def claim_step(view: FlowView) -> Callable[..., HttpResponse]:
    """Resolve who is claiming on which route, then check that claims are open and not yet made."""

    @never_cache
    @require_http_methods(["GET", "POST"])
    @wraps(view)
    def wrapped(request: HttpRequest, route: str) -> HttpResponse:
        if route == LOGIN:

            def logged_in(inner: HttpRequest) -> HttpResponse:
                return _run(view, Flow(request=inner, route=LOGIN, customer=inner.user))  # type: ignore[arg-type]

            return second_factor_required(logged_in)(request)
        proof = contact_proof_complete(session_digest=browser_digest_if_any(request)) if request.session.session_key else None
        if proof is None and request.session.get(CONTACT_DONE_KEY):
            # The proof was used by the claim this browser filed (a second press of "Submit"): show that claim.
            return redirect("refunds:contact_claim_done")
        if proof is None:
            messages.info(request, _("First confirm the email address and phone number on your account."))
            return redirect("refunds:contact")
        return _run(view, Flow(request=request, route=CONTACT, customer=proof.user, proof=proof))

    return wrapped


def _run(view: FlowView, flow: Flow) -> HttpResponse:
    phase = programme_view()
    if phase.phase != Phase.OPEN:
        return redirect("refunds:landing")
    assert phase.programme is not None
    existing = RefundClaim.objects.live_for(programme=phase.programme, customer=flow.customer).first()
    if existing is not None:
        flow.clear()
        return _show_existing(flow, existing)
    return view(flow.request, flow)


def _show_existing(flow: Flow, claim: RefundClaim) -> HttpResponse:
    messages.info(flow.request, _("You have already claimed your refund (claim %(number)s).") % {"number": claim.number})
    if flow.route == LOGIN:
        return redirect("refunds:claim_done", number=claim.number)
    flow.request.session[CONTACT_DONE_KEY] = claim.number
    return redirect("refunds:contact_claim_done")


def _step_up_first(flow: Flow, step: str, inner: Callable[[HttpRequest], HttpResponse]) -> HttpResponse:
    """B09/S04 on the login route: a fresh second factor before any payee details are taken or saved."""
    if flow.route == LOGIN and step_up_missing(flow.request):
        if step != "details":
            return step_up_redirect(flow.request, back=flow.url(step))
        form = BankDetailsForm if flow.state.get("method") == BANK else PostalDetailsForm
        return step_up_redirect(flow.request, back=flow.url(step), draft_key=_draft_key(flow), fields=form.base_fields)
    return inner(flow.request)


def _draft_key(flow: Flow) -> str:
    return f"{flow.session_key}:{flow.customer.pk}:{flow.state.get('method')}"


# --- Step 1: the balance ---------------------------------------------------------------------


@claim_step
def balance_step(request: HttpRequest, flow: Flow) -> HttpResponse:
    balance = wallet_balance(flow.customer)
    if balance <= 0:
        return portal_render(request, "claim_nothing.html", flow.context(1, _("Your balance")))
    form = BalanceConfirmForm(request.POST or None, initial={"amount_yen": balance})
    status = 200
    if request.method == "POST":
        if form.is_valid() and form.cleaned_data["amount_yen"] == balance:
            flow.save(amount_yen=balance)
            return redirect(flow.url("method"))
        form = BalanceConfirmForm(initial={"amount_yen": balance})
        messages.error(request, _("Your balance changed while you were on this page. Check the new amount and confirm it again."))
        status = 409
    return portal_render(request, "claim_balance.html", flow.context(1, _("Your balance"), form=form, balance=balance), status=status)


# --- Step 2: the way to be paid ------------------------------------------------------------


@claim_step
def method_step(request: HttpRequest, flow: Flow) -> HttpResponse:
    if "amount_yen" not in flow.state:
        return redirect(flow.url("balance"))
    form = MethodForm(request.POST or None, initial={"method": flow.state.get("method")})
    if request.method == "POST" and form.is_valid():
        flow.save(method=form.cleaned_data["method"])
        return redirect(flow.url("details"))
    status = 400 if form.errors else 200
    return portal_render(request, "claim_method.html", flow.context(2, _("How to be paid"), form=form), status=status)


# --- Step 3: the details ---------------------------------------------------------------------


@claim_step
def details_step(request: HttpRequest, flow: Flow) -> HttpResponse:
    state = flow.state
    if "amount_yen" not in state:
        return redirect(flow.url("balance"))
    if state.get("method") not in (BANK, POSTAL):
        return redirect(flow.url("method"))

    def inner(inner_request: HttpRequest) -> HttpResponse:
        if flow.state.get("method") == BANK:
            return _bank_details(inner_request, flow)
        return _postal_details(inner_request, flow)

    return _step_up_first(flow, "details", inner)


def _bank_details(request: HttpRequest, flow: Flow) -> HttpResponse:
    # The registered kana helps the login route's customer; on the contact route nothing is filled in for them.
    holder = flow.customer.name_kana if flow.route == LOGIN else ""
    draft = draft_take(request, _draft_key(flow)) if request.method == "GET" else None
    if request.method == "POST" or draft is not None:
        form = BankDetailsForm(request.POST if draft is None else draft)
        if form.is_valid() and draft is None:
            flow.save(bank=form.stored())
            return redirect(flow.url("check"))
    else:
        form = BankDetailsForm(initial=BankDetailsForm.initial_from(flow.state.get("bank"), holder_name=holder))
    context = flow.context(
        3,
        _("Bank account"),
        form=form,
        bank_choices=choice_rows(form.bank_choices),
        branch_choices=choice_rows(form.branch_choices),
        action=flow.url("details"),
    )
    return portal_render(request, "claim_details_bank.html", context, status=400 if form.errors else 200)


def _postal_details(request: HttpRequest, flow: Flow) -> HttpResponse:
    stored = flow.state.get("postal")
    draft = draft_take(request, _draft_key(flow)) if request.method == "GET" else None
    if request.method == "POST" or draft is not None:
        # Back from the step-up page: what was typed before it, filled in again for "Continue".
        form = PostalDetailsForm(request.POST if draft is None else draft)
        if form.is_valid() and draft is None:
            flow.save(postal=form.stored())
            return redirect(flow.url("check"))
    else:
        initial = stored or ({"name": flow.customer.full_name, "name_kana": flow.customer.name_kana} if flow.route == LOGIN else {})
        form = PostalDetailsForm(initial=initial)
    context = flow.context(3, _("Address for the certificate"), form=form, action=flow.url("details"))
    return portal_render(request, "claim_details_postal.html", context, status=400 if form.errors else 200)


# --- Step 4: check and submit -------------------------------------------------------------


@claim_step
def check_step(request: HttpRequest, flow: Flow) -> HttpResponse:
    state = flow.state
    method = state.get("method")
    if "amount_yen" not in state:
        return redirect(flow.url("balance"))
    if method not in (BANK, POSTAL) or not state.get("bank" if method == BANK else "postal"):
        return redirect(flow.url("details") if method in (BANK, POSTAL) else flow.url("method"))

    def inner(inner_request: HttpRequest) -> HttpResponse:
        return _check(inner_request, flow)

    return _step_up_first(flow, "check", inner)


def _check(request: HttpRequest, flow: Flow) -> HttpResponse:
    state = flow.state
    method = state["method"]
    bank: CleanBankDetails | None = None
    postal: CleanPostalDetails | None = None
    try:
        if method == BANK:
            bank = bank_details_from_stored(state["bank"])
        else:
            postal = postal_details_from_stored(state["postal"])
    except PayeeInvalid:
        messages.error(request, _("Please check the details again."))
        return redirect(flow.url("details"))
    if request.method == "POST":
        try:
            claim = _submit(flow, state, bank=bank, postal=postal)
        except RefundRefused as refused:
            return _refused(flow, refused)
        except ChannelDisabled as disabled:
            messages.error(request, disabled.message)
        else:
            flow.clear()
            if flow.route == LOGIN:
                return redirect("refunds:claim_done", number=claim.number)
            request.session.pop(CONTACT_STATED_KEY, None)
            request.session[CONTACT_DONE_KEY] = claim.number
            return redirect("refunds:contact_claim_done")
    context = flow.context(
        4,
        _("Check and submit"),
        amount_yen=state["amount_yen"],
        method=method,
        method_label=RefundClaim.Method(method).label,
        bank=bank,
        bank_kind=(state.get("bank") or {}).get("kind"),
        bank_labels=(state.get("bank") or {}).get("labels", {}),
        account_type_label=_account_type_label(bank),
        postal=postal,
    )
    return portal_render(request, "claim_check.html", context)


def _account_type_label(bank: CleanBankDetails | None) -> str:
    if bank is None:
        return ""
    return str(BankDetails.AccountType(bank.account_type).label)


def _submit(flow: Flow, state: dict[str, Any], *, bank: CleanBankDetails | None, postal: CleanPostalDetails | None) -> RefundClaim:
    if flow.route == LOGIN:
        return claim_submit(
            customer=flow.customer,
            route=LOGIN,
            method=state["method"],
            confirmed_amount_yen=int(state["amount_yen"]),
            bank=bank,
            postal=postal,
            step_up_at=step_up_at(flow.request),
        )
    assert flow.proof is not None
    stated = flow.request.session.get(CONTACT_STATED_KEY) or {}
    birth = stated.get("birth_date")
    return contact_claim_submit(
        proof_id=flow.proof.pk,
        session_digest=browser_digest_if_any(flow.request),
        method=state["method"],
        confirmed_amount_yen=int(state["amount_yen"]),
        bank=bank,
        postal=postal,
        stated_name=str(stated.get("name", "")),
        stated_birth_date=date.fromisoformat(birth) if birth else None,
    )


def _refused(flow: Flow, refused: RefundRefused) -> HttpResponse:
    request = flow.request
    if refused.code in (RefundRefused.Code.ALREADY_CLAIMED, RefundRefused.Code.PROOF_EXPIRED):
        # A second press of "Submit" that lost the race to the first: show the claim the first one filed.
        existing = RefundClaim.objects.live_for(programme=programme_current(), customer=flow.customer).first()
        if existing is not None:
            flow.clear()
            return _show_existing(flow, existing)
    messages.error(request, refused.message)
    if refused.code in (RefundRefused.Code.BALANCE_CHANGED, RefundRefused.Code.NOTHING_TO_REFUND):
        state = flow.state
        state.pop("amount_yen", None)
        request.session[flow.session_key] = state
        return redirect(flow.url("balance"))
    if refused.code == RefundRefused.Code.PROOF_EXPIRED:
        return redirect("refunds:contact")
    if refused.code == STEP_UP_REFUSED:
        return step_up_redirect(request, back=flow.url("check"))
    if refused.code in (RefundRefused.Code.NOT_OPEN, RefundRefused.Code.DEADLINE_PASSED):
        return redirect("refunds:landing")
    return redirect(flow.url("check"))
