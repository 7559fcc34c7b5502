"""Checking plain user values, with one clear :class:`~proteindsm.errors.InputError` naming the setting."""

from __future__ import annotations

import math
from typing import Any, Optional

from proteindsm.errors import InputError

__all__ = ["positive_number"]


def positive_number(name: str, value: Any, *, unit: str = "", allow_none: bool = False,
                    note: str = "") -> Optional[float]:
    """``value`` as a finite float > 0 (None passes through when ``allow_none``); otherwise one
    error: ``"<name> must be a positive number[ of <unit>][ or null][ (<note>)], got <value>"``."""
    if value is None and allow_none:
        return None
    what = (f"{name} must be a positive number{f' of {unit}' if unit else ''}{' or null' if allow_none else ''}"
            f"{f' ({note})' if note else ''}, got {value!r}")
    if isinstance(value, bool):
        raise InputError(what)
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(what) from None
    if not (math.isfinite(v) and v > 0):
        raise InputError(what)
    return v
