"""Benchmarks: `make bench [SCALE=S|M|L]` (see bench/run.py)."""
