"""Diversify a given backbone by partial diffusion (RFdiffusion's "partial diffusion"; SDEdit).

The input backbone ``X (L, 4, 3)`` Å is centred (zero CA centroid), noised to ``start_sigma`` and
sampled back with any core sampler on the part of its σ grid below ``start_sigma`` (same level
density as the full grid), so a small σ gives close variants and a large one new folds.  Residues
can be kept: the core :class:`~proteindsm.core.KnownPart` condition (values = the input residues,
compared after superposition) with the scaffold mechanisms (:func:`proteindsm.protein.generate.scaffold_sampling.conditioning`).

Each variant is reported with its TM-score to the input (TM-align, normalised by the input) and its
CA RMSD after superposition.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch

from proteindsm.errors import InputError

from proteindsm.protein.structure.domain import project_zero_ca_centroid


@dataclass
class Variant:
    """One variant: ``coords`` float32 ``(L, 4, 3)`` Å, ``tm_to_input`` (normalised by the input),
    ``ca_rmsd_to_input`` Å (after superposition), ``kept_rmsd`` Å over the kept residues (N, CA, C,
    O; None when none kept), and the wall time of its batch divided by the batch size."""

    index: int
    coords: np.ndarray
    tm_to_input: float
    ca_rmsd_to_input: float
    kept_rmsd: Optional[float]
    seconds: float


def partial_sigmas(sigmas: torch.Tensor, start_sigma: float) -> torch.Tensor:
    """``start_sigma`` followed by the levels of the descending grid ``sigmas`` below it ``(n,)``."""
    if not (np.isfinite(start_sigma) and start_sigma > 0):
        raise InputError(f"sigma must be a positive number (Å), got {start_sigma!r}")
    lo, hi = float(sigmas[-1]), float(sigmas[0])
    if not lo < start_sigma <= hi:
        raise InputError(f"sigma={start_sigma:g} Å is outside the model's noise range ({lo:g}, {hi:g}] Å")
    below = sigmas[sigmas < start_sigma]
    return torch.cat([sigmas.new_tensor([start_sigma]), below])


def keep_mask(spec: Optional[str], length: int) -> Optional[np.ndarray]:
    """``keep="5-20,40,52-60"`` (1-based residue numbers of the input, inclusive ranges) → bool
    ``(length,)``; None for an empty spec.  One error naming the bad item."""
    if spec is None or str(spec).strip() in ("", "none", "null"):
        return None
    mask = np.zeros(length, dtype=bool)
    for item in str(spec).replace(" ", "").split(","):
        parts = item.split("-")
        try:
            if len(parts) == 1:
                a = b = int(parts[0])
            elif len(parts) == 2:
                a, b = int(parts[0]), int(parts[1])
            else:
                raise ValueError
        except ValueError:
            raise InputError(f"keep: {item!r} is not a residue number or range like 5-20") from None
        if not 1 <= a <= b <= length:
            raise InputError(f"keep: {item!r} is outside the input's residues 1-{length} (or reversed)")
        mask[a - 1:b] = True
    return mask


def known_residues(X: np.ndarray, keep: np.ndarray, num: int, device: torch.device | str = "cpu"):
    """The core condition holding the ``keep`` residues of ``X`` for ``num`` rows, compared after
    superposition (:func:`proteindsm.protein.generate.scaffold_sampling.superpose_onto`)."""
    from proteindsm.core import KnownPart

    from proteindsm.protein.generate.scaffold_sampling import superpose_onto

    centred = X - X[:, 1].mean(0)
    values = torch.from_numpy(np.repeat(centred[None].astype(np.float32), num, 0)).to(device)
    mask = torch.from_numpy(np.repeat(keep[None], num, 0)).to(device)
    return KnownPart(values * mask[..., None, None], mask, align=superpose_onto)


def diversify_backbone(score_for: Callable[[object], object], X: np.ndarray, num: int, sampler,
                       sigmas: torch.Tensor, *, start_sigma: float, seed: int = 0, batch_size: int = 8,
                       device: torch.device | str = "cpu", keep: Optional[np.ndarray] = None,
                       cond_extra: Optional[dict] = None, skip: Optional[Callable[[list[int]], bool]] = None,
                       on_batch: Optional[Callable[[list[Variant]], None]] = None) -> list[Variant]:
    """``num`` variants of backbone ``X`` ``(L, 4, 3)`` Å by partial diffusion from ``start_sigma``.

    Args:
        score_for: ``known -> score_fn`` (``known`` a KnownPart or None when nothing is kept): the
            model, conditioned when residues are kept, with the sampling potentials on top.
        sigmas: the sampler's full descending σ grid (Å); only its part below ``start_sigma`` runs.
        keep: optional bool ``(L,)`` of residues to hold (compared after superposition).
        cond_extra: extra ``cond`` entries for every row (e.g. ``{"ss": (L,) long tokens}``).
        skip: ``skip(indices)`` True leaves that batch (its variant numbers) out, e.g. written by an
            interrupted run; ``on_batch``: called with each batch's variants as soon as they are done.
    Batch ``b`` draws its noise from ``torch.Generator`` seeded with ``(seed, b)`` only, so a run
    continued after skipping batches gives the variants of an uninterrupted one.  Returns the
    sampled variants in index order.
    """
    from proteindsm.protein.structure.geometry import rmsd
    from proteindsm.protein.analysis.metrics import tm_score

    X = np.asarray(X, dtype=np.float32)
    device = torch.device(device)
    grid = partial_sigmas(sigmas.to(device), float(start_sigma))
    x_ref = project_zero_ca_centroid(torch.from_numpy(X)[None].to(device), None)
    out: list[Variant] = []
    for b in range((num + batch_size - 1) // batch_size):
        n = min(batch_size, num - b * batch_size)
        if skip is not None and skip(list(range(b * batch_size, b * batch_size + n))):
            continue
        g = torch.Generator(device=device).manual_seed(int(seed) * 1_000_003 + b)
        mask = torch.ones(n, X.shape[0], dtype=torch.bool, device=device)
        noise = torch.randn((n,) + X.shape, generator=g, device=device)
        x0 = project_zero_ca_centroid(x_ref.expand(n, -1, -1, -1) + start_sigma * noise, mask)
        cond = {"mask": mask, "sample_index": torch.arange(b * batch_size, b * batch_size + n, device=device)}
        for key, value in (cond_extra or {}).items():
            cond[key] = torch.as_tensor(value, device=device).expand(n, *np.shape(value))
        known = known_residues(X, keep, n, device) if keep is not None and keep.any() else None
        t0 = time.perf_counter()
        res = sampler.sample(score_for(known), x0, grid, mask=mask, cond=cond,
                             project=project_zero_ca_centroid, generator=g)
        per = (time.perf_counter() - t0) / n
        xs = res.x.detach().float().cpu().numpy()
        batch: list[Variant] = []
        for i in range(n):
            Y = xs[i]
            ca = rmsd(torch.from_numpy(Y[:, 1:2]).double(), torch.from_numpy(X[:, 1:2]).double())
            kept = None
            if keep is not None and keep.any():
                k = torch.from_numpy(np.flatnonzero(keep))
                kept = float(rmsd(torch.from_numpy(Y).double()[k], torch.from_numpy(X).double()[k]))
            batch.append(Variant(b * batch_size + i, Y, tm_score(X, Y)[0], float(ca), kept, per))
        out.extend(batch)
        if on_batch is not None:
            on_batch(batch)
    return out
