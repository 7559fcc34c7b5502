"""Protein backbones: data, score network, generation and analysis.

``proteindsm.protein.sample(length=..., num=..., seed=..., **options)`` samples backbones
(:func:`proteindsm.protein.generate.sample`); imported lazily so ``import proteindsm.protein``
stays fast.
"""

from __future__ import annotations

from typing import Any

__all__ = ["sample"]


def __getattr__(name: str) -> Any:
    if name == "sample":
        from .generate import sample
        return sample
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
