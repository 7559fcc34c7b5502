"""Contracts shared by every domain (toy, image, protein).

Tensor conventions
------------------
* ``x``     : a batch of states, shape ``(B, *event_shape)`` (toy ``(B, 2)``, image ``(B, C, H, W)``,
              protein ``(B, L, 4, 3)`` in Å).
* ``sigma`` : noise level per sample, shape ``(B,)``, in the units of ``x`` (Å for proteins).
* ``mask``  : optional, shape ``x.shape[:k]`` for some ``k >= 1`` (protein ``(B, L)``); ``True``/1 marks real
              elements.  Masked-out elements are never noised, moved, or counted in a loss.
* ``cond``  : optional mapping of extra inputs for the network (the protein domain passes the mask
              there too, as ``{"mask": mask}``), or ``None``.

Every network is reached through one call, a *score function* ``score_fn(x, sigma, cond) -> score``
(shape of ``x``); losses and samplers only call that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Protocol

import torch
from torch import Tensor

Cond = Optional[Mapping[str, Any]]


class ScoreFn(Protocol):
    """``(x (B,...), sigma (B,), cond) -> score (B,...)``: an estimate of ∇_x log p_σ(x)."""

    def __call__(self, x: Tensor, sigma: Tensor, cond: Cond = None) -> Tensor: ...


class ProjectFn(Protocol):
    """Projection onto the subspace where noise and states live, ``(v, mask) -> v``.

    The protein domain removes the CA centroid (translation invariance); images and toy data use
    :func:`identity_project`.  It must be linear and idempotent.
    """

    def __call__(self, v: Tensor, mask: Optional[Tensor]) -> Tensor: ...


def identity_project(v: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    """The trivial projection (no constraint); masked elements are still zeroed."""
    return apply_mask(v, mask)


def expand_like(t: Tensor, x: Tensor) -> Tensor:
    """View a per-sample or per-element tensor ``t`` of shape ``x.shape[:k]`` so it broadcasts
    against ``x`` (appends singleton dims).  Used for σ ``(B,)`` and masks ``(B, L)``."""
    return t.reshape(t.shape + (1,) * (x.dim() - t.dim()))


def apply_mask(v: Tensor, mask: Optional[Tensor]) -> Tensor:
    """Zero the masked-out elements of ``v`` (``mask`` of shape ``v.shape[:k]``)."""
    if mask is None:
        return v
    return v * expand_like(mask.to(v.dtype), v)


@dataclass
class Batch:
    """A training batch.  ``x`` is ``(B, ...)``; ``mask`` ``(B, ...)`` or None; ``cond`` extra inputs
    with leading dim ``B``; ``target`` optional labels (property predictors, classifiers)."""

    x: Tensor
    mask: Optional[Tensor] = None
    cond: dict[str, Tensor] = field(default_factory=dict)
    target: Optional[Tensor] = None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(
            x=self.x.to(device),
            mask=None if self.mask is None else self.mask.to(device),
            cond={k: v.to(device) for k, v in self.cond.items()},
            target=None if self.target is None else self.target.to(device),
        )

    def shard(self, rank: int, world_size: int) -> "Batch":
        """Rows ``rank::world_size`` (data-parallel split of a global batch)."""
        sl = slice(rank, None, world_size)
        return Batch(
            x=self.x[sl],
            mask=None if self.mask is None else self.mask[sl],
            cond={k: v[sl] for k, v in self.cond.items()},
            target=None if self.target is None else self.target[sl],
        )

    def network_cond(self) -> dict[str, Tensor]:
        """What the network sees as ``cond``: the extra inputs plus the mask."""
        cond = dict(self.cond)
        if self.mask is not None:
            cond["mask"] = self.mask
        return cond


@dataclass
class LossOutput:
    """Per-sample loss ``(B,)`` and the σ ``(B,)`` at which each sample was evaluated (for σ-bucketed
    validation curves; NaN where an objective has no σ)."""

    loss: Tensor
    sigma: Tensor


class Objective(Protocol):
    """A training objective.  Randomness is drawn for the *global* batch first (``draw``) and then
    sharded with the batch, so a data-parallel run sees exactly the noise a single process would."""

    def draw(self, batch: Batch, generator: torch.Generator) -> dict[str, Tensor]: ...

    def __call__(self, model: torch.nn.Module, batch: Batch, draw: Mapping[str, Tensor]) -> LossOutput: ...


def shard_draw(draw: Mapping[str, Tensor], rank: int, world_size: int) -> dict[str, Tensor]:
    """Rows ``rank::world_size`` of every tensor in an objective's draw."""
    return {k: v[rank::world_size] for k, v in draw.items()}


BatchFn = Callable[[int], Batch]
"""``batch_for_step(step) -> Batch``: a deterministic global batch for a training step, so a resumed
run sees the same data order as an uninterrupted one."""
