"""The benchmark engine: benchmarks, training, evaluation, scoring, figures, CLI and configs.

Composes ``human_data``, ``streams`` and ``algorithms``.
"""
