from __future__ import annotations


class RefundRefused(Exception):
    """A refusal shown to the person: ``code`` for machines and tests, ``message`` for people. Nothing was changed."""

    def __init__(self, code: str, message: object) -> None:
        self.code = code
        self.message = str(message)
        super().__init__(self.message)
