"""Merchants and their terminals (store registers, ATMs) and the API keys they use.

A terminal key looks like ``apt_<8 hex>_<43 urlsafe>``. The 8-hex prefix is kept
in clear so the key can be found and recognised in the admin; the whole key is
kept only as a keyed SHA-256 digest (``secret_digest``). A slow password hash is
not needed: the secret part carries 256 bits from a CSPRNG, so a database dump is
no use for guessing, and the digest is keyed with SECRET_KEY as well.
"""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import timedelta

from django.core.validators import validate_slug
from django.db import transaction
from django.utils import timezone

from ..field_length import fit
from ..models import Merchant, Terminal, secret_digest
from .ledger import merchant_payable_account

KEY_PREFIX = "apt_"
_KEY_PURPOSE = "terminal-key"
_KEY_SHAPE = re.compile(r"^apt_(?P<prefix>[0-9a-f]{8})_[A-Za-z0-9_-]{43}$")
# last_used_at is for people reading the admin; writing it on every request would
# make every payment of a busy register update the same row.
_TOUCH_EVERY = timedelta(minutes=1)


def _new_key() -> tuple[str, str]:
    prefix = secrets.token_hex(4)
    while Terminal.objects.filter(key_prefix=prefix).exists():  # 1 in 4 billion, but the column is unique
        prefix = secrets.token_hex(4)
    return prefix, f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"


def merchant_create(*, name: str, code: str) -> Merchant:
    """A merchant and the ledger account its store payments are owed into."""
    validate_slug(code)
    with transaction.atomic():
        merchant = Merchant.objects.create(name=fit(Merchant, "name", name.strip()), code=code)
        merchant_payable_account(merchant)
    return merchant


def terminal_create(*, merchant: Merchant, name: str, kind: str) -> tuple[Terminal, str]:
    """A new terminal and its API key. The key is returned once and never stored."""
    if kind not in Terminal.Kind.values:
        raise ValueError(f"unknown terminal kind {kind!r}")
    prefix, key = _new_key()
    terminal = Terminal.objects.create(
        merchant=merchant,
        name=fit(Terminal, "name", name.strip()),
        kind=kind,
        key_prefix=prefix,
        key_digest=secret_digest(key, purpose=_KEY_PURPOSE),
    )
    return terminal, key


def terminal_key_rotate(*, terminal: Terminal) -> tuple[Terminal, str]:
    """Replace the terminal's key; the old one stops working at once."""
    prefix, key = _new_key()
    with transaction.atomic():
        locked = Terminal.objects.select_for_update().get(pk=terminal.pk)
        locked.key_prefix = prefix
        locked.key_digest = secret_digest(key, purpose=_KEY_PURPOSE)
        locked.last_used_at = None
        locked.save(update_fields=["key_prefix", "key_digest", "last_used_at"])
    return locked, key


def terminal_authenticate(raw_key: str) -> Terminal | None:
    """The active terminal of an active merchant this key belongs to, or None.

    The row is found by the clear prefix and the digests are compared in constant
    time, so response timing says nothing about how much of a guess was right.
    """
    shape = _KEY_SHAPE.match(raw_key or "")
    if shape is None:
        return None
    terminal = Terminal.objects.select_related("merchant").filter(key_prefix=shape.group("prefix")).first()
    digest = secret_digest(raw_key, purpose=_KEY_PURPOSE)
    if terminal is None or not hmac.compare_digest(digest, terminal.key_digest):
        return None
    if not terminal.is_active or not terminal.merchant.is_active:
        return None
    now = timezone.now()
    if terminal.last_used_at is None or now - terminal.last_used_at > _TOUCH_EVERY:
        Terminal.objects.filter(pk=terminal.pk).update(last_used_at=now)
        terminal.last_used_at = now
    return terminal
