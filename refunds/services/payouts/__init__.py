"""Payout batches (being built): see the payouts engineer's modules."""


def register() -> None:
    """Hands the back-office the payout-release approval executor (filled in with the release service)."""
