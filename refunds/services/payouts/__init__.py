"""Payout batches: build (approved claims → one batch and its file per method), release
(a second finance user approves), delivery (the bank-delivery adapter), results (paid or
returned) and the Japan Post request file. docs/payouts.md describes the lifecycle.

Modules: ``build``, ``files`` (a batch's 総合振込 file or Japan Post CSV), ``postal``,
``release``, ``delivery``, ``results``, ``records`` (audited downloads and exports) and
``common``. Import from here.
"""

from __future__ import annotations

from .build import default_transfer_date, payout_batch_build
from .common import (
    BUILD_PERMISSION,
    DOWNLOAD_PERMISSION,
    IMPORT_PERMISSION,
    RELEASE_PERMISSION,
    VIEW_PERMISSION,
    PayoutFileCorrupt,
    batch_state_effective,
    release_is_stale,
)
from .delivery import payout_batch_deliver, payout_deliveries_pending
from .files import zengin_originator
from .postal import POSTAL_CSV_HEADER
from .records import payout_batch_download
from .release import PAYOUT_RELEASE_EXECUTOR, payout_batch_file, payout_batch_release_request, register
from .results import RESULTS_HEADER, PayoutResultsAlreadyImported, PayoutResultsInvalid, payout_results_import, payout_results_parse

__all__ = [
    "BUILD_PERMISSION",
    "DOWNLOAD_PERMISSION",
    "IMPORT_PERMISSION",
    "PAYOUT_RELEASE_EXECUTOR",
    "POSTAL_CSV_HEADER",
    "RELEASE_PERMISSION",
    "RESULTS_HEADER",
    "VIEW_PERMISSION",
    "PayoutFileCorrupt",
    "PayoutResultsAlreadyImported",
    "PayoutResultsInvalid",
    "batch_state_effective",
    "default_transfer_date",
    "payout_batch_build",
    "payout_batch_deliver",
    "payout_batch_download",
    "payout_batch_file",
    "payout_batch_release_request",
    "payout_deliveries_pending",
    "payout_results_import",
    "payout_results_parse",
    "register",
    "release_is_stale",
    "zengin_originator",
]
