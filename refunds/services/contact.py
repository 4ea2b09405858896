"""The no-login route's contact proof (being built)."""


def register() -> None:
    """Hands the wallet's outbox the link builders of the contact-proof mails (filled in with the service)."""
