"""Exceptions raised by skemotion."""

from __future__ import annotations

__all__ = ["NotASkemotionModelError"]


class NotASkemotionModelError(ValueError):
    """A file given to :func:`skemotion.load_model` is not a model saved by skemotion."""
