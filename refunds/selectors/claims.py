"""Reads of refund claims for the staff desk: the review queue with its filters,
one page of rows with everything a reviewer weighs (reasons, names, supporting
data, the other claims naming the same account, freezes and open cases), the
whole story of one claim, and the queue as CSV.

A page of rows costs a fixed number of queries whatever its length: the payee
details, shared accounts, freezes, cases and late-claim approvals of the page
are each read in one query for all of its claims."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from backoffice.models import Approval, Case
from backoffice.selectors.general import csv_safe
from wallet.models import AccountFreeze, LedgerAccount, User

from ..models import BankDetails, ClaimEvent, Payout, PostalDetails, RefundClaim
from ..services.checks import REASONS, reason_labels
from ..zengin.names import names_match

PAGE_SIZE = 50
# Full account numbers are shown only to those who may download the payout file, which
# holds them anyway (finance, and supervisors who hold every finance permission); others
# see the last three digits (L02).
FULL_ACCOUNT_NUMBER_PERMISSIONS = ("refunds.view_bankdetails", "refunds.download_payoutbatch")
LATE_CHOICES = {"yes": _("Late claims only"), "no": _("Claims in time only")}
# The events that are someone's decision on a claim, for "already decided by ...".
DECISION_EVENTS = ("review_approved", "review_rejected", "late_claim_accepted", "held")
CLAIM_NUMBER = re.compile(r"^R?\d{10}$", re.IGNORECASE)
QUEUE_CSV_HEADER = [
    "claim",
    "claimed_at",
    "state",
    "customer_id",
    "customer_email",
    "route",
    "method",
    "late",
    "amount_yen",
    "reasons",
    "registered_kana",
    "account_holder",
    "names_match",
    "bank",
    "account",
    "stated_name",
    "stated_birth_date",
    "shared_with",
    "active_freezes",
    "open_case",
]


@dataclass(frozen=True)
class ClaimFilters:
    reason: str = ""
    route: str = ""
    method: str = ""
    late: str = ""
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""
    # The queue shows claims in review; the same filters serve any state.
    state: str = RefundClaim.State.REVIEW


def account_number_visible(user: object) -> bool:
    has_perms = getattr(user, "has_perms", None)
    return bool(has_perms is not None and has_perms(FULL_ACCOUNT_NUMBER_PERMISSIONS))


def claims_filtered(filters: ClaimFilters) -> QuerySet[RefundClaim]:
    """Claims matching the filters, oldest first (the queue is worked in order of arrival)."""
    claims = RefundClaim.objects.select_related("customer", "filed_by")
    if filters.state:
        claims = claims.filter(state=filters.state)
    if filters.reason:
        claims = claims.filter(hold_reasons__contains=[filters.reason])
    if filters.route:
        claims = claims.filter(route=filters.route)
    if filters.method:
        claims = claims.filter(method=filters.method)
    if filters.late in LATE_CHOICES:
        claims = claims.filter(late=filters.late == "yes")
    if filters.date_from is not None:
        claims = claims.filter(created_at__date__gte=filters.date_from)
    if filters.date_to is not None:
        claims = claims.filter(created_at__date__lte=filters.date_to)
    q = filters.q.strip()
    if q:
        if CLAIM_NUMBER.match(q):
            number = q.upper() if q.upper().startswith("R") else f"R{q}"
            claims = claims.filter(Q(number=number) | Q(customer__email__icontains=q))
        else:
            claims = claims.filter(Q(number__iexact=q) | Q(customer__email__icontains=q))
    return claims.order_by("created_at", "id")


def claims_in_review_count() -> int:
    return RefundClaim.objects.filter(state=RefundClaim.State.REVIEW).count()


@dataclass(frozen=True)
class SharedClaim:
    """Another customer's claim whose current details name the same bank account."""

    id: int
    number: str
    state_label: str
    customer_email: str


@dataclass
class ClaimRow:
    claim: RefundClaim
    reasons: list[tuple[str, str]]
    bank: BankDetails | None
    postal: PostalDetails | None
    shared: list[SharedClaim] = field(default_factory=list)
    freezes: list[AccountFreeze] = field(default_factory=list)
    open_case: Case | None = None
    late_approval: Approval | None = None

    @property
    def customer(self) -> User:
        return self.claim.customer

    @property
    def names_match(self) -> bool | None:
        """Whether the account holder is the registered kana name, as the bank compares; None without bank details."""
        if self.bank is None:
            return None
        return names_match(self.bank.holder_name, self.claim.customer.name_kana)

    @property
    def has_supporting_data(self) -> bool:
        return bool(self.claim.stated_name or self.claim.stated_birth_date)


def _current_details(claim_ids: list[int]) -> tuple[dict[int, BankDetails], dict[int, PostalDetails]]:
    bank = {d.claim_id: d for d in BankDetails.objects.filter(claim_id__in=claim_ids, superseded_at__isnull=True)}
    postal = {d.claim_id: d for d in PostalDetails.objects.filter(claim_id__in=claim_ids, superseded_at__isnull=True)}
    return bank, postal


def _shared_claims(bank: dict[int, BankDetails], owners: dict[int, int]) -> dict[int, list[SharedClaim]]:
    """Per claim, the other customers' live claims whose current details have the same account fingerprint."""
    by_fingerprint: dict[str, list[int]] = defaultdict(list)
    for claim_id, details in bank.items():
        by_fingerprint[details.fingerprint].append(claim_id)
    if not by_fingerprint:
        return {}
    others = (
        BankDetails.objects.filter(fingerprint__in=list(by_fingerprint), superseded_at__isnull=True)
        .exclude(claim__state=RefundClaim.State.REJECTED)
        .select_related("claim__customer")
        .order_by("claim_id")
    )
    shared: dict[int, list[SharedClaim]] = defaultdict(list)
    for other in others:
        for claim_id in by_fingerprint[other.fingerprint]:
            if other.claim_id != claim_id and other.claim.customer_id != owners[claim_id]:
                shared[claim_id].append(
                    SharedClaim(other.claim_id, other.claim.number, other.claim.get_state_display(), other.claim.customer.email)
                )
    return shared


def _late_approvals(claim_ids: Iterable[int]) -> dict[int, Approval]:
    """The newest late-claim approval request of each claim (pending or decided)."""
    ids = list(claim_ids)
    if not ids:
        return {}
    approvals: dict[int, Approval] = {}
    for approval in Approval.objects.filter(kind=Approval.Kind.LATE_CLAIM, payload__claim__in=ids).select_related("maker", "checker"):
        claim_id = approval.payload.get("claim")
        if isinstance(claim_id, int) and (claim_id not in approvals or approvals[claim_id].pk < approval.pk):
            approvals[claim_id] = approval
    return approvals


def claim_rows(claims: list[RefundClaim]) -> list[ClaimRow]:
    """Everything the queue shows for these claims, in a fixed number of queries."""
    claim_ids = [c.pk for c in claims]
    customer_ids = {c.customer_id for c in claims}
    bank, postal = _current_details(claim_ids)
    shared = _shared_claims(bank, {c.pk: c.customer_id for c in claims})
    freezes: dict[int, list[AccountFreeze]] = defaultdict(list)
    for freeze in AccountFreeze.objects.active().filter(user_id__in=customer_ids).order_by("created_at"):
        freezes[freeze.user_id].append(freeze)
    cases = {
        case.customer_id: case
        for case in Case.objects.filter(customer_id__in=customer_ids, status__in=Case.OPEN_STATUSES).order_by("opened_at", "id")
    }
    late = _late_approvals(c.pk for c in claims if c.late)
    return [
        ClaimRow(
            claim=claim,
            reasons=list(zip(claim.hold_reasons, reason_labels(claim.hold_reasons), strict=True)),
            bank=bank.get(claim.pk),
            postal=postal.get(claim.pk),
            shared=shared.get(claim.pk, []),
            freezes=freezes.get(claim.customer_id, []),
            open_case=cases.get(claim.customer_id),
            late_approval=late.get(claim.pk),
        )
        for claim in claims
    ]


@dataclass
class ClaimDetail:
    row: ClaimRow
    events: list[ClaimEvent]
    bank_history: list[BankDetails]
    postal_history: list[PostalDetails]
    payouts: list[Payout]
    wallet_balance_yen: int | None

    @property
    def claim(self) -> RefundClaim:
        return self.row.claim


def claim_detail(claim_id: int) -> ClaimDetail | None:
    claim = RefundClaim.objects.select_related("customer", "filed_by", "programme", "transfer").filter(pk=claim_id).first()
    if claim is None:
        return None
    row = claim_rows([claim])[0]
    balance = LedgerAccount.objects.filter(owner_id=claim.customer_id).values_list("balance_yen", flat=True).first()
    return ClaimDetail(
        row=row,
        events=list(claim.events.select_related("actor").order_by("created_at", "id")),
        bank_history=list(claim.bank_details.order_by("-id")),
        postal_history=list(claim.postal_details.order_by("-id")),
        payouts=list(claim.payouts.select_related("batch").order_by("-id")),
        wallet_balance_yen=balance,
    )


def claim_last_decision(claim_id: int) -> ClaimEvent | None:
    """The latest event where a person (or the system) moved the claim, for "already decided by" messages."""
    return (
        ClaimEvent.objects.filter(claim_id=claim_id)
        .filter(Q(kind__in=DECISION_EVENTS) | ~Q(to_state=""))
        .select_related("actor")
        .order_by("-created_at", "-id")
        .first()
    )


def _account_shown(details: BankDetails | None) -> str:
    if details is None:
        return ""
    return f"{details.bank_code}-{details.branch_code} {details.get_account_type_display()} {details.masked_number}"


def claims_csv_rows(filters: ClaimFilters, *, chunk: int = 500) -> Iterator[list[str]]:
    """Header, then one row per claim; read a chunk at a time so a long queue streams.

    Account numbers are masked (L02): the CSV is a work list, not a payment file."""
    yield QUEUE_CSV_HEADER
    queryset = claims_filtered(filters)
    last: tuple[object, int] | None = None
    while True:
        page = queryset
        if last is not None:
            page = page.filter(Q(created_at__gt=last[0]) | Q(created_at=last[0], id__gt=last[1]))
        claims = list(page[:chunk])
        if not claims:
            return
        for row in claim_rows(claims):
            claim = row.claim
            yield [
                csv_safe(value)
                for value in (
                    claim.number,
                    timezone.localtime(claim.created_at).isoformat(),
                    claim.state,
                    claim.customer_id,
                    claim.customer.email,
                    claim.route,
                    claim.method,
                    "yes" if claim.late else "no",
                    claim.amount_yen,
                    " | ".join(code for code, _label in row.reasons),
                    claim.customer.name_kana,
                    row.bank.holder_name if row.bank else "",
                    "" if row.names_match is None else ("yes" if row.names_match else "no"),
                    f"{row.bank.bank_name} {row.bank.branch_name}" if row.bank else "",
                    _account_shown(row.bank),
                    claim.stated_name,
                    claim.stated_birth_date.isoformat() if claim.stated_birth_date else "",
                    " ".join(s.number for s in row.shared),
                    len(row.freezes),
                    row.open_case.pk if row.open_case else "",
                )
            ]
        last = (claims[-1].created_at, claims[-1].pk)


def reason_choices() -> list[tuple[str, str]]:
    return [(code, str(label)) for code, label in REASONS.items()]
