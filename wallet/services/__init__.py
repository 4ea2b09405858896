"""Every write in the wallet app. Keyword-only, typed, one transaction each."""
