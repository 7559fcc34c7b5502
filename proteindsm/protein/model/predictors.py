"""Noise-conditional property predictors p(y | x_σ, σ) for classifier guidance.

A predictor reads a *noised* backbone ``x`` ``(B, L, 4, 3)`` (Å, atoms N, CA, C, O), the noise level
``sigma`` ``(B,)`` (Å) and ``cond = {"mask": (B, L) bool}``, and returns

* regression (helix / strand fraction, Rg / L^0.4, ...): ``(B,)`` the predicted property in its own
  units (the network predicts a standardised value; the label mean / std are part of its config);
* classification (fold class): ``(B, C)`` logits.

It is the ``predictor`` / ``classifier`` of :class:`proteindsm.core.RegressionGuidance` /
:class:`proteindsm.core.ClassifierGuidance`, evaluated with autograd at every sampling step, so it
is small and cheap on a CPU (~60 k parameters; forward + backward of 16 x 100 residues ≈ 10 ms).

Input features (SE(3)-invariant, from distances only) are in
:mod:`proteindsm.protein.model.predictor_features`: per residue local CA–CA / O–N distances, a
differentiable DSSP, neighbour counts and burial; broadcast Rg / L^0.4, L and the σ embedding.

Network
-------
``Linear(features → H)`` → dilated residual 1-D conv blocks over the sequence (pre-LayerNorm,
kernel 5, dilations 1, 2, 4, ...; padding masked) → masked mean over residues → concatenated with
the global features → MLP → output.  Padding residues never influence real ones.

Training (:mod:`proteindsm.protein.model.predictor_training`): :class:`~proteindsm.protein.model.predictor_training.PropertyObjective`
(noise drawn log-uniformly on the score model's σ range, projected onto the zero-CA-centroid slice
like the score model's noise; MSE or cross-entropy) with the core :class:`~proteindsm.core.Trainer`;
labels are exact properties of the clean corpus chains (:mod:`proteindsm.protein.structure.properties`),
computed once and cached (:func:`~proteindsm.protein.model.predictor_training.load_or_compute_labels`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from proteindsm.errors import InputError
from proteindsm.protein.model.predictor_features import (FEATURE_VERSION, NUM_GLOBAL_FEATURES, NUM_RESIDUE_FEATURES,
                                                         global_features, residue_features)

__all__ = ["PREDICTABLE", "PREDICTOR_MODELS", "PredictableProperty", "PropertyPredictor"]


# ----------------------------------------------------------------------------------------------
# what can be predicted
@dataclass(frozen=True)
class PredictableProperty:
    """A property with a learned predictor: ``task`` is ``"regression"`` or ``"classification"``
    (``num_classes`` > 1); ``label`` names the column of
    :func:`proteindsm.protein.model.predictor_training.load_or_compute_labels`."""

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
