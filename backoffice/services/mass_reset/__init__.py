"""Mass password reset (issue 4 §8; B04, R07, S02, T12).

Request and approval
    A supervisor (``backoffice.run_massreset``) asks for a reset of the whole
    customer base or of a filtered part (``selectors.mass_reset.population_condition``)
    with a reason and, optionally, "remove second factors enrolled after <time>"
    (an attacker may have enrolled their own). ``mass_reset_request`` creates the
    job (state ``awaiting``) and an ``Approval``; a second supervisor approves it
    (``approvals.approval_approve`` → ``mass_reset_execute``): the population is
    fixed (``cutoff_user_id``: later sign-ups are never reset; ``as_of``: later
    logins cannot add anyone), counted exactly, the job is queued and its lanes
    start once that commits. Staff accounts are never in the population, and
    nobody chooses or sees a password (R07).

The job
    Set-based SQL in keyset batches over the user id, never one ``save()`` per row
    and never a hash. The wallet owns its tables, so the statement lives in
    ``wallet.services.bulk_reset.accounts_reset_batch``; the job picks the batch,
    passes the population condition and the notice's schedule, and records the
    counts. One statement per batch sets an unusable password (Django's
    ``!`` prefix and a random suffix made by PostgreSQL), the must-reset flag and
    ``credentials_changed_at`` (which kills any session the index missed, S02),
    deletes the users' API tokens and live sessions (both the ``django_session``
    rows and their ``UserSession`` index rows), removes second factors enrolled
    after the given time, and queues one notice per customer in the outbox. The
    cursor (``last_user_id``), counters and heartbeat are updated in the same
    transaction, so a batch is either entirely done and recorded or not at all.
    Balances, the ledger and history are not touched.

Lanes: parallel batches, one cursor
    ``MASS_RESET_LANES`` Celery tasks (queue ``bulk``) work on the same job at once.
    A lane claims the next batch that no other lane holds (a transaction-scoped
    advisory lock on the batch's first id; the batch ends at the
    ``batch_size``-th customer after it), does the work, then waits for the lane
    of the batch just before its own to finish and commits only if the committed
    cursor is exactly where its batch starts; otherwise it rolls back and tries
    again. So the batches that commit are contiguous and disjoint whatever the
    timing: no account is reset twice and none is skipped, while the heavy work
    of two batches overlaps on two cores. A lane that finds every batch within
    reach taken waits for the earliest one: if the cursor then moves, enough
    lanes are at work and it leaves (extra lanes from a re-delivery collapse);
    if not, the holder was a dead worker and it carries on in its place.

Pause, resume, cancel
    Compare-and-set on the state. A lane commits a batch only while the job is
    ``running`` and checks the state before each batch, so a pause or a cancel
    takes effect within one batch and nothing is reset after it. Resume queues
    the lanes again; they continue from the cursor.

A killed worker (T12)
    Tasks are acknowledged late, so the broker redelivers a lost one; a lane's
    batch dies with its database connection (``client_connection_check_interval``
    makes PostgreSQL notice a dead client during a long statement) and nothing of
    it is kept. ``backoffice.tasks.mass_reset_watchdog`` (on the beat, and once
    whenever a worker starts, see ``backoffice.tasks.mass_reset``) starts lanes
    for every queued or running job whose heartbeat is stale, and a starting
    worker does it for every queued or running job at once; duplicate lanes are
    harmless (above). Running the task twice is therefore safe.

Notices
    Inserted per batch with ``send_after`` spaced at ``MASS_RESET_NOTICES_PER_SECOND``
    from the job's start (the slot is the customer's position in the job), so
    only a trickle is ever due and password-reset links and receipts are not
    stuck behind a million notices. ``mass_reset_notices_send`` (a paced task on
    the ``notifications`` queue, one at a time) delivers them as they fall due
    through the outbox's own ``notification_deliver``; the outbox relay also
    sends any that are due. The notice has no link with a token: the customer
    goes to the login, which guides them to a reset link mailed to the address
    on record.
"""

from .job import BatchResult, mass_reset_batch, mass_reset_login_notice_keep, mass_reset_run, mass_reset_start, mass_resets_stalled
from .notices import NoticesSent, mass_reset_notices_pending, mass_reset_notices_send
from .requests import (
    MASS_RESET_REQUEST_PERMISSION,
    MASS_RESET_RUN_PERMISSION,
    MassResetRefused,
    mass_reset_control,
    mass_reset_estimate,
    mass_reset_execute,
    mass_reset_filters_clean,
    mass_reset_request,
    mass_reset_validate,
    mass_resets_decisions_reconcile,
)
from .tuning import LANES, NOTICES_PER_SECOND, STALE_AFTER

__all__ = [
    "LANES",
    "MASS_RESET_REQUEST_PERMISSION",
    "MASS_RESET_RUN_PERMISSION",
    "NOTICES_PER_SECOND",
    "STALE_AFTER",
    "BatchResult",
    "MassResetRefused",
    "NoticesSent",
    "mass_reset_batch",
    "mass_reset_control",
    "mass_reset_estimate",
    "mass_reset_execute",
    "mass_reset_filters_clean",
    "mass_reset_login_notice_keep",
    "mass_reset_notices_pending",
    "mass_reset_notices_send",
    "mass_reset_request",
    "mass_reset_run",
    "mass_reset_start",
    "mass_reset_validate",
    "mass_resets_decisions_reconcile",
    "mass_resets_stalled",
]
