"""Every write in the back-office. Keyword-only, typed, one transaction each."""
