"""Maker-checker approvals (B04).

One person requests (``approval_request``), a different person with
``backoffice.check_approval`` approves (``approval_approve``) and the act runs in
the approval's transaction, or rejects (``approval_reject``). Maker ≠ checker is
checked here and by the database constraint ``approval_checker_is_not_maker``.

Every request, decision and refused attempt writes a ``StaffAction``. A refused
attempt is committed before ``ApprovalRefused`` is raised, so it stays in the log
(callers must not wrap these functions in a transaction they roll back).

``EXECUTORS`` is the one list of kinds that can run today; a kind without an
executor is refused at request time, so nobody queues what cannot run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from wallet.models import ChannelSwitch, User
from wallet.services.switches import channel_switch_set
from wallet.switches import get_channel

# Re-exported for existing importers; it lives in ``backoffice.errors`` so the executors import it at module level.
from ..errors import ApprovalRefused as ApprovalRefused
from ..models import APPROVAL_LIFETIME, Approval
from .audit import staff_action_record
from .compensation import COMPENSATION_REQUEST_PERMISSION, compensation_execute, compensation_validate
from .freezes import UNFREEZE_REQUEST_PERMISSION, unfreeze_execute, unfreeze_validate
from .ledger_corrections import LEDGER_CORRECTION_REQUEST_PERMISSION, ledger_correction_execute, ledger_correction_validate
from .mass_reset import MASS_RESET_REQUEST_PERMISSION, mass_reset_execute, mass_reset_validate

CHECK_PERMISSION = "backoffice.check_approval"


@dataclass(frozen=True)
class Executor:
    # The permission a maker needs to ask for this kind.
    request_permission: str
    # Checks the payload when the request is made; raises ApprovalRefused.
    validate: Callable[[dict[str, Any]], None]
    # Runs the act inside the approval's transaction.
    execute: Callable[[Approval, User, str | None], None]
    # The permission the checker needs; a payout release is checked by a second finance user, not a supervisor.
    check_permission: str = CHECK_PERMISSION
    # Where the checker sees in full what approving would do: (link text, url), for kinds registered from above.
    subject_link: Callable[[Approval], tuple[str, str] | None] | None = None


def _channel_enable_validate(payload: dict[str, Any]) -> None:
    name = payload.get("channel")
    if not isinstance(name, str) or set(payload) != {"channel"}:
        raise ApprovalRefused(ApprovalRefused.Code.INVALID_PAYLOAD, gettext("The request must name one channel."))
    get_channel(name)
    enabled = ChannelSwitch.objects.filter(name=name).values_list("enabled", flat=True).first()
    if enabled is None or enabled:
        raise ApprovalRefused(ApprovalRefused.Code.ALREADY_ON, gettext("“%(name)s” is already on.") % {"name": name})


def _channel_enable_execute(approval: Approval, checker: User, ip: str | None) -> None:
    name = approval.payload["channel"]
    previous = ChannelSwitch.objects.select_for_update().filter(name=name).values_list("enabled", flat=True).first()
    switch = channel_switch_set(name=name, enabled=True, reason=approval.reason, acting_user=checker)
    staff_action_record(
        acting_user=checker,
        action="channel.enable",
        target=switch,
        before={"enabled": True if previous is None else previous},
        after={"enabled": True, "approval": approval.pk, "maker": approval.maker.email},
        reason=approval.reason,
        ip=ip,
    )


EXECUTORS: dict[str, Executor] = {
    Approval.Kind.CHANNEL_ENABLE: Executor(
        request_permission="wallet.change_channelswitch",
        validate=_channel_enable_validate,
        execute=_channel_enable_execute,
    ),
    Approval.Kind.UNFREEZE: Executor(
        request_permission=UNFREEZE_REQUEST_PERMISSION,
        validate=unfreeze_validate,
        execute=unfreeze_execute,
    ),
    Approval.Kind.COMPENSATION: Executor(
        request_permission=COMPENSATION_REQUEST_PERMISSION,
        validate=compensation_validate,
        execute=compensation_execute,
    ),
    Approval.Kind.LEDGER_CORRECTION: Executor(
        request_permission=LEDGER_CORRECTION_REQUEST_PERMISSION,
        validate=ledger_correction_validate,
        execute=ledger_correction_execute,
    ),
    Approval.Kind.MASS_RESET: Executor(
        request_permission=MASS_RESET_REQUEST_PERMISSION,
        validate=mass_reset_validate,
        execute=mass_reset_execute,
    ),
}


def approval_executor_register(kind: str, executor: Executor) -> None:
    """For apps above the back-office (refunds), which it may not import: they add
    their kinds' executors when Django starts (``AppConfig.ready``)."""
    if kind not in Approval.Kind.values:
        raise ValueError(f"unknown approval kind {kind!r}")
    EXECUTORS[kind] = executor


def approval_check_permission(kind: str) -> str:
    """The permission a person needs to approve or reject a request of this kind."""
    executor = EXECUTORS.get(kind)
    return executor.check_permission if executor is not None else CHECK_PERMISSION


def approval_executor(kind: str) -> Executor:
    executor = EXECUTORS.get(kind)
    if executor is None:
        raise ApprovalRefused(
            ApprovalRefused.Code.NO_EXECUTOR, gettext("Requests of this kind cannot be carried out yet (no executor yet).")
        )
    return executor


def approval_request(*, kind: str, payload: dict[str, Any], reason: str, maker: User, ip: str | None = None) -> Approval:
    """Queue an act for a second person. Refuses kinds that cannot run and makers without the kind's permission."""
    executor = approval_executor(kind)
    reason = reason.strip()
    if not reason:
        raise ApprovalRefused(ApprovalRefused.Code.NO_REASON, gettext("A reason is required."))
    if not maker.has_perm(executor.request_permission):
        raise ApprovalRefused(ApprovalRefused.Code.NOT_ALLOWED, gettext("You are not allowed to request this."))
    with transaction.atomic():
        executor.validate(payload)
        waiting = Approval.objects.select_for_update().filter(
            kind=kind, payload=payload, state=Approval.State.PENDING, expires_at__gt=timezone.now()
        )
        if waiting.exists():
            raise ApprovalRefused(ApprovalRefused.Code.DUPLICATE, gettext("The same request is already waiting for approval."))
        now = timezone.now()
        approval = Approval.objects.create(
            kind=kind, payload=payload, reason=reason, maker=maker, created_at=now, expires_at=now + APPROVAL_LIFETIME
        )
        staff_action_record(
            acting_user=maker,
            action="approval.request",
            target=approval,
            after={"kind": kind, "payload": payload, "expires_at": approval.expires_at.isoformat()},
            reason=reason,
            ip=ip,
        )
    return approval


def _decision_refusal(approval: Approval, checker: User) -> ApprovalRefused | None:
    if checker.pk == approval.maker_id:
        return ApprovalRefused(
            ApprovalRefused.Code.OWN_REQUEST, gettext("You made this request, so a different person must approve or reject it.")
        )
    if not checker.has_perm(approval_check_permission(approval.kind)):
        return ApprovalRefused(ApprovalRefused.Code.NOT_ALLOWED, gettext("You are not allowed to approve or reject requests."))
    if approval.state != Approval.State.PENDING:
        return ApprovalRefused(
            ApprovalRefused.Code.NOT_PENDING,
            gettext("This request is no longer waiting (%(state)s).") % {"state": approval.get_state_display()},
        )
    if approval.is_expired():
        return ApprovalRefused(ApprovalRefused.Code.EXPIRED, gettext("This request expired before anyone approved it. Make a new request."))
    return None


def _decide(*, approval: Approval, checker: User, note: str, approve: bool, ip: str | None) -> Approval:
    note = note.strip()
    with transaction.atomic():
        locked = Approval.objects.select_for_update().select_related("maker").get(pk=approval.pk)
        refusal = _decision_refusal(locked, checker)
        if refusal is not None:
            if refusal.code == ApprovalRefused.Code.EXPIRED:
                locked.state = Approval.State.EXPIRED
                locked.save(update_fields=["state"])
            # Committed with this block, before the exception leaves, so the attempt stays in the log.
            staff_action_record(
                acting_user=checker,
                action="approval.refused",
                target=locked,
                before={"state": approval.state},
                after={"attempt": "approve" if approve else "reject", "refusal": refusal.code, "maker": locked.maker.email},
                reason=note,
                ip=ip,
            )
        else:
            now = timezone.now()
            if approve:
                approval_executor(locked.kind).execute(locked, checker, ip)
                locked.executed_at = now
            locked.state = Approval.State.APPROVED if approve else Approval.State.REJECTED
            locked.checker = checker
            locked.decided_at = now
            locked.decision_note = note
            locked.save(update_fields=["state", "checker", "decided_at", "decision_note", "executed_at"])
            staff_action_record(
                acting_user=checker,
                action="approval.approve" if approve else "approval.reject",
                target=locked,
                before={"state": Approval.State.PENDING},
                after={"state": locked.state, "kind": locked.kind, "payload": locked.payload, "maker": locked.maker.email},
                reason=note,
                ip=ip,
            )
    if refusal is not None:
        raise refusal
    return locked


def approval_approve(*, approval: Approval, checker: User, note: str = "", ip: str | None = None) -> Approval:
    """Approve and carry out the act in one transaction. Raises ``ApprovalRefused``
    for the maker themself, a person without ``check_approval``, a decided or an
    expired request (which is then marked expired)."""
    return _decide(approval=approval, checker=checker, note=note, approve=True, ip=ip)


def approval_reject(*, approval: Approval, checker: User, note: str, ip: str | None = None) -> Approval:
    """Reject with a required note; nothing is carried out."""
    if not note.strip():
        raise ApprovalRefused(ApprovalRefused.Code.NO_NOTE, gettext("Say why you reject the request."))
    return _decide(approval=approval, checker=checker, note=note, approve=False, ip=ip)
