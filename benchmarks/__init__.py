"""Measurement scripts (run from the repo root, e.g. ``python -m benchmarks.flops``)."""
