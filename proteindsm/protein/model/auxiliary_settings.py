"""Settings checks shared by the auxiliary losses on the denoised backbone (``objective.*`` in the
training config: :mod:`.local_distance_loss`, :mod:`.clash_loss`, :mod:`.hbond_loss`)."""

from __future__ import annotations

from typing import Any, Sequence

from proteindsm.errors import InputError

__all__ = ["check_finite_nonnegative"]


def check_finite_nonnegative(section: str, settings: Any, names: Sequence[str]) -> None:
    """One :class:`InputError` naming ``objective.<section>.<name>`` for the first of ``names``
    (attributes of ``settings``) that is not a finite number >= 0."""
    for name in names:
        v = float(getattr(settings, name))
        if not (v == v and v >= 0 and v != float("inf")):
            raise InputError(f"objective.{section}.{name} must be a finite number >= 0, got {v}")
