"""Noise-conditional property predictors p(y | x_σ, σ) for classifier guidance.

A predictor reads a *noised* backbone ``x`` ``(B, L, 4, 3)`` (Å, atoms N, CA, C, O), the noise level
``sigma`` ``(B,)`` (Å) and ``cond = {"mask": (B, L) bool}``, and returns

* regression (helix / strand fraction, Rg / L^0.4, ...): ``(B,)`` the predicted property in its own
  units (the network predicts a standardised value; the label mean / std are part of its config);
* classification (fold class): ``(B, C)`` logits.

It is the ``predictor`` / ``classifier`` of :class:`proteindsm.core.RegressionGuidance` /
:class:`proteindsm.core.ClassifierGuidance`, evaluated with autograd at every sampling step, so it
is small and cheap on a CPU (~60 k parameters; forward + backward of 16 x 100 residues ≈ 10 ms).

Input features (all SE(3)-invariant: built from distances only)
-----------------------------------------------------------------
Per residue ``i``:

* ``log(|CA_i − CA_{i+k}| / 5 Å)`` for k = 1..8 and a flag that ``i + k`` exists (local
  geometry: 3-4 Å steps in a strand, 5-6 Å at k = 3-4 in a helix);
* ``log(|O_i − N_{i+k}| / 3 Å)`` for k = 2..5;
* a differentiable DSSP (:func:`proteindsm.protein.structure.soft_dssp.soft_hbond_map`, ``ramp="sigmoid"``:
  Kabsch–Sander electrostatic H-bond energy with pydssp's hydrogen placement,
  ``sigmoid((−0.5 − E) / 0.25)``): the n-turns C=O(i)···H-N(i+n) for
  n = 3, 4, 5 and two consecutive turns (DSSP's minimal helix), non-local (|i − j| ≥ 6) H-bond counts
  as acceptor and donor, and soft counts of DSSP parallel / antiparallel bridges (β-ladders) —
  so the guidance gradient asks for real DSSP H-bonds, not just short O···N distances;
* soft counts of non-local (``|i − j| ≥ 3``) CA neighbours within 6, 8, 10, 14 Å
  (``Σ_j sigmoid((r − d_ij) / 1 Å)``, as ``log1p``) and the distance of CA_i to the centroid over
  Rg (burial);
* broadcast global features: ``log(Rg / L^0.4 / 2.2 Å)``, ``log L / 5``, and the σ embedding
  (``c = log σ / 4`` and sin/cos of ``c`` at four frequencies).

Distances are reflection-invariant too, which is fine for these properties (DSSP and Rg do not
see handedness; the score model supplies the chirality).

Network
-------
``Linear(features → H)`` → dilated residual 1-D conv blocks over the sequence (pre-LayerNorm,
kernel 5, dilations 1, 2, 4, ...; padding masked) → masked mean over residues → concatenated with
the global features → MLP → output.  Padding residues never influence real ones.

Training: :class:`PropertyObjective` (noise drawn log-uniformly on the score model's σ range,
projected onto the zero-CA-centroid slice like the score model's noise; MSE or cross-entropy) with
the core :class:`~proteindsm.core.Trainer`; labels are exact properties of the clean corpus chains
(:mod:`proteindsm.protein.structure.properties`), computed once and cached (:func:`load_or_compute_labels`).
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from proteindsm.core.schedules import GeometricSchedule
from proteindsm.core.types import Batch, LossOutput, apply_mask
from proteindsm.errors import InputError

from proteindsm.protein.structure.backbone import CA, N, O
from proteindsm.protein.data.batching import BackboneBatches
from proteindsm.protein.data.corpus import Corpus
from proteindsm.protein.structure.domain import project_zero_ca_centroid
from proteindsm.protein.structure.geometry import distances_to_centroid, radius_of_gyration
from proteindsm.protein.structure.soft_dssp import smooth_distance, soft_hbond_map

__all__ = [
    "PropertyPredictor", "PREDICTOR_MODELS", "PREDICTABLE", "PredictableProperty", "PropertyObjective",
    "residue_features", "global_features", "FEATURE_VERSION", "LabelledBackboneBatches", "labelled_validation_batches",
    "load_or_compute_labels", "evaluate_predictor", "RESIDUE_LABELS", "NUM_RESIDUE_FEATURES", "NUM_GLOBAL_FEATURES",
]

CA_SEPARATIONS = tuple(range(1, 9))          # CA(i)-CA(i+k)
ON_SEPARATIONS = (2, 3, 4, 5)                # O(i)-N(i+k)
TURN_SEPARATIONS = (3, 4, 5)                 # DSSP n-turns: C=O(i) ··· H-N(i+n)
NEIGHBOUR_RADII = (6.0, 8.0, 10.0, 14.0)     # Å, non-local CA counts
NONLOCAL_MIN_SEPARATION = 3
HBOND_CUTOFF, HBOND_WIDTH = -0.5, 0.25       # kcal/mol: DSSP's E < -0.5, smoothed by a sigmoid
SIGMA_FREQUENCIES = (0.5, 1.0, 2.0, 4.0)     # × π, on c = log σ / 4
FEATURE_VERSION = 2
NUM_RESIDUE_FEATURES = (2 * len(CA_SEPARATIONS) + len(ON_SEPARATIONS) + 2 * len(TURN_SEPARATIONS)
                        + len(NEIGHBOUR_RADII) + 2 + 2 + 1)
NUM_GLOBAL_FEATURES = 2 + 1 + 2 * len(SIGMA_FREQUENCIES)


# ----------------------------------------------------------------------------------------------
# what can be predicted
@dataclass(frozen=True)
class PredictableProperty:
    """A property with a learned predictor: ``task`` is ``"regression"`` or ``"classification"``
    (``num_classes`` > 1); ``label`` names the column of :func:`load_or_compute_labels`."""

    name: str
    task: str
    num_classes: int = 1
    class_names: tuple[str, ...] = ()


PREDICTABLE: dict[str, PredictableProperty] = {
    "helix_fraction": PredictableProperty("helix_fraction", "regression"),
    "strand_fraction": PredictableProperty("strand_fraction", "regression"),
    "rg_normalised": PredictableProperty("rg_normalised", "regression"),
    "contact_order": PredictableProperty("contact_order", "regression"),
    "fold_class": PredictableProperty("fold_class", "classification", 3,
                                      ("mainly-alpha", "mainly-beta", "alpha+beta/other")),
}


# ----------------------------------------------------------------------------------------------
# features
def _shifted_pair(a: Tensor, b: Tensor, k: int, m: Tensor) -> tuple[Tensor, Tensor]:
    """``|a_i − b_{i+k}|`` ``(B, L)`` (0 where ``i + k`` is outside the chain) and its validity."""
    B, L = m.shape
    d = torch.zeros(B, L, dtype=a.dtype, device=a.device)
    valid = torch.zeros(B, L, dtype=a.dtype, device=a.device)
    if k < L:
        d = torch.cat([smooth_distance(a[:, :-k], b[:, k:]), d[:, L - k:]], dim=1)
        valid = torch.cat([m[:, :-k] * m[:, k:], valid[:, L - k:]], dim=1)
    return d, valid


def _shift2(M: Tensor, di: int, dj: int) -> Tensor:
    """``out[b, i, j] = M[b, i + di, j + dj]`` (0 outside), for ``|di|, |dj| <= 1``."""
    L = M.shape[-1]
    P = F.pad(M, (1, 1, 1, 1))
    return P[:, 1 + di: 1 + di + L, 1 + dj: 1 + dj + L]


def residue_features(x: Tensor, mask: Tensor) -> Tensor:
    """Per-residue SE(3)-invariant features ``(B, L, NUM_RESIDUE_FEATURES)``, 0 at padding.

    Args:
        x: ``(B, L, 4, 3)`` backbone (noised or clean) in Å.
        mask: bool ``(B, L)``.
    """
    m = mask.to(x.dtype)
    ca, n, o = x[:, :, CA], x[:, :, N], x[:, :, O]
    feats = []
    for k in CA_SEPARATIONS:
        d, valid = _shifted_pair(ca, ca, k, m)
        feats += [torch.log(d.clamp_min(1e-3) / 5.0) * valid, valid]
    for k in ON_SEPARATIONS:
        d, valid = _shifted_pair(o, n, k, m)
        feats.append(torch.log(d.clamp_min(1e-3) / 3.0) * valid)
    hb = soft_hbond_map(x, mask, HBOND_CUTOFF, ramp="sigmoid", width=HBOND_WIDTH)  # (B, L, L) acceptor i, donor j
    for k in TURN_SEPARATIONS:                                              # DSSP n-turn at i, and two in a row
        turn = torch.diagonal(hb, offset=k, dim1=1, dim2=2)                 # (B, L - k)
        turn = F.pad(turn, (0, k))
        feats += [turn, turn * F.pad(turn[:, :-1], (1, 0))]
    L = x.shape[1]
    idx = torch.arange(L, device=x.device)
    sep = ((idx[None, :] - idx[:, None]).abs() >= NONLOCAL_MIN_SEPARATION).to(x.dtype)
    pair = sep[None] * m[:, :, None] * m[:, None, :]                         # (B, L, L)
    d_ca = smooth_distance(ca[:, :, None], ca[:, None, :])
    for r in NEIGHBOUR_RADII:
        feats.append(torch.log1p((torch.sigmoid(r - d_ca) * pair).sum(-1)))
    # non-local H-bonds (|i-j| >= 6: beyond helical turns) as acceptor and as donor
    far = ((idx[None, :] - idx[:, None]).abs() >= 6).to(x.dtype)[None]
    feats += [torch.log1p((hb * far).sum(-1)), torch.log1p((hb * far).sum(-2))]
    # DSSP bridges (Kabsch & Sander): parallel Hb(i-1,j)Hb(j,i+1) + Hb(j-1,i)Hb(i,j+1);
    # antiparallel Hb(i,j)Hb(j,i) + Hb(i-1,j+1)Hb(j-1,i+1)
    hbt = hb.transpose(1, 2)
    par = _shift2(hb, -1, 0) * _shift2(hbt, 1, 0) + _shift2(hbt, 0, -1) * _shift2(hb, 0, 1)
    anti = hb * hbt + _shift2(hb, -1, 1) * _shift2(hbt, 1, -1)
    feats += [torch.log1p((par * pair).sum(-1)), torch.log1p((anti * pair).sum(-1))]
    rg = radius_of_gyration(x, m, eps=1e-6)                                 # CA Rg (B,), Å
    feats.append(distances_to_centroid(x, m, eps=1e-6) / rg[:, None])
    return torch.stack(feats, -1) * m[..., None]


def global_features(x: Tensor, mask: Tensor, sigma: Tensor) -> Tensor:
    """``(B, NUM_GLOBAL_FEATURES)``: log(Rg / L^0.4 / 2.2 Å), log L / 5, σ embedding."""
    m = mask.to(x.dtype)
    length = m.sum(1).clamp_min(1.0)
    rg = radius_of_gyration(x, m, eps=1e-6)
    c = torch.log(sigma.to(x.dtype)) / 4.0
    freqs = torch.tensor(SIGMA_FREQUENCIES, dtype=x.dtype, device=x.device) * math.pi
    emb = [c[:, None], torch.sin(c[:, None] * freqs), torch.cos(c[:, None] * freqs)]
    return torch.cat([torch.log(rg / length ** 0.4 / 2.2)[:, None], (torch.log(length) / 5.0)[:, None]] + emb, -1)


# ----------------------------------------------------------------------------------------------
# network
class _ConvBlock(nn.Module):
    def __init__(self, hidden: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.conv = nn.Conv1d(hidden, hidden, kernel_size, dilation=dilation,
                              padding=dilation * (kernel_size - 1) // 2)
        self.out = nn.Linear(hidden, hidden)

    def forward(self, h: Tensor, m: Tensor) -> Tensor:
        u = F.silu(self.norm(h)) * m[..., None]
        u = self.conv(u.transpose(1, 2)).transpose(1, 2)
        return h + self.out(F.silu(u)) * m[..., None]


class PropertyPredictor(nn.Module):
    """Noise-conditional property predictor ``(x (B, L, 4, 3), σ (B,), cond) -> (B,)`` (regression,
    property units) or ``(B, num_classes)`` logits (classification).  See the module docstring.

    Args:
        out_dim: 1 for regression, C for a C-way classifier.
        hidden: channels of the per-residue stream.
        dilations: one residual conv block per entry.
        kernel_size: odd conv kernel size.
        label_mean, label_std: regression output = label_mean + label_std · network output
            (``readout="pooled"``).
        readout: ``"pooled"`` — masked mean of the residue stream → MLP → output; or
            ``"residue_mean"`` (fractions of residues, e.g. helix fraction) — the same MLP per residue
            gives a probability p_i and the output is the masked mean of p_i, trained with per-residue
            labels too (``forward(..., per_residue=True)`` returns p ``(B, L)``).  The guidance
            gradient of a residue-mean predictor is a sum of local pulls toward the residue-level
            evidence (DSSP H-bonds), which keeps it from steering global shape instead.
    """

    def __init__(self, out_dim: int = 1, hidden: int = 64, dilations: Sequence[int] = (1, 2, 4, 1),
                 kernel_size: int = 5, label_mean: float = 0.0, label_std: float = 1.0,
                 feature_version: int = FEATURE_VERSION, readout: str = "pooled") -> None:
        super().__init__()
        if readout not in ("pooled", "residue_mean") or (readout == "residue_mean" and int(out_dim) != 1):
            raise InputError(f"PropertyPredictor: readout must be 'pooled' or 'residue_mean' (out_dim 1), "
                             f"got {readout!r} with out_dim {out_dim}")
        if int(feature_version) != FEATURE_VERSION:
            raise InputError(f"PropertyPredictor: this version computes input features v{FEATURE_VERSION}, "
                             f"the checkpoint was trained on v{feature_version}; retrain the predictor")
        if int(out_dim) < 1 or int(hidden) < 1 or kernel_size % 2 != 1 or not dilations:
            raise InputError("PropertyPredictor: out_dim, hidden must be >= 1, kernel_size odd, "
                             "dilations non-empty")
        if not (math.isfinite(label_std) and label_std > 0):
            raise InputError(f"PropertyPredictor: label_std must be positive, got {label_std}")
        self.config: dict[str, Any] = dict(out_dim=int(out_dim), hidden=int(hidden),
                                           dilations=[int(d) for d in dilations], kernel_size=int(kernel_size),
                                           label_mean=float(label_mean), label_std=float(label_std),
                                           feature_version=FEATURE_VERSION, readout=readout)
        self.out_dim = int(out_dim)
        self.readout = readout
        self.inp = nn.Linear(NUM_RESIDUE_FEATURES + NUM_GLOBAL_FEATURES, hidden)
        self.blocks = nn.ModuleList(_ConvBlock(hidden, kernel_size, int(d)) for d in dilations)
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Sequential(nn.Linear(hidden + NUM_GLOBAL_FEATURES, hidden), nn.SiLU(),
                                  nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, out_dim))
        self.register_buffer("label_mean", torch.tensor(float(label_mean)), persistent=False)
        self.register_buffer("label_std", torch.tensor(float(label_std)), persistent=False)

    def forward(self, x: Tensor, sigma: Tensor | float, cond: Optional[Mapping[str, Any]] = None,
                per_residue: bool = False) -> Tensor:
        """``(B,)`` prediction, ``(B, C)`` logits, or with ``per_residue`` (residue_mean readout
        only) the per-residue probabilities ``(B, L)`` (0 at padding)."""
        B, L = x.shape[:2]
        mask = None if cond is None else cond.get("mask")
        mask = torch.ones(B, L, dtype=torch.bool, device=x.device) if mask is None else mask.to(x.device).bool()
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
        if sigma.dim() == 0:
            sigma = sigma.expand(B)
        x = torch.where(mask[..., None, None], x, torch.zeros((), dtype=x.dtype, device=x.device))
        m = mask.to(x.dtype)
        g = global_features(x, mask, sigma)
        h = torch.cat([residue_features(x, mask), g[:, None].expand(B, L, g.shape[-1])], -1)
        h = self.inp(h) * m[..., None]
        for block in self.blocks:
            h = block(h, m)
        if self.readout == "residue_mean":
            logits = self.head(torch.cat([self.norm(h), g[:, None].expand(B, L, g.shape[-1])], -1))[..., 0]
            p = torch.sigmoid(logits) * m
            return p if per_residue else p.sum(1) / m.sum(1).clamp_min(1.0)
        if per_residue:
            raise InputError("PropertyPredictor: per_residue outputs need readout='residue_mean'")
        pooled = (self.norm(h) * m[..., None]).sum(1) / m.sum(1).clamp_min(1.0)[:, None]
        out = self.head(torch.cat([pooled, g], -1))
        if self.out_dim == 1:
            return self.label_mean + self.label_std * out[:, 0]
        return out


#: Allow-list of predictor classes a checkpoint may name (see :func:`proteindsm.protein.model.checkpoints.load_model`).
PREDICTOR_MODELS: dict[str, Callable[..., nn.Module]] = {"PropertyPredictor": PropertyPredictor}


# ----------------------------------------------------------------------------------------------
# objective
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


# ----------------------------------------------------------------------------------------------
# data
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
