"""Zengin (全銀) building blocks for bank payouts: names, ゆうちょ numbers, business days,
the bank master and the 総合振込 file. Pure functions and values: no models, no queries.

Import the submodules directly; importing this package loads nothing heavy (the bank
master's data is read on first use).
"""
