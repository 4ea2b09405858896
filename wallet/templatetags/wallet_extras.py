from __future__ import annotations

import re

from django import template

from ..money_format import yen_text

register = template.Library()

_BROWSERS = [("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari")]
_SYSTEMS = [
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
]


@register.filter
def device_summary(user_agent: str | None) -> str:
    """ "Chrome on Android" from a raw User-Agent, so a customer recognises the device."""
    raw = user_agent or ""
    browser = next((name for marker, name in _BROWSERS if marker in raw), "")
    system = next((name for marker, name in _SYSTEMS if marker in raw), "")
    if browser and system:
        return f"{browser} / {system}"
    if browser or system:
        return browser or system
    return re.sub(r"\s+", " ", raw)[:40]


@register.filter
def yen(amount_yen: int | None) -> str:
    """Whole yen as people read them: ¥12,345 (``wallet.money_format.yen_text``)."""
    return yen_text(amount_yen)
