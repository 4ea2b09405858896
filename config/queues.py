"""The Celery queues, named once.

- ``default``: short tasks (top-up reconciliation, freezes, deadlines).
- ``notifications``: mail and SMS, paced, so a flood of notices never delays a payment.
- ``bulk``: jobs that run for minutes over millions of rows (look-back hunts, mass resets, shutdown notices).
- ``payouts``: payout batches, their delivery and result imports: finance's day never waits for mail.

``CELERY_TASK_ROUTES`` (config/settings.py), the tasks that pick a queue when they are sent and the
test workers use these constants. A worker serving every queue is started with ``-Q`` and
``WORKER_QUEUES_ARG``; the Makefile's ``worker`` target and docker-compose.yml spell that list out and
must match it.
"""

from __future__ import annotations

DEFAULT_QUEUE = "default"
NOTIFICATIONS_QUEUE = "notifications"
BULK_QUEUE = "bulk"
PAYOUTS_QUEUE = "payouts"

# Every queue, in the order a worker serving them all lists them.
WORKER_QUEUES = (DEFAULT_QUEUE, NOTIFICATIONS_QUEUE, BULK_QUEUE, PAYOUTS_QUEUE)
# ``celery -A config worker -Q default,notifications,bulk,payouts``
WORKER_QUEUES_ARG = ",".join(WORKER_QUEUES)
