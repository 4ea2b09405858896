"""Holding a payout build at one of its checkpoints, inside a real Celery worker (T4).

``refunds.services.payouts.build.build_checkpoint`` does nothing; the build calls it at
fixed points inside its transaction. A test worker started with
``Worker(..., preload=("tests.reliability.build_pause",))`` imports this module with its
settings, and each pool process then replaces that function with one that

- writes a file named after the stage into ``$ANZEN_BUILD_CHECKPOINTS`` each time the
  build reaches it (the signal the test waits for, instead of guessing with a delay), and
- at the stage named by ``$ANZEN_BUILD_HOLD_AT``, if set, stops there for good: the
  transaction stays open, its locks held, until the test kills the worker.

Nothing is faked: the build, its transaction and the worker are the real ones.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from celery.signals import worker_process_init

CHECKPOINTS_ENV = "ANZEN_BUILD_CHECKPOINTS"
HOLD_ENV = "ANZEN_BUILD_HOLD_AT"


def checkpoint_reached(directory: Path, stage: str) -> bool:
    """Whether a build in the worker given ``directory`` as its ``$ANZEN_BUILD_CHECKPOINTS`` reached ``stage``."""
    return (directory / stage).exists()


def _checkpoint(stage: str) -> None:
    directory = os.environ.get(CHECKPOINTS_ENV)
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        (Path(directory) / stage).write_text(f"{os.getpid()}\n")
    if stage == os.environ.get(HOLD_ENV):
        while True:  # until SIGKILL: the build's transaction stays open with its locks
            signal.pause()


@worker_process_init.connect
def _install(**_kwargs: object) -> None:
    from refunds.services.payouts import build

    build.build_checkpoint = _checkpoint
