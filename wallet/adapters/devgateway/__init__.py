"""The development card gateway's side: its hosted card page and its vault.

This package plays the acquirer. It is the only code that ever sees a card
number or security code, and even here they live only in the request being
handled: the vault keeps a keyed fingerprint, the last four digits and the
expiry. Error reports are told to hide the posted fields and the functions'
local variables (``sensitive_post_parameters`` / ``sensitive_variables``).
"""
