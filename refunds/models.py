"""Refund programme models arrive with the shutdown issue; the app exists so imports can flow refunds → backoffice → wallet."""
