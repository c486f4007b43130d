"""Stimuli, frame sources, session simulation and samplers.

Imports neither ``algorithms`` nor ``lifelong``.
"""
