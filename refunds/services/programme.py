"""The shutdown programme: dates checked against the Payment Services Act, the
notices to every holder with a balance (queued in keyset batches through the
paced outbox), and the channels that close at service end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from backoffice.services.audit import staff_action_record
from wallet.models import ChannelSwitch, LedgerAccount, Notification, User
from wallet.services.switches import channel_switch_set

from ..models import MINIMUM_CLAIM_WINDOW, ShutdownProgramme
from .errors import RefundRefused

# The channels that close at service end: every way money comes in or is spent.
CHANNELS_CLOSED_AT_SERVICE_END = (
    "card.register",
    "charge.credit_card",
    "charge.debit_card",
    "charge.store_register",
    "charge.atm",
    "payment.store",
)
NOTICE_KIND = "shutdown_notice"
NOTICE_BATCH_SIZE = 5_000


def _notices_per_second() -> float:
    return float(settings.SHUTDOWN_NOTICES_PER_SECOND)


def programme_current() -> ShutdownProgramme | None:
    """The live (not cancelled) programme, if any."""
    return ShutdownProgramme.objects.exclude(state=ShutdownProgramme.State.CANCELLED).order_by("-id").first()


def programme_dates_check(
    *, announced_on: date, service_ends_at: datetime, claims_open_at: datetime, claims_close_at: datetime
) -> dict[str, str]:
    """Field errors for the dates, empty when they are lawful."""
    errors: dict[str, str] = {}
    if claims_close_at - claims_open_at < MINIMUM_CLAIM_WINDOW:
        errors["claims_close_at"] = str(
            _("The Payment Services Act requires a claim window of at least 60 days; this one has %(days)s.")
            % {"days": (claims_close_at - claims_open_at).days}
        )
    if timezone.localdate(service_ends_at) < announced_on:
        errors["service_ends_at"] = str(_("The service cannot end before it is announced."))
    if timezone.localdate(claims_open_at) < announced_on:
        errors["claims_open_at"] = str(_("Claims cannot open before the announcement."))
    if claims_close_at <= service_ends_at:
        errors["claims_close_at"] = errors.get("claims_close_at") or str(_("Claims must stay open after the service ends."))
    return errors


def programme_create(
    *,
    title: str,
    announced_on: date,
    service_ends_at: datetime,
    claims_open_at: datetime,
    claims_close_at: datetime,
    notice_ja: str,
    notice_en: str = "",
    acting_user: User,
    ip: str | None = None,
) -> ShutdownProgramme:
    errors = programme_dates_check(
        announced_on=announced_on, service_ends_at=service_ends_at, claims_open_at=claims_open_at, claims_close_at=claims_close_at
    )
    if not title.strip() or not notice_ja.strip():
        errors["notice_ja"] = str(_("A title and the public notice in Japanese are required."))
    if errors:
        raise RefundRefused(RefundRefused.Code.INVALID_DATES, " ".join(errors.values()))
    with transaction.atomic():
        # One live programme: two supervisors creating at once are serialised by a transaction lock.
        _programme_creation_lock()
        if programme_current() is not None:
            raise RefundRefused(
                RefundRefused.Code.ALREADY_EXISTS, _("A shutdown programme already exists; cancel it before making another.")
            )
        programme = ShutdownProgramme.objects.create(
            title=title.strip(),
            announced_on=announced_on,
            service_ends_at=service_ends_at,
            claims_open_at=claims_open_at,
            claims_close_at=claims_close_at,
            notice_ja=notice_ja.strip(),
            notice_en=notice_en.strip(),
            created_by=acting_user,
        )
        staff_action_record(
            acting_user=acting_user,
            action="shutdown.create",
            target=programme,
            after={
                "service_ends_at": service_ends_at.isoformat(),
                "claims_open_at": claims_open_at.isoformat(),
                "claims_close_at": claims_close_at.isoformat(),
            },
            ip=ip,
        )
    return programme


def _programme_creation_lock() -> None:
    connection = transaction.get_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('anzenpay.shutdown_programme_create'))")


def programme_announce(*, programme: ShutdownProgramme, acting_user: User, ip: str | None = None) -> ShutdownProgramme:
    """Publish the programme and start queueing the holder notices (a background job)."""
    with transaction.atomic():
        locked = ShutdownProgramme.objects.select_for_update().get(pk=programme.pk)
        if locked.state != ShutdownProgramme.State.DRAFT:
            raise RefundRefused(RefundRefused.Code.NOT_DRAFT, _("This programme has already been announced."))
        locked.state = ShutdownProgramme.State.ANNOUNCED
        locked.notices_queued_at = timezone.now()
        locked.save(update_fields=["state", "notices_queued_at"])
        staff_action_record(
            acting_user=acting_user,
            action="shutdown.announce",
            target=locked,
            before={"state": "draft"},
            after={"state": "announced"},
            ip=ip,
        )
        transaction.on_commit(lambda: _notices_job_start(locked.pk))
    return locked


def _notices_job_start(programme_id: int) -> None:
    from ..tasks import shutdown_notices_queue

    shutdown_notices_queue.delay(programme_id)


@dataclass(frozen=True)
class NoticesProgress:
    queued: int
    done: bool


def programme_notices_queue_batch(*, programme_id: int, batch_size: int = NOTICE_BATCH_SIZE) -> NoticesProgress:
    """Queue the next keyset batch of holder notices, paced through ``send_after``.

    The batch and the cursor commit together, so a killed worker redoes at most
    the batch it was writing, never a committed one: no holder gets two notices.

    The programme's state is checked again under its row lock before anything is
    queued (B10): only an announced programme (or one whose service has since ended
    while its notices were still being queued) sends them. Run for a draft, a
    cancelled or an unknown programme, it queues nothing and leaves the row as it was,
    whoever started it and with whatever id."""
    with transaction.atomic():
        programme = ShutdownProgramme.objects.select_for_update().filter(pk=programme_id).first()
        if programme is None or programme.notices_done_at is not None or not _notices_may_go(programme):
            return NoticesProgress(queued=0, done=True)
        holders = list(
            LedgerAccount.objects.filter(
                kind=LedgerAccount.Kind.CUSTOMER_WALLET, pk__gt=programme.notices_cursor, balance_yen__gt=0, owner__is_staff=False
            )
            .order_by("pk")
            .values_list("pk", "owner_id", "owner__email", "owner__preferred_language", "balance_yen")[:batch_size]
        )
        if not holders:
            programme.notices_done_at = timezone.now()
            programme.save(update_fields=["notices_done_at"])
            return NoticesProgress(queued=0, done=True)
        rate = _notices_per_second()
        start = max(timezone.now(), _last_notice_due(programme.notices_queued))
        context = {
            "programme": programme.title,
            "service_ends_at": timezone.localtime(programme.service_ends_at).strftime("%Y-%m-%d %H:%M"),
            "claims_close_at": timezone.localtime(programme.claims_close_at).strftime("%Y-%m-%d %H:%M"),
        }
        Notification.objects.bulk_create(
            [
                Notification(
                    user_id=owner_id,
                    to_address=email,
                    kind=NOTICE_KIND,
                    language=language or settings.LANGUAGE_CODE,
                    context={**context, "balance_yen": balance},
                    send_after=start + timedelta(seconds=index / rate),
                )
                for index, (_pk, owner_id, email, language, balance) in enumerate(holders)
            ]
        )
        programme.notices_cursor = holders[-1][0]
        programme.notices_queued += len(holders)
        programme.save(update_fields=["notices_cursor", "notices_queued"])
    return NoticesProgress(queued=len(holders), done=False)


def _notices_may_go(programme: ShutdownProgramme) -> bool:
    """Notices follow the announcement: a draft has told nobody anything yet."""
    announced = programme.state in (ShutdownProgramme.State.ANNOUNCED, ShutdownProgramme.State.SERVICE_ENDED)
    return announced and programme.notices_queued_at is not None


def _last_notice_due(already_queued: int) -> datetime:
    last = Notification.objects.filter(kind=NOTICE_KIND, status=Notification.Status.PENDING).order_by("-send_after").first()
    return last.send_after if last is not None and already_queued else timezone.now()


def programme_service_end_due(*, now: datetime | None = None) -> ShutdownProgramme | None:
    """At service end, close the top-up and payment channels (audited as the system).
    Safe to run every minute and twice at once: the state change is the guard."""
    moment = now or timezone.now()
    with transaction.atomic():
        programme = (
            ShutdownProgramme.objects.select_for_update()
            .filter(state=ShutdownProgramme.State.ANNOUNCED, service_ends_at__lte=moment)
            .first()
        )
        if programme is None:
            return None
        reason = f"Service end of “{programme.title}” (shutdown programme #{programme.pk})."
        closed = []
        for name in CHANNELS_CLOSED_AT_SERVICE_END:
            enabled = ChannelSwitch.objects.filter(name=name).values_list("enabled", flat=True).first()
            if enabled is None or enabled:
                channel_switch_set(name=name, enabled=False, reason=reason, acting_user=None)
                closed.append(name)
        programme.state = ShutdownProgramme.State.SERVICE_ENDED
        programme.channels_closed_at = moment
        programme.save(update_fields=["state", "channels_closed_at"])
        staff_action_record(
            acting_user=None, action="shutdown.service_end", target=programme, after={"channels_closed": closed}, reason=reason
        )
    return programme


def programme_claims_close_due(*, now: datetime | None = None) -> ShutdownProgramme | None:
    moment = now or timezone.now()
    with transaction.atomic():
        programme = (
            ShutdownProgramme.objects.select_for_update()
            .filter(state__in=[ShutdownProgramme.State.ANNOUNCED, ShutdownProgramme.State.SERVICE_ENDED], claims_close_at__lte=moment)
            .first()
        )
        if programme is None:
            return None
        before = programme.state
        programme.state = ShutdownProgramme.State.CLAIMS_CLOSED
        programme.save(update_fields=["state"])
        staff_action_record(
            acting_user=None, action="shutdown.claims_close", target=programme, before={"state": before}, after={"state": programme.state}
        )
    return programme
