"""Bank file delivery: how a released payout file reaches the bank (or Japan Post).

``BANK_DELIVERY_BACKEND`` names a class implementing ``BankDelivery``. A production
provider uploads through the bank's channel (an SFTP drop, an EB/FB upload API) and
returns the bank's receipt reference. The development backend, ``FolderBankDelivery``,
writes the file into ``BANK_DELIVERY_DIR``, as such a drop would receive it.

The contract every backend keeps, because ``payout_batch_deliver`` may call it twice
for one batch (a redelivered task, the sweep racing the task, a worker killed after
the upload but before the database noted it):

- delivering the same name with the same SHA-256 again is a no-op that returns the
  same reference;
- a different SHA-256 under a name already delivered raises ``BankDeliveryConflict``
  (never overwrite a file the bank may already have read);
- the file appears whole or not at all; any other failure raises ``BankDeliveryError``
  and is retried later.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path

from django.conf import settings
from django.utils.module_loading import import_string

__all__ = ["BankDelivery", "BankDeliveryConflict", "BankDeliveryError", "FolderBankDelivery", "bank_delivery"]

# Names we generate (``anzenpay-bank-000042-20261204.txt``); anything else could escape the folder.
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class BankDeliveryError(Exception):
    """The file did not reach the bank this time; the delivery is retried."""


class BankDeliveryConflict(BankDeliveryError):
    """A different file already went out under this name: a person must look, nothing is overwritten."""


class BankDelivery(ABC):
    """What a production provider implements."""

    @abstractmethod
    def deliver(self, file_name: str, content: bytes, sha256: str) -> str:
        """Hand ``content`` to the bank as ``file_name`` and return the delivery's reference.

        Idempotent by (``file_name``, ``sha256``): a second call with both equal returns the
        first call's reference without sending again. Raises ``BankDeliveryConflict`` for a
        known name with another digest and ``BankDeliveryError`` for anything that failed.
        """


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _checked(file_name: str, content: bytes, sha256: str) -> None:
    if not SAFE_NAME.fullmatch(file_name) or file_name.startswith("."):
        raise BankDeliveryError(f"unsafe file name {file_name!r}")
    if _digest(content) != sha256:
        raise BankDeliveryError(f"{file_name}: the content does not match its SHA-256 {sha256}")


class FolderBankDelivery(BankDelivery):
    """Development backend: the bank's inbox is a folder (default ``var/bank-outbox``).

    Writes a temporary file in the same folder, flushes it to disk, then links it under
    its final name, which fails if the name exists: a no-clobber rename, so a reader
    (or the "bank") never sees half a file and nothing already delivered is replaced.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory if directory is not None else settings.BANK_DELIVERY_DIR)

    def _reference(self, file_name: str, sha256: str) -> str:
        return f"folder:{file_name}:{sha256[:16]}"

    def _existing(self, target: Path, file_name: str, sha256: str) -> str:
        existing = _digest(target.read_bytes())
        if existing != sha256:
            raise BankDeliveryConflict(f"{file_name} was already delivered with SHA-256 {existing}, not {sha256}")
        return self._reference(file_name, sha256)

    def deliver(self, file_name: str, content: bytes, sha256: str) -> str:
        _checked(file_name, content, sha256)
        target = self.directory / file_name
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            if target.exists():
                return self._existing(target, file_name, sha256)
            handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=f".{file_name}.", suffix=".part")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(content)
                    out.flush()
                    os.fsync(out.fileno())
                try:
                    os.link(temporary, target)
                except FileExistsError:
                    # Another delivery of this batch won the race: same digest, same reference.
                    return self._existing(target, file_name, sha256)
            finally:
                Path(temporary).unlink(missing_ok=True)
            self._sync_directory()
        except BankDeliveryError:
            raise
        except OSError as exc:
            raise BankDeliveryError(f"{file_name}: {exc}") from exc
        return self._reference(file_name, sha256)

    def _sync_directory(self) -> None:
        # The new name must survive a crash too, not only the bytes.
        try:
            descriptor = os.open(self.directory, os.O_RDONLY)
        except OSError:  # pragma: no cover - not every platform opens directories
            return
        try:
            os.fsync(descriptor)
        except OSError:  # pragma: no cover
            pass
        finally:
            os.close(descriptor)


def bank_delivery() -> BankDelivery:
    """The configured backend (``BANK_DELIVERY_BACKEND``), made for each delivery so a test's settings apply."""
    backend = import_string(settings.BANK_DELIVERY_BACKEND)
    instance = backend()
    if not isinstance(instance, BankDelivery):
        raise TypeError(f"{settings.BANK_DELIVERY_BACKEND} does not implement refunds.adapters.bank_delivery.BankDelivery")
    return instance
