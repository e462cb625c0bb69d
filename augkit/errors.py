"""Errors augkit raises on bad input.

Both subclass :class:`ValueError`, so code written for Keras (which raises ``ValueError`` on bad
arguments) keeps working.
"""

from __future__ import annotations


class SpecError(ValueError):
    """A pipeline specification (dict, YAML/JSON file, keyword arguments) is invalid.

    The message names the field path, the bad value, what is allowed and, for unknown names,
    the closest valid ones.
    """


class InputError(ValueError):
    """Data handed to augkit is unusable: wrong shape or dtype, out-of-range values, corrupt
    files."""
