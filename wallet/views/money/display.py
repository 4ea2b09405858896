"""How money reads on the customer's pages and in the CSV: yen, one row per history
entry, a receipt, and the payment code as images.

Amounts are formatted here rather than by a locale-aware filter so the page, the
CSV and the JSON of the payment-code refresh say exactly the same thing in both
languages: "¥12,345", and signed in the history ("+¥5,000", "-¥1,200").
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import segno
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import QuerySet
from django.utils.functional import Promise
from django.utils.translation import gettext as _

from ...forms.money import card_label
from ...models import Entry, Payment, PaymentRefund, TopUp, Transfer
from ...money_format import yen_signed_text, yen_text

# Everything a history row or a receipt names, fetched with the entries instead of one query per row.
ENTRY_RELATED = (
    "transfer__payment__merchant",
    "transfer__payment__terminal",
    "transfer__payment_refund__payment__merchant",
    "transfer__topup__card",
    "transfer__topup__terminal__merchant",
    "transfer__released_topup__card",
    "transfer__released_topup__terminal__merchant",
)


# The one formatter (wallet.money_format), under the names the portal views import.
yen = yen_text


def _related(obj: Any, name: str) -> Any:
    """A reverse one-to-one, or None when there is none."""
    try:
        return getattr(obj, name)
    except ObjectDoesNotExist:
        return None


def topup_of(transfer: Transfer) -> TopUp | None:
    top: TopUp | None = _related(transfer, "topup") or _related(transfer, "released_topup")
    return top


def topup_source(top: TopUp) -> str:
    """ "Visa •••• 4242", or the store or ATM where cash went in."""
    if top.card_id is not None and top.card is not None:
        return card_label(top.card)
    if top.terminal is not None:
        return f"{top.get_channel_display()}: {top.terminal.merchant.name}"
    return str(top.get_channel_display())


def transfer_details(transfer: Transfer) -> str:
    """The counterparty a customer recognises: the store, the card, or the description."""
    payment: Payment | None = _related(transfer, "payment")
    if payment is not None:
        return payment.merchant.name
    refund: PaymentRefund | None = _related(transfer, "payment_refund")
    if refund is not None:
        return refund.payment.merchant.name
    top = topup_of(transfer)
    if top is not None:
        return topup_source(top)
    return transfer.description


@dataclass(frozen=True)
class ActivityRow:
    public_id: UUID
    when: datetime
    kind: str
    kind_label: str
    details: str
    amount_yen: int

    @property
    def amount_display(self) -> str:
        return yen_signed_text(self.amount_yen)

    @property
    def is_credit(self) -> bool:
        return self.amount_yen > 0


def activity_rows(entries: QuerySet[Entry] | list[Entry]) -> list[ActivityRow]:
    return [activity_row(entry) for entry in entries]


def activity_row(entry: Entry) -> ActivityRow:
    transfer = entry.transfer
    return ActivityRow(
        public_id=transfer.public_id,
        when=transfer.created_at,
        kind=transfer.kind,
        kind_label=str(transfer.get_kind_display()),
        details=transfer_details(transfer),
        amount_yen=entry.amount_yen,
    )


@dataclass
class Receipt:
    transfer: Transfer
    amount_yen: int
    status: str
    status_tone: str  # a badge class: ok, warn, bad
    lines: list[tuple[str | Promise, str]] = field(default_factory=list)
    related: list[tuple[str | Promise, UUID]] = field(default_factory=list)

    @property
    def amount_display(self) -> str:
        return yen_signed_text(self.amount_yen)

    @property
    def kind_label(self) -> str:
        return str(self.transfer.get_kind_display())

    @property
    def details(self) -> str:
        return transfer_details(self.transfer)


_STATUS_TONES: dict[str, str] = {
    Payment.Status.SUCCEEDED: "ok",
    Payment.Status.PARTIALLY_REFUNDED: "warn",
    Payment.Status.REFUNDED: "warn",
    TopUp.Status.SUCCEEDED: "ok",
    TopUp.Status.HELD: "warn",
    TopUp.Status.PENDING: "warn",
}


def receipt_for(transfer: Transfer, *, amount_yen: int, visible_ids: set[int]) -> Receipt:
    """What, where and in which state. ``visible_ids`` are the transfers this customer may open
    (a link to another's receipt would only lead to a 404)."""
    receipt = Receipt(transfer=transfer, amount_yen=amount_yen, status=_("Completed"), status_tone="ok")
    payment: Payment | None = _related(transfer, "payment")
    refund: PaymentRefund | None = _related(transfer, "payment_refund")
    top = topup_of(transfer)
    if payment is not None:
        receipt.lines += [(_("Store"), payment.merchant.name), (_("Register"), payment.terminal.name)]
        if payment.description:
            receipt.lines.append((_("Description"), payment.description))
        if payment.refunded_yen:
            receipt.lines.append((_("Refunded so far"), yen_text(payment.refunded_yen)))
        receipt.status, receipt.status_tone = str(payment.get_status_display()), _STATUS_TONES.get(payment.status, "ok")
        for refund_row in payment.refunds.all().order_by("created_at"):
            receipt.related.append((_("Refund"), refund_row.transfer.public_id))
    elif refund is not None:
        receipt.lines.append((_("Store"), refund.payment.merchant.name))
        receipt.related.append((_("Original payment"), refund.payment.transfer.public_id))
    elif top is not None:
        receipt.lines.append((_("Paid with"), topup_source(top)))
        if top.terminal is not None:
            receipt.lines.append((_("Where"), f"{top.terminal.merchant.name} / {top.terminal.name}"))
        receipt.status, receipt.status_tone = str(top.get_status_display()), _STATUS_TONES.get(top.status, "bad")
    elif transfer.description:
        receipt.lines.append((_("Description"), transfer.description))
    if transfer.reverses_id is not None and transfer.reverses_id in visible_ids:
        assert transfer.reverses is not None
        receipt.related.append((_("Reverses"), transfer.reverses.public_id))
    reversal: Transfer | None = _related(transfer, "reversed_by")
    if reversal is not None:
        receipt.status, receipt.status_tone = _("Reversed"), "warn"
        receipt.related.append((_("Reversed by"), reversal.public_id))
    return receipt


# --- The payment code as images --------------------------------------------------

BARCODE_HEIGHT = 60  # in bar widths: tall enough for a handheld scanner at arm's length
BARCODE_QUIET_ZONE = 10
QR_QUIET_ZONE = 4


def code_display(code: str) -> str:
    """Groups of four, as printed under the barcode, so a cashier can type it if the scan fails."""
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def qr_data_uri(code: str) -> str:
    """segno's SVG at one unit per module, given the viewBox it lacks so CSS can scale it sharply."""
    qr = segno.make(code, error="m", micro=False)
    buffer = io.BytesIO()
    qr.save(buffer, kind="svg", scale=1, border=QR_QUIET_ZONE, xmldecl=False, nl=False)
    size = qr.symbol_size(scale=1, border=QR_QUIET_ZONE)[0]
    svg = buffer.getvalue().decode().replace("<svg ", f'<svg viewBox="0 0 {size} {size}" shape-rendering="crispEdges" ', 1)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def barcode_data_uri(code: str) -> str:
    """Code 128 drawn as one rectangle per bar in a viewBox, so CSS can scale it without blur.

    (python-barcode's own SVG writer sizes itself in millimetres without a viewBox.)
    """
    # Imported here: python-barcode logs "Pillow not found" at import, which would start every command.
    from barcode import Code128

    modules = Code128(code).build()[0]
    width = len(modules) + 2 * BARCODE_QUIET_ZONE
    bars: list[str] = []
    start = None
    for index, bit in enumerate(modules + "0"):
        if bit == "1" and start is None:
            start = index
        elif bit != "1" and start is not None:
            bars.append(f'<rect x="{start + BARCODE_QUIET_ZONE}" y="0" width="{index - start}" height="{BARCODE_HEIGHT}"/>')
            start = None
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {BARCODE_HEIGHT}" preserveAspectRatio="none" '
        f'shape-rendering="crispEdges"><rect width="{width}" height="{BARCODE_HEIGHT}" fill="#fff"/>'
        f'<g fill="#000">{"".join(bars)}</g></svg>'
    )
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
