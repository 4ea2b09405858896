"""Cut text to the length of the model field it is stored in, taking the length from the field itself.

``fit(Transfer, "description", text)`` instead of ``text[:200]``: when a field's ``max_length``
changes (with its migration), every place that fills it follows.
"""

from __future__ import annotations

from django.db.models import Model


def max_length(model: type[Model], name: str) -> int:
    """The ``max_length`` of ``model``'s field ``name``; a field without one is a programming error."""
    length = getattr(model._meta.get_field(name), "max_length", None)
    if not isinstance(length, int):
        raise TypeError(f"{model._meta.label}.{name} has no max_length")
    return length


def fit(model: type[Model], name: str, value: str) -> str:
    """``value`` cut to the length of ``model``'s field ``name`` (unchanged when it already fits)."""
    return value[: max_length(model, name)]
