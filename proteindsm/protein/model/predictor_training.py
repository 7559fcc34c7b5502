"""Training a property predictor: the objective, its evaluation, labelled batches and the exact labels.

:class:`PropertyObjective` (noise drawn log-uniformly on the score model's σ range in Å, projected
onto the zero-CA-centroid slice like the score model's noise; MSE in property units² or
cross-entropy) runs in the core :class:`~proteindsm.core.Trainer`; :func:`evaluate_predictor` gives
the error per σ.  :class:`LabelledBackboneBatches` / :func:`labelled_validation_batches` are corpus
batches (``x`` ``(B, L, 4, 3)`` Å, mask ``(B, L)``) with ``target`` ``(B,)`` and, for residue-mean
predictors, ``cond["residue_target"]`` ``(B, L)``.  The labels are exact properties of the clean
corpus chains (:mod:`proteindsm.protein.structure.properties`), computed once and cached
(:func:`load_or_compute_labels`).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from proteindsm.core.schedules import GeometricSchedule
from proteindsm.core.types import Batch, LossOutput, apply_mask
from proteindsm.errors import InputError
from proteindsm.protein.data.batching import BackboneBatches
from proteindsm.protein.data.corpus import Corpus
from proteindsm.protein.model.predictors import PREDICTABLE
from proteindsm.protein.structure.domain import project_zero_ca_centroid

__all__ = ["LabelledBackboneBatches", "PropertyObjective", "RESIDUE_LABELS", "evaluate_predictor",
           "labelled_validation_batches", "load_or_compute_labels"]


@dataclass
class PropertyObjective:
    """Training objective of a noise-conditional predictor (core ``Objective`` protocol).

    ``draw``: σ log-uniform on ``schedule`` (the score model's σ range) and standard normal noise.
    Loss per chain at x̃ = x + σ·project(ε): ``(f(x̃, σ) − y)²`` (regression, property units²) or
    cross-entropy (classification) against ``batch.target``.  When the batch carries per-residue
    labels ``batch.cond["residue_target"]`` ``(B, L)`` in [0, 1] (residue-mean predictors), the
    chain value is the mean of the per-residue probabilities and ``residue_weight`` × their mean
    binary cross-entropy is added.
    """

    schedule: GeometricSchedule
    task: str = "regression"
    residue_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.task not in ("regression", "classification"):
            raise InputError(f"PropertyObjective.task must be 'regression' or 'classification', got {self.task!r}")

    def draw(self, batch: Batch, generator: torch.Generator) -> dict[str, Tensor]:
        sigma = self.schedule.sample_training_sigmas(len(batch), generator)
        noise = torch.randn(batch.x.shape, generator=generator, dtype=torch.float32)
        return {"sigma": sigma, "noise": noise}

    def noised(self, batch: Batch, draw: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """``(x̃, σ)`` on the batch's device."""
        sigma = draw["sigma"].to(batch.x.device, batch.x.dtype)
        eps = project_zero_ca_centroid(apply_mask(draw["noise"].to(batch.x), batch.mask), batch.mask)
        return batch.x + sigma[:, None, None, None] * eps, sigma

    def __call__(self, model: nn.Module, batch: Batch, draw: Mapping[str, Tensor]) -> LossOutput:
        if batch.target is None:
            raise InputError("PropertyObjective needs batches with a target (property labels)")
        x, sigma = self.noised(batch, draw)
        cond = batch.network_cond()
        residue_target = cond.pop("residue_target", None)
        if residue_target is not None and self.task == "regression":
            p = model(x, sigma, cond, per_residue=True)
            m = batch.mask.to(p) if batch.mask is not None else torch.ones_like(p)
            n = m.sum(1).clamp_min(1.0)
            pred = p.sum(1) / n
            bce = F.binary_cross_entropy(p.clamp(1e-6, 1 - 1e-6), residue_target.to(p), reduction="none")
            loss = (pred - batch.target.to(pred)).pow(2) + self.residue_weight * (bce * m).sum(1) / n
            return LossOutput(loss=loss, sigma=sigma)
        pred = model(x, sigma, cond)
        if self.task == "regression":
            loss = (pred - batch.target.to(pred)).pow(2)
        else:
            loss = F.cross_entropy(pred, batch.target.long(), reduction="none")
        return LossOutput(loss=loss, sigma=sigma)


@torch.no_grad()
def evaluate_predictor(model: nn.Module, objective: PropertyObjective, batches: Sequence[Batch],
                       sigmas: Sequence[float], seed: int = 1234) -> dict[str, dict[str, float]]:
    """Error per σ bucket with fixed noise: ``{f"{σ:.4g}": {"rmse", "mae"} | {"accuracy", "ce"}}``
    (regression errors in property units)."""
    out: dict[str, dict[str, float]] = {}
    device = next(model.parameters()).device
    for j, s in enumerate(sigmas):
        preds, targets = [], []
        for b, batch in enumerate(batches):
            draw = objective.draw(batch, torch.Generator().manual_seed(seed + 100_003 * b + j))
            draw["sigma"] = torch.full_like(draw["sigma"], float(s))
            bd = batch.to(device)
            x, sig = objective.noised(bd, draw)
            cond = bd.network_cond()
            cond.pop("residue_target", None)
            preds.append(model(x, sig, cond).cpu())
            targets.append(batch.target.cpu())
        p, t = torch.cat(preds), torch.cat(targets)
        if objective.task == "regression":
            err = p - t.to(p)
            out[f"{float(s):.4g}"] = {"rmse": float(err.pow(2).mean().sqrt()), "mae": float(err.abs().mean())}
        else:
            out[f"{float(s):.4g}"] = {"accuracy": float((p.argmax(1) == t.long()).float().mean()),
                                      "ce": float(F.cross_entropy(p, t.long()))}
    return out


@dataclass
class LabelledBackboneBatches(BackboneBatches):
    """:class:`~proteindsm.protein.data.batching.BackboneBatches` whose batches carry ``target =
    labels[chain]`` (``labels`` indexed by corpus chain).  Labels are properties of the *whole*
    chain, so chains longer than ``crop_length`` are refused (nothing may be cropped).  With
    ``residue_labels`` (one value per corpus residue, aligned with ``corpus.coords``) the batch also
    carries ``cond["residue_target"]`` ``(B, L)`` float32 (0 at padding)."""

    labels: Optional[np.ndarray] = None
    residue_labels: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.labels is None or len(self.labels) != len(self.corpus):
            raise InputError("LabelledBackboneBatches: labels must have one entry per corpus chain")
        too_long = int((self.corpus.lengths[self.indices] > self.crop_length).sum())
        if too_long:
            raise InputError(f"{too_long} chains are longer than data.crop_length={self.crop_length}: property "
                             f"labels are for whole chains, so raise crop_length or drop those chains")

    def __call__(self, step: int) -> Batch:
        rng = np.random.default_rng([self.seed, int(step)])
        k = rng.choice(len(self._buckets), p=self._p)
        size = int(np.clip(self.tokens_per_batch // self._bucket_len[k], 1, self.max_batch_size))
        chosen = rng.choice(self._buckets[k], size=size, replace=len(self._buckets[k]) < size)
        return self.labelled_batch(chosen)

    def labelled_batch(self, chain_indices: Sequence[int]) -> Batch:
        batch = self.make_batch(chain_indices)
        batch.target = torch.as_tensor(np.asarray(self.labels)[np.asarray(chain_indices)])
        if self.residue_labels is not None:
            r = torch.zeros(batch.x.shape[:2], dtype=torch.float32)
            for b, i in enumerate(chain_indices):
                start, n = int(self._offsets[i]), int(self.corpus.lengths[i])
                r[b, :n] = torch.as_tensor(np.asarray(self.residue_labels[start: start + n], dtype=np.float32))
            batch.cond["residue_target"] = r
        return batch


def labelled_validation_batches(corpus: Corpus, indices: np.ndarray, labels: np.ndarray, *,
                                num_chains: Optional[int] = None, batch_size: int = 32,
                                crop_length: int = 256, seed: int = 0,
                                residue_labels: Optional[np.ndarray] = None) -> list[Batch]:
    """Fixed validation batches (``num_chains`` of ``indices``, all if None; sorted by length)."""
    indices = np.asarray(indices, dtype=np.int64)
    if num_chains is not None and num_chains < len(indices):
        indices = np.random.default_rng(seed).choice(indices, size=num_chains, replace=False)
    indices = indices[np.argsort(corpus.lengths[indices], kind="stable")]
    maker = LabelledBackboneBatches(corpus, indices, crop_length=crop_length, seed=seed, labels=labels,
                                    residue_labels=residue_labels)
    return [maker.labelled_batch(indices[i: i + batch_size]) for i in range(0, len(indices), batch_size)]


def _corpus_fingerprint(corpus: Corpus) -> str:
    h = hashlib.blake2b(digest_size=8)
    h.update(np.ascontiguousarray(corpus.lengths).tobytes())
    h.update("\n".join(corpus.ids.tolist()).encode())
    return h.hexdigest()


RESIDUE_LABELS = {"helix_fraction": b"H", "strand_fraction": b"E"}
"""Per-residue labels of the residue-mean predictors: the 3-state DSSP letter counted by the fraction."""


def load_or_compute_labels(corpus: Corpus, cache: Optional[str | os.PathLike] = None,
                           progress: bool = True) -> dict[str, np.ndarray]:
    """Exact labels of every corpus chain: ``{name: (C,) float64}`` for every :data:`PREDICTABLE`
    property, ``length`` ``(C,)`` and ``residue_ss`` ``S1 (R,)`` (pydssp 3-state letter of every
    corpus residue, aligned with ``corpus.coords``).

    One pydssp pass per chain (:func:`proteindsm.protein.structure.properties.secondary_structure`; the same
    definitions as :func:`~proteindsm.protein.structure.properties.compute_properties`), ~90 s for the 10,543
    shared chains on one core; cached in ``cache`` (.npz with the corpus fingerprint, so a cache of
    another corpus is recomputed, never silently reused).
    """
    from tqdm.auto import tqdm

    from proteindsm.fileio import atomic_write_with

    from proteindsm.protein.structure.properties import property_value, secondary_structure, ss_fractions

    names = list(PREDICTABLE)
    keys = names + ["length", "residue_ss"]
    fp = _corpus_fingerprint(corpus)
    path = Path(cache) if cache else None
    if path is not None and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as d:
                if str(d["fingerprint"]) == fp and all(k in d.files for k in keys):
                    return {k: np.asarray(d[k]) for k in keys}
        except (OSError, ValueError, KeyError):
            pass                                     # unreadable or stale cache: recompute
    offsets = corpus.offsets
    rows: dict[str, list] = {n: [] for n in names}
    residue_ss = np.full(corpus.n_residues, b"C", dtype="S1")
    for i in tqdm(range(len(corpus)), desc="property labels", unit="chain", disable=not progress):
        X = corpus.coords[offsets[i]: offsets[i + 1]].astype(np.float64)
        ss = secondary_structure(X)
        residue_ss[offsets[i]: offsets[i + 1]] = np.frombuffer(ss.encode(), dtype="S1")
        f = ss_fractions(ss)
        for n in names:
            rows[n].append(property_value(n, X, f))
    labels = {n: np.asarray(v, dtype=np.float64) for n, v in rows.items()}
    labels["length"] = corpus.lengths.astype(np.int64)
    labels["residue_ss"] = residue_ss
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)

        def write(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, fingerprint=np.array(fp), ids=corpus.ids, **labels)
        atomic_write_with(path, write)
    return labels
