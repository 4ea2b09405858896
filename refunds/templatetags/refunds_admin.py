"""Template tags for the staff admin's refund parts.

``{% refunds_desk_links as links %}`` gives the refund desk pages the signed-in
staff member may open, for the "Refunds" panel on the admin index. It lives in
refunds, so the back-office's index template names no refund code, and a page
whose URL is not installed (yet) is simply left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

register = template.Library()


@dataclass(frozen=True)
class DeskLink:
    url: str
    label: Promise
    help: Promise
    main: bool = False


# (URL name, permission, label, help, shown in bold)
DESK_PAGES: list[tuple[str, str, Promise, Promise, bool]] = [
    (
        "refunds_staff:claims_review",
        "refunds.view_refundclaim",
        _("Refund claims to review"),
        _("Name mismatches, shared accounts, frozen wallets, contact-route and late claims"),
        True,
    ),
    (
        "refunds_staff:late_claim",
        "refunds.add_refundclaim",
        _("File a late claim"),
        _("After the deadline, with a second person's approval"),
        False,
    ),
    (
        "refunds_staff:reports",
        "refunds.report_refundclaim",
        _("Refund reports"),
        _("Claims, paid and unclaimed holders, weekly progress, ledger"),
        True,
    ),
    (
        "refunds_staff:payout_batches",
        "refunds.view_payoutbatch",
        _("Payout batches"),
        _("Build, release and download payout files; import results"),
        False,
    ),
    (
        "admin:refunds_shutdownprogramme_changelist",
        "refunds.view_shutdownprogramme",
        _("Shutdown programme"),
        _("Dates, public notice, notices to holders"),
        False,
    ),
]


def desk_links_for(user: Any) -> list[DeskLink]:
    links = []
    for name, permission, label, help_text, main in DESK_PAGES:
        if user is None or not user.has_perm(permission):
            continue
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        links.append(DeskLink(url, label, help_text, main))
    return links


@register.simple_tag(takes_context=True)
def refunds_desk_links(context: template.Context) -> list[DeskLink]:
    request = context.get("request")
    return desk_links_for(getattr(request, "user", None))
