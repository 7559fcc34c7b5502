"""Length-bucketed, deterministic training batches of backbones from a :class:`Corpus`.

``batch_for_step(step)`` is a pure function of ``(seed, step)`` so a resumed or data-parallel run
sees exactly the batches of an uninterrupted single-process run (see ``proteindsm.core.training``).

Each step picks one length bucket (with probability proportional to the number of chains in it),
then ``max(1, tokens_per_batch // bucket_length)`` chains from that bucket, so long chains come in
small batches and short ones in large batches at about the same cost.  With ``strand_weight`` = a > 0
a chain is drawn with weight ``1 + a * f_E`` instead (``f_E``: the share of its residues in DSSP
strand, E/B; buckets by their summed weight): strand-rich chains come more often.  For the labelled
rows this is an importance reweighting over chains by a function of their labels, so the conditional
target p(x | ss) is unchanged — the network just sees more β-sheet; the unlabelled rows (label
dropout) learn a correspondingly more β-rich unconditional distribution.  Chains longer than
``crop_length`` are cropped to a random contiguous window.  Every chain is re-centred on its CA
centroid (float32 Å); the batch is padded: ``x (B, L, 4, 3)``, ``mask (B, L)``.

With ``ss_labels`` the batch also carries ``cond["ss"]`` long ``(B, L)``: the 3-state tokens of the
corpus's DSSP codes (:mod:`proteindsm.protein.data.secondary_structure`), with training-time label dropout
(``ss_dropout``: the keyword arguments of
:func:`~proteindsm.protein.data.secondary_structure.drop_labels`) when the batch is random; padding is
unknown.

With ``strand_pairs`` (needs ``ss_labels``) the batch also carries ``cond["ss_pairs"]`` long
``(B, L, L)``: which strand segments pair (:func:`proteindsm.protein.data.strand_pairing.pair_tokens`
of the chain's real pairing, computed on the cropped window from the full labels), all unknown for a
chain with probability ``pairs_dropout`` and whenever the chain's labels were all dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch

from proteindsm.core.types import Batch
from proteindsm.errors import InputError

from proteindsm.protein.structure.backbone import CA
from proteindsm.protein.data.corpus import Corpus
from proteindsm.protein.data.secondary_structure import SS_STRAND, SS_UNKNOWN, dssp_to_tokens, drop_labels
from proteindsm.protein.data.strand_pairing import PAIR_UNKNOWN, PairedLayout, chain_layout


@dataclass
class BackboneBatches:
    """Callable ``step -> Batch`` over chains ``indices`` of ``corpus``.

    Args:
        corpus: the chains.
        indices: chain indices to draw from (e.g. ``corpus.indices("train")``).
        tokens_per_batch: residues per batch (before padding); batch size = tokens // bucket length.
        crop_length: longest window fed to the network (Å-free: residues).
        bucket_width: residues per length bucket.
        max_batch_size: cap on chains per batch.
        seed: base seed.
        ss_labels: add ``cond["ss"]`` (secondary-structure tokens) to every batch.
        ss_dropout: label-dropout rates for random batches (see the module docstring); None = the
            defaults of :func:`~proteindsm.protein.data.secondary_structure.drop_labels`.
        strand_pairs: add ``cond["ss_pairs"]`` (which strands pair) to every batch (with ``ss_labels``).
        pairs_dropout: probability that a random batch's chain gets no pairing (all unknown).
        strand_weight: a >= 0; chains drawn with weight ``1 + a * (their DSSP strand share)``
            (needs a corpus with ``dssp``); 0 = uniform, the same batches as before the option existed.
    """

    corpus: Corpus
    indices: np.ndarray
    tokens_per_batch: int = 2048
    crop_length: int = 256
    bucket_width: int = 16
    max_batch_size: int = 64
    seed: int = 0
    ss_labels: bool = False
    ss_dropout: Optional[dict] = None
    strand_pairs: bool = False
    pairs_dropout: float = 0.5
    strand_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.strand_pairs and not self.ss_labels:
            raise InputError("data.strand_pairs=true needs data.ss_labels=true (pairs are defined on the labels)")
        self.pairs_dropout = _data_number("pairs_dropout", self.pairs_dropout, 0.0, 1.0)
        self.strand_weight = _data_number("strand_weight", self.strand_weight, 0.0)
        for name, needed in (("ss_labels=true", self.ss_labels), ("strand_weight > 0", self.strand_weight > 0)):
            if needed and not self.corpus.has_dssp:
                raise InputError(f"data.{name} needs a corpus with a dssp field; {self.corpus.source} has none")
        self.indices = np.asarray(self.indices, dtype=np.int64)
        if self.indices.size == 0:
            raise InputError("no training chains: the chosen split is empty")
        if self.tokens_per_batch < 1 or self.crop_length < 2:
            raise InputError("data.tokens_per_batch must be >= 1 and data.crop_length >= 2")
        self._offsets = self.corpus.offsets
        lengths = np.minimum(self.corpus.lengths[self.indices], self.crop_length)
        keys = (lengths - 1) // self.bucket_width
        self._buckets = [self.indices[keys == k] for k in np.unique(keys)]
        self._bucket_len = np.array([min(self.crop_length, int(self.corpus.lengths[b].max())) for b in self._buckets])
        self._chain_p: Optional[list[np.ndarray]] = None   # within-bucket draw probabilities (None: uniform)
        if self.strand_weight > 0:
            weights = [1.0 + self.strand_weight * self.strand_shares(b) for b in self._buckets]
            mass = np.array([w.sum() for w in weights])
            self._p = mass / mass.sum()
            self._chain_p = [w / w.sum() for w in weights]
        else:
            counts = np.array([len(b) for b in self._buckets], dtype=np.float64)
            self._p = counts / counts.sum()

    def strand_shares(self, chain_indices: Sequence[int]) -> np.ndarray:
        """Share of each chain's residues in DSSP strand (E/B), float64 ``(len(chain_indices),)``;
        residues with unknown DSSP count as not strand."""
        out = np.zeros(len(chain_indices))
        for n, i in enumerate(chain_indices):
            start, length = int(self._offsets[i]), int(self.corpus.lengths[i])
            out[n] = float(np.mean(dssp_to_tokens(self.corpus.dssp[start: start + length]) == SS_STRAND))
        return out

    def _choose(self, step: int) -> tuple[np.ndarray, np.random.Generator]:
        rng = np.random.default_rng([self.seed, int(step)])
        k = rng.choice(len(self._buckets), p=self._p)
        size = int(np.clip(self.tokens_per_batch // self._bucket_len[k], 1, self.max_batch_size))
        p = None if self._chain_p is None else self._chain_p[k]
        chosen = rng.choice(self._buckets[k], size=size, replace=len(self._buckets[k]) < size, p=p)
        return chosen, rng

    def __call__(self, step: int) -> Batch:
        chosen, rng = self._choose(step)
        return self.make_batch(chosen, rng)

    def _sizes_for_step(self, step: int) -> int:
        """Residues (after cropping) in the batch of ``step``, without building it."""
        chosen, _ = self._choose(step)
        return int(np.minimum(self.corpus.lengths[chosen], self.crop_length).sum())

    def make_batch(self, chain_indices: Sequence[int], rng: Optional[np.random.Generator] = None) -> Batch:
        """Batch of the given chains (random crops when ``rng`` is given, else the first window)."""
        chains, labels, pairs = [], [], []
        for i in chain_indices:
            start, length = int(self._offsets[i]), int(self.corpus.lengths[i])
            off = 0
            if length > self.crop_length:
                off = int(rng.integers(0, length - self.crop_length + 1)) if rng is not None else 0
                length = self.crop_length
            xyz = self.corpus.coords[start + off: start + off + length]
            chains.append(xyz - xyz[:, CA].mean(0, keepdims=True))
            if self.ss_labels:
                tok = dssp_to_tokens(self.corpus.dssp[start + off: start + off + length])
                kept = drop_labels(tok, rng, **(self.ss_dropout or {})) if rng is not None else tok
                labels.append(kept)
                if self.strand_pairs:
                    drop = rng is not None and (bool(rng.random() < self.pairs_dropout)
                                                or bool((kept == SS_UNKNOWN).all()))
                    layout = PairedLayout(tok, None) if drop else chain_layout(xyz[:, CA], tok)
                    pairs.append(layout.pair_tokens())
        L = max(len(c) for c in chains)
        x = np.zeros((len(chains), L, 4, 3), dtype=np.float32)
        mask = np.zeros((len(chains), L), dtype=bool)
        for b, c in enumerate(chains):
            x[b, : len(c)] = c
            mask[b, : len(c)] = True
        cond = {}
        if self.ss_labels:
            ss = np.full((len(chains), L), SS_UNKNOWN, dtype=np.int64)
            for b, t in enumerate(labels):
                ss[b, : len(t)] = t
            cond["ss"] = torch.from_numpy(ss)
        if self.strand_pairs:
            pt = np.full((len(chains), L, L), PAIR_UNKNOWN, dtype=np.int64)
            for b, t in enumerate(pairs):
                pt[b, : len(t), : len(t)] = t
            cond["ss_pairs"] = torch.from_numpy(pt)
        return Batch(x=torch.from_numpy(x), mask=torch.from_numpy(mask), cond=cond)


def _data_number(field: str, value, low: float, high: float = math.inf) -> float:
    """``data.<field>`` as a finite float in [low, high]; one :class:`InputError` naming it otherwise."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if isinstance(value, bool) or not (math.isfinite(v) and low <= v <= high):
        bounds = f">= {low:g}" if high == math.inf else f"in [{low:g}, {high:g}]"
        raise InputError(f"data.{field} must be a number {bounds}, got {value!r}")
    return v


def validation_batches(corpus: Corpus, indices: np.ndarray, *, num_chains: int = 64, batch_size: int = 16,
                       crop_length: int = 256, seed: int = 0, ss_labels: bool = False,
                       strand_pairs: bool = False) -> list[Batch]:
    """A fixed list of validation batches (``num_chains`` chains from ``indices``, sorted by length
    so padding is small); with ``ss_labels`` they carry the full (not dropped) secondary structure,
    with ``strand_pairs`` also the chains' full strand pairing."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(indices, size=min(num_chains, len(indices)), replace=False)
    pick = pick[np.argsort(corpus.lengths[pick])]
    maker = BackboneBatches(corpus, pick, crop_length=crop_length, seed=seed, ss_labels=ss_labels,
                            strand_pairs=strand_pairs)
    return [maker.make_batch(pick[i: i + batch_size]) for i in range(0, len(pick), batch_size)]


def score_validation_sets(corpus: Corpus, indices: np.ndarray, schedule, *, num_chains: int = 64,
                          crop_length: int = 256, ss_labels: bool = False, self_conditioning: bool = False,
                          num_sigmas: int = 8, strand_pairs: bool = False) -> list:
    """The validation sets of score-model training (one definition for ``proteindsm train`` and the
    scripts that compare checkpoints):

    * ``val``: plain DSM at ``num_sigmas`` fixed σ, no labels, no self-conditioning — comparable with
      any model, conditioned or not;
    * ``val_cond`` (only with ``ss_labels`` or ``self_conditioning``): the same chains with their full
      secondary-structure labels (and strand pairing, with ``strand_pairs``) and, with
      ``self_conditioning``, a self-conditioning pass on every row.
    """
    from proteindsm.core import DSMObjective, ValidationSet

    from proteindsm.protein.structure.domain import project_zero_ca_centroid

    sigmas = schedule.validation_sigmas(num_sigmas)
    sets = [ValidationSet(validation_batches(corpus, indices, num_chains=num_chains, crop_length=crop_length),
                          sigmas, objective=DSMObjective(schedule, project=project_zero_ca_centroid))]
    if ss_labels or self_conditioning:
        sets.append(ValidationSet(
            validation_batches(corpus, indices, num_chains=num_chains, crop_length=crop_length, ss_labels=ss_labels,
                               strand_pairs=strand_pairs),
            sigmas, objective=DSMObjective(schedule, project=project_zero_ca_centroid,
                                           self_conditioning_rate=1.0 if self_conditioning else 0.0),
            name="val_cond"))
    return sets
