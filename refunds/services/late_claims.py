"""Claims after the deadline: only staff file them, for a customer who contacted
support, and they wait in review until a second person approves the request
(B04). The approval's executor accepts the claim; other review reasons remain
for the claims reviewer."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext

from backoffice.errors import ApprovalRefused
from backoffice.models import Approval
from backoffice.services.approvals import Executor, approval_executor_register, approval_request
from backoffice.services.audit import staff_action_record
from wallet.models import User

from ..models import RefundClaim
from .claims import claim_state_set, claim_submit
from .errors import RefundRefused
from .payee import CleanBankDetails, CleanPostalDetails

LATE_CLAIM_PERMISSION = "refunds.add_refundclaim"


def late_claim_file(
    *,
    customer: User,
    method: str,
    confirmed_amount_yen: int,
    reason: str,
    acting_user: User,
    bank: CleanBankDetails | None = None,
    postal: CleanPostalDetails | None = None,
    ip: str | None = None,
) -> tuple[RefundClaim, Approval]:
    """File the claim (in review, marked late) and ask a second person to accept it, in one transaction."""
    if not acting_user.has_perm(LATE_CLAIM_PERMISSION):
        raise RefundRefused(RefundRefused.Code.NOT_ALLOWED, gettext("You are not allowed to file late claims."))
    if not reason.strip():
        raise RefundRefused(RefundRefused.Code.NO_REASON, gettext("Say why this late claim should be accepted."))
    with transaction.atomic():
        claim = claim_submit(
            customer=customer,
            route=RefundClaim.Route.STAFF,
            method=method,
            confirmed_amount_yen=confirmed_amount_yen,
            bank=bank,
            postal=postal,
            filed_by=acting_user,
            ip=ip,
        )
        try:
            approval = approval_request(kind=Approval.Kind.LATE_CLAIM, payload={"claim": claim.pk}, reason=reason, maker=acting_user, ip=ip)
        except ApprovalRefused as exc:
            raise RefundRefused(exc.code, exc.message) from exc
    return claim, approval


def late_claim_validate(payload: dict[str, Any]) -> None:
    claim_id = payload.get("claim")
    if set(payload) != {"claim"} or not isinstance(claim_id, int):
        raise ApprovalRefused(ApprovalRefused.Code.INVALID_PAYLOAD, gettext("The request must name one claim."))
    claim = RefundClaim.objects.filter(pk=claim_id).first()
    if claim is None or not claim.late or "late" not in claim.hold_reasons or claim.state != RefundClaim.State.REVIEW:
        raise ApprovalRefused(ApprovalRefused.Code.NOT_LATE_CLAIM, gettext("This is not a late claim waiting to be accepted."))


def late_claim_execute(approval: Approval, checker: User, ip: str | None) -> None:
    late_claim_validate(approval.payload)
    claim = RefundClaim.objects.select_for_update().get(pk=approval.payload["claim"])
    remaining = [reason for reason in claim.hold_reasons if reason != "late"]
    claim.hold_reasons = remaining
    if remaining:
        claim.save(update_fields=["hold_reasons"])
        from .claims import claim_event

        claim_event(claim, kind="late_claim_accepted", actor=checker, detail={"approval": approval.pk, "still_to_review": remaining})
    else:
        claim_state_set(
            claim=claim, to_state=RefundClaim.State.APPROVED, actor=checker, kind="late_claim_accepted", detail={"approval": approval.pk}
        )
    staff_action_record(
        acting_user=checker,
        action="refund.late_claim_accept",
        target=claim,
        after={"approval": approval.pk, "maker": approval.maker.email, "state": claim.state},
        reason=approval.reason,
        ip=ip,
    )


def _late_claim_link(approval: Approval) -> tuple[str, str] | None:
    claim_id = approval.payload.get("claim")
    if not isinstance(claim_id, int):
        return None
    return gettext("See the claim"), reverse("admin:refunds_refundclaim_change", args=[claim_id])


def register() -> None:
    approval_executor_register(Approval.Kind.LATE_CLAIM, LATE_CLAIM_EXECUTOR)


LATE_CLAIM_EXECUTOR = Executor(
    request_permission=LATE_CLAIM_PERMISSION,
    validate=late_claim_validate,
    execute=late_claim_execute,
    subject_link=_late_claim_link,
)
