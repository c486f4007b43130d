"""The benchmark engine: benchmarks, training, evaluation, scoring, figures, CLI and configs.

Composes ``human_data``, ``streams`` and ``algorithms``.
"""

from .cpu_precision import register_resolvers as _register_resolvers

_register_resolvers()
