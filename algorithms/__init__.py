"""Self-supervised learning methods, backbones and batched augmentations.

Imports neither ``streams`` nor ``lifelong``.
"""
