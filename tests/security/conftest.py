"""Fixtures the security tests share."""

from __future__ import annotations

import time

import pytest


@pytest.fixture
def start() -> float:
    """The middle of a coming 30-second TOTP step (a code is never computed on a step boundary),
    after the fixtures' accounts were made (tokens older than the credentials do not work)."""
    now = time.time()
    return now - (now % 30) + 45
