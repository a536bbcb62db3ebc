"""Error types: every message names the key, file, branch or argument and what was expected."""

from __future__ import annotations

__all__ = ["ConfigError", "InputError"]


class ConfigError(ValueError):
    """An invalid configuration; the message names the key."""


class InputError(ValueError):
    """Bad user input (file, tree, branch or value), with a message that names it."""
