"""Sampling protein backbones with any core sampler (score function + σ grid in Å).

Samples of one length are generated together in batches of ``batch_size``; the initial state of
each batch is σ_max·N(0, I) projected onto the zero-CA-centroid slice.  Every batch has its own
generator seeded from ``(seed, length, batch index)``, so the same seed gives the same backbones
whatever else is sampled in the run — guided and unguided designs from the same seeds start from the
same noise.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from proteindsm.core.sampler_base import Sampler, prior_sample
from proteindsm.core.types import ScoreFn

from proteindsm.protein.structure.domain import project_zero_ca_centroid


@dataclass
class SampledBackbone:
    """One generated backbone: ``coords`` float32 ``(L, 4, 3)`` Å (N, CA, C, O); ``trajectory``
    ``(T, L, 4, 3)`` of the states after each σ level (initial noise first) when asked for;
    ``seconds``: wall time of its batch divided by the batch size; ``ss``: the secondary-structure
    tokens ``(L,)`` it was conditioned on (None: unconditional); ``pairs``: the strand pairs it was
    conditioned on (``"1:2/2:3"``, strand segments of ``ss`` from 1; ``""``: none pair; None: not
    given); ``remarks``: the provenance lines
    written into its PDB/mmCIF file (generator, checkpoint, sampler, seed; set by
    :mod:`proteindsm.protein.generate`)."""

    length: int
    index: int
    coords: np.ndarray
    seconds: float
    trajectory: Optional[np.ndarray] = None
    ss: Optional[np.ndarray] = None
    pairs: Optional[str] = None
    remarks: Optional[list] = field(default=None, repr=False)

    @property
    def ss_string(self) -> Optional[str]:
        """The conditioning secondary structure as a string over H/E/L (``-`` unspecified), or None."""
        if self.ss is None:
            return None
        from proteindsm.protein.data.secondary_structure import tokens_to_string
        return tokens_to_string(self.ss)

    @property
    def name(self) -> str:
        """The file stem ``proteindsm sample`` gives it: ``len<L>_<index>``."""
        return f"len{self.length}_{self.index:03d}"

    @property
    def metadata(self) -> dict:
        """``{"length", "index", "seconds", "ss"?, "pairs"?}`` (as in the manifest of ``proteindsm sample``)."""
        return {"length": self.length, "index": self.index, "seconds": round(self.seconds, 3),
                **({} if self.ss is None else {"ss": self.ss_string}),
                **({} if self.pairs is None else {"pairs": self.pairs})}

    def write(self, path: str | os.PathLike, *, trajectory: bool = False):
        """Write the backbone as PDB (``.pdb``) or mmCIF (``.cif``) by the suffix, with its
        ``remarks`` (HEADER/REMARK records, TER, END); ``trajectory``: the denoising path instead
        (multi-model).  Returns the path."""
        from proteindsm.protein.data.io import write_structure

        if trajectory:
            if self.trajectory is None:
                raise ValueError("this backbone was sampled without its trajectory (save_trajectory=True)")
            return write_structure(path, list(self.trajectory), remarks=self.remarks)
        return write_structure(path, self.coords, remarks=self.remarks)


def batch_generator(seed: int, length: int, batch_index: int, device: torch.device) -> torch.Generator:
    """The generator of one batch, a function of ``(seed, length, batch_index)`` only."""
    g = torch.Generator(device=device)
    g.manual_seed((int(seed) * 1_000_003 + int(length) * 7_919 + int(batch_index)) % (2**63 - 1))
    return g


BatchJob = tuple  # (length, batch index, first backbone index, backbones in the batch)


def batch_jobs(counts: Mapping[int, int], batch_size: int) -> list[BatchJob]:
    """The batches of a run in order: ``(L, b, start, n)`` for ``counts = {L: backbones}``."""
    return [(L, b, b * batch_size, min(batch_size, count - b * batch_size))
            for L, count in counts.items() for b in range((count + batch_size - 1) // batch_size)]


class _CountingScore:
    """``score_fn`` that advances a progress bar by one per network evaluation."""

    def __init__(self, score_fn: ScoreFn, bar) -> None:
        self.score_fn, self.bar = score_fn, bar

    def __call__(self, x, sigma, cond=None):
        out = self.score_fn(x, sigma, cond)
        self.bar.update(1)
        return out


def sample_backbones(score_fn: ScoreFn, lengths: Sequence[int], num_per_length: int | Mapping[int, int],
                     sampler: Sampler, sigmas: torch.Tensor, *, seed: int = 0, batch_size: int = 8,
                     device: torch.device | str = "cpu", return_trajectory: bool = False,
                     progress: bool = True,
                     ss_layout: Optional[Callable[[int, int], Optional[np.ndarray]]] = None,
                     ideal_output: bool = False,
                     on_batch: Optional[Callable[[list[SampledBackbone]], None]] = None,
                     skip: Optional[Callable[[int, int], bool]] = None) -> list[SampledBackbone]:
    """Generate ``num_per_length`` backbones for each length in ``lengths``.

    Args:
        score_fn: ``(x (B, L, 4, 3), σ (B,), cond={"mask": (B, L), "sample_index": (B,)}) -> score``;
            ``sample_index`` is each row's backbone number within its length (0 … num_per_length − 1),
            for guidance that differs per backbone (e.g. per-backbone sheet blueprints).
        num_per_length: backbones per length, or ``{length: backbones}`` (then ``lengths`` gives
            the order).
        sampler: any core sampler (annealed Langevin, reverse SDE / PC, probability-flow ODE).
        sigmas: descending σ grid in Å; ``sigmas[0]`` scales the initial noise.
        progress: one bar over the network evaluations of the whole run (with its ETA).
        ss_layout: optional ``(length, index) -> tokens (length,) | PairedLayout | None``: the
            secondary-structure labels of each backbone (:mod:`proteindsm.protein.data.secondary_structure`),
            passed to the score function as ``cond["ss"]`` long ``(B, L)``, and with a
            :class:`~proteindsm.protein.data.strand_pairing.PairedLayout` which strands pair, as
            ``cond["ss_pairs"]`` long ``(B, L, L)``.
        ideal_output: replace each final backbone by the nearest ideal-geometry chain
            (:func:`proteindsm.protein.structure.ideal_fit.fit_ideal_backbone`: ideal residues superposed
            on the sampled ones, then moved rigidly to close the peptide bonds; exact N–CA, CA–C, C=O and
            the N–CA–C / CA–C=O angles in every residue, chain ends included).
        on_batch: called with the backbones of each batch as soon as it is done (e.g. to write them).
        skip: ``(length, batch index) -> bool``: batches to leave out (already written by an
            interrupted run); the others are unchanged, since each batch's noise depends only on
            ``(seed, length, batch index)``.
    Returns:
        backbones in order of ``lengths`` then index (skipped batches left out).
    """
    device = torch.device(device)
    sigmas = sigmas.to(device)
    counts = ({L: int(num_per_length[L]) for L in lengths} if isinstance(num_per_length, Mapping)
              else {L: int(num_per_length) for L in lengths})
    jobs = [j for j in batch_jobs(counts, batch_size) if skip is None or not skip(j[0], j[1])]
    out: list[SampledBackbone] = []
    per_batch = sampler.num_evaluations(sigmas)
    bar = tqdm(total=per_batch * len(jobs), desc="sampling", unit="eval", disable=not progress,
               dynamic_ncols=True)
    counted = _CountingScore(score_fn, bar) if progress else score_fn
    try:
        for k, (L, b, start, n) in enumerate(jobs):
            bar.set_postfix_str(f"batch {k + 1}/{len(jobs)}, L={L}")
            batch = _sample_batch(counted, sampler, sigmas, L, b, start, n, seed, device, return_trajectory,
                                  ss_layout, ideal_output)
            bar.n = per_batch * (k + 1)   # the bar stays exact if a sampler evaluates more or less
            bar.refresh()
            out += batch
            if on_batch is not None:
                on_batch(batch)
    finally:
        bar.close()
    return out


def _sample_batch(score_fn: ScoreFn, sampler: Sampler, sigmas: torch.Tensor, L: int, b: int, start: int,
                  n: int, seed: int, device: torch.device, return_trajectory: bool,
                  ss_layout, ideal_output: bool) -> list[SampledBackbone]:
    """One batch of ``n`` backbones of length ``L`` (backbone numbers ``start`` …)."""
    g = batch_generator(seed, L, b, device)
    mask = torch.ones(n, L, dtype=torch.bool, device=device)
    x0 = prior_sample((n, L, 4, 3), float(sigmas[0]), mask=mask, project=project_zero_ca_centroid,
                      generator=g, device=device)
    t0 = time.perf_counter()
    index = torch.arange(start, start + n, device=device)   # backbone numbers
    cond = {"mask": mask, "sample_index": index}
    layouts = [None] * n
    if ss_layout is not None:
        from proteindsm.protein.data.strand_pairing import PAIR_UNKNOWN, as_layout

        layouts = [as_layout(ss_layout(L, start + i)) for i in range(n)]
        if any(t is not None for t in layouts):
            from proteindsm.protein.data.secondary_structure import SS_UNKNOWN
            ss = np.full((n, L), SS_UNKNOWN, dtype=np.int64)
            for i, t in enumerate(layouts):
                if t is not None:
                    ss[i] = t.tokens
            cond["ss"] = torch.from_numpy(ss).to(device)
        if any(t is not None and t.pairs is not None for t in layouts):
            pairs = np.full((n, L, L), PAIR_UNKNOWN, dtype=np.int64)
            for i, t in enumerate(layouts):
                if t is not None and t.pairs is not None:
                    pairs[i] = t.pair_tokens()
            cond["ss_pairs"] = torch.from_numpy(pairs).to(device)
    res = sampler.sample(score_fn, x0, sigmas, mask=mask, cond=cond,
                         project=project_zero_ca_centroid, generator=g,
                         return_trajectory=return_trajectory, progress=False)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    per = (time.perf_counter() - t0) / n
    x = res.x.detach()
    if ideal_output:
        from proteindsm.protein.structure.ideal_fit import fit_ideal_backbone
        x = fit_ideal_backbone(x, mask)
    x = x.float().cpu().numpy()
    traj = torch.stack(res.trajectory, 1).float().cpu().numpy() if res.trajectory is not None else None
    return [SampledBackbone(length=L, index=start + i, coords=x[i], seconds=per,
                            trajectory=None if traj is None else traj[i],
                            ss=None if layouts[i] is None else layouts[i].tokens,
                            pairs=None if layouts[i] is None else layouts[i].pairs_text) for i in range(n)]
