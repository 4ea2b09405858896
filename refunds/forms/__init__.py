"""Forms of the refund pages. The customer portal's are in ``bank`` (bank account with the
Zengin-master pickers), ``claim`` (balance, method, postal address) and ``contact`` (the
no-login route and the status lookup)."""
