"""Back-office models by area: audit log, approvals, cases, hunts, compensation and bulk jobs."""

from .approvals import APPROVAL_LIFETIME, Approval, approval_default_expiry
from .audit import StaffAction
from .cases import Case, CaseEvent, CaseTransaction
from .compensation import Compensation
from .hunts import Hunt, HuntHit
from .jobs import MassReset

__all__ = [
    "APPROVAL_LIFETIME",
    "Approval",
    "Case",
    "CaseEvent",
    "CaseTransaction",
    "Compensation",
    "Hunt",
    "HuntHit",
    "MassReset",
    "StaffAction",
    "approval_default_expiry",
]
