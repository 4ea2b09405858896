"""Knobs of the job, from settings where an operator may want to change them."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

LANES = int(settings.MASS_RESET_LANES)
# Notices fall due at this rate; kept below NOTIFICATIONS_PER_SECOND so other mail still flows.
NOTICES_PER_SECOND = float(settings.MASS_RESET_NOTICES_PER_SECOND)
# A lane waits this long for a lock (the batch before it, the job row) before giving up and retrying.
LOCK_WAIT = "60s"
# PostgreSQL checks this often whether the lane's client is still there during a statement.
CLIENT_CHECK = "2s"
# With no committed batch for this long, the watchdog starts lanes again.
STALE_AFTER = timedelta(seconds=int(settings.MASS_RESET_STALE_SECONDS))
BATCH_SIZE_MIN, BATCH_SIZE_MAX = 1, 50_000
SAME_PLACE = "anzenpay.mass_reset:%s:%s"
