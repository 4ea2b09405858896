"""Adapters of the refund programme: interfaces a production provider implements, each chosen by a
setting like Django's email backends, with a development backend that behaves like the real service."""
