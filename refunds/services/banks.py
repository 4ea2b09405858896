"""The Zengin bank master as the refund forms see it: ``zengin-code``'s data with
the corrections staff keep in ``BankMasterOverride`` applied on top.

The package data loads once per process (about 0.3 s); the merged master is
cached and rebuilt when an override changes (the admin saves call
``bank_master_invalidate``)."""

from __future__ import annotations

import threading

from ..models import BankMasterOverride
from ..zengin.banks import BankMaster, MasterOverride, build_master

_lock = threading.Lock()
_cached: tuple[object, BankMaster] | None = None


def _overrides_version() -> object:
    latest = BankMasterOverride.objects.order_by("-updated_at").values_list("updated_at", flat=True).first()
    return (BankMasterOverride.objects.count(), latest)


def bank_master() -> BankMaster:
    """The master with today's overrides. Checks one cheap query for changes so
    every web worker sees an override soon after it is saved."""
    global _cached
    version = _overrides_version()
    cached = _cached
    if cached is not None and cached[0] == version:
        return cached[1]
    with _lock:
        overrides = [
            MasterOverride(bank_code=o.bank_code, branch_code=o.branch_code, name=o.name, kana=o.kana, closed=o.closed)
            for o in BankMasterOverride.objects.all()
        ]
        master = build_master(overrides)
        _cached = (version, master)
    return master


def bank_master_invalidate() -> None:
    global _cached
    _cached = None
