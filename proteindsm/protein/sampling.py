"""Sampling protein backbones with any core sampler (score function + σ grid in Å).

Samples of one length are generated together in batches of ``batch_size``; the initial state of
each batch is σ_max·N(0, I) projected onto the zero-CA-centroid slice.  Every batch has its own
generator seeded from ``(seed, length, batch index)``, so the same seed gives the same backbones
whatever else is sampled in the run — guided and unguided designs from the same seeds start from the
same noise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from proteindsm.core.samplers import Sampler, prior_sample
from proteindsm.core.types import ScoreFn

from .domain import project_zero_ca_centroid


@dataclass
class SampledBackbone:
    """One generated backbone: ``coords`` float32 ``(L, 4, 3)`` Å (N, CA, C, O); ``trajectory``
    ``(T, L, 4, 3)`` of the states after each σ level (initial noise first) when asked for;
    ``seconds``: wall time of its batch divided by the batch size; ``ss``: the secondary-structure
    tokens ``(L,)`` it was conditioned on (None: unconditional)."""

    length: int
    index: int
    coords: np.ndarray
    seconds: float
    trajectory: Optional[np.ndarray] = None
    ss: Optional[np.ndarray] = None


def batch_generator(seed: int, length: int, batch_index: int, device: torch.device) -> torch.Generator:
    """The generator of one batch, a function of ``(seed, length, batch_index)`` only."""
    g = torch.Generator(device=device)
    g.manual_seed((int(seed) * 1_000_003 + int(length) * 7_919 + int(batch_index)) % (2**63 - 1))
    return g


def sample_backbones(score_fn: ScoreFn, lengths: Sequence[int], num_per_length: int, sampler: Sampler,
                     sigmas: torch.Tensor, *, seed: int = 0, batch_size: int = 8,
                     device: torch.device | str = "cpu", return_trajectory: bool = False,
                     progress: bool = True,
                     ss_layout: Optional[Callable[[int, int], Optional[np.ndarray]]] = None,
                     ideal_output: bool = False) -> list[SampledBackbone]:
    """Generate ``num_per_length`` backbones for each length in ``lengths``.

    Args:
        score_fn: ``(x (B, L, 4, 3), σ (B,), cond={"mask": (B, L), "sample_index": (B,)}) -> score``;
            ``sample_index`` is each row's backbone number within its length (0 … num_per_length − 1),
            for guidance that differs per backbone (e.g. per-backbone sheet blueprints).
        sampler: any core sampler (annealed Langevin, reverse SDE / PC, probability-flow ODE).
        sigmas: descending σ grid in Å; ``sigmas[0]`` scales the initial noise.
        ss_layout: optional ``(length, index) -> tokens (length,) | None``: the secondary-structure
            labels of each backbone (:mod:`proteindsm.protein.secondary_structure`), passed to the
            score function as ``cond["ss"]`` long ``(B, L)``.
        ideal_output: rebuild each final backbone from its residue frames with ideal geometry
            (:func:`proteindsm.protein.ideal_geometry.idealise_backbone`: exact N–CA, CA–C, C=O and
            the N–CA–C / CA–C=O angles in every residue, chain ends included; CA kept).
    Returns:
        backbones in order of ``lengths`` then index.
    """
    device = torch.device(device)
    sigmas = sigmas.to(device)
    out: list[SampledBackbone] = []
    jobs = [(L, b, min(batch_size, num_per_length - b * batch_size))
            for L in lengths for b in range((num_per_length + batch_size - 1) // batch_size)]
    bar = tqdm(jobs, desc="sampling", unit="batch", disable=not progress)
    for L, b, n in bar:
        bar.set_postfix(length=L)
        g = batch_generator(seed, L, b, device)
        mask = torch.ones(n, L, dtype=torch.bool, device=device)
        x0 = prior_sample((n, L, 4, 3), float(sigmas[0]), mask=mask, project=project_zero_ca_centroid,
                          generator=g, device=device)
        t0 = time.perf_counter()
        index = torch.arange(b * batch_size, b * batch_size + n, device=device)   # backbone numbers
        cond = {"mask": mask, "sample_index": index}
        layouts = [None] * n
        if ss_layout is not None:
            layouts = [ss_layout(L, b * batch_size + i) for i in range(n)]
            if any(t is not None for t in layouts):
                from .secondary_structure import SS_UNKNOWN
                ss = np.full((n, L), SS_UNKNOWN, dtype=np.int64)
                for i, t in enumerate(layouts):
                    if t is not None:
                        ss[i] = t
                cond["ss"] = torch.from_numpy(ss).to(device)
        res = sampler.sample(score_fn, x0, sigmas, mask=mask, cond=cond,
                             project=project_zero_ca_centroid, generator=g,
                             return_trajectory=return_trajectory, progress=False)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        per = (time.perf_counter() - t0) / n
        x = res.x.detach()
        if ideal_output:
            from .ideal_geometry import idealise_backbone
            x = idealise_backbone(x, mask)
        x = x.float().cpu().numpy()
        traj = torch.stack(res.trajectory, 1).float().numpy() if res.trajectory is not None else None
        for i in range(n):
            out.append(SampledBackbone(length=L, index=b * batch_size + i, coords=x[i], seconds=per,
                                       trajectory=None if traj is None else traj[i], ss=layouts[i]))
    return out
