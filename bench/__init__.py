"""Benchmarks: each bench/*.py (except common.py) ends with one RESULT line; `make bench` runs them all."""
