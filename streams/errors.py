"""Errors raised by the stimulus and image loaders."""
from __future__ import annotations

__all__ = ["StimulusError"]


class StimulusError(ValueError):
    """User-supplied stimulus or image data is missing or malformed.

    The message names the offending path or value and says what was expected.
    """
