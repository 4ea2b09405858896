"""The one refusal type every app raises when a person asks for something that is not allowed.

A service that refuses changes nothing and raises a subclass of ``Refused``. Each subclass
lists the reasons it can give as a nested ``Code`` (a ``StrEnum``), and raising sites name a
member, never a bare string: ``LoginRefused(LoginRefused.Code.LOCKED, message)``. Callers
branch on the member (``refused.code == LoginRefused.Code.LOCKED``); because the members are
strings, the code still reads as its plain value in JSON, audit rows and logs.

This module sits in the lowest app (imports flow refunds → backoffice → wallet) so every app
can use it. It imports nothing from the project.
"""

from __future__ import annotations


class Refused(Exception):
    """A refused request; nothing was changed.

    ``code`` is for machines, tests and audit rows: a member of the subclass's ``Code``, or the
    code of a lower-level refusal passed on unchanged. ``message`` is safe to show to the person
    who asked. ``status`` is the HTTP status an API answers with, for refusals that carry one.
    """

    def __init__(self, code: str, message: object, *, status: int | None = None) -> None:
        self.code = code
        self.message = str(message)
        self.status = status
        super().__init__(self.message)
