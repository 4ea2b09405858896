"""What the refund admin pages share: links to the refund desk that are left out
when a page is not installed, and money shown in yen."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse

from backoffice.admin.base import yen

__all__ = ["desk_url", "yen"]


def desk_url(name: str, *args: object) -> str:
    """The refund desk page ``refunds_staff:<name>``, or "" when it does not exist (yet)."""
    try:
        return reverse(f"refunds_staff:{name}", args=list(args))
    except NoReverseMatch:
        return ""
