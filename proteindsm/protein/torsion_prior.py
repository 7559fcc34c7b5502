"""A knowledge-based Ramachandran prior: a mixture of von Mises products fitted to the (φ, ψ) of
real chains, and the backbone energy −Σ log p(φ_i, ψ_i) built from it.

    p(φ, ψ) = Σ_k w_k · VM(φ; μ_k, κ_k) · VM(ψ; ν_k, λ_k),   VM(θ; μ, κ) = exp(κ cos(θ − μ)) / (2π I₀(κ))

Each component is a product of two circular normals (no φ–ψ correlation within a component; the
mixture supplies it).  :func:`fit_von_mises_mixture` is plain EM (weighted circular means; κ from the
mean resultant length R by Banerjee et al.'s κ ≈ R(2 − R²)/(1 − R²)).  The shipped prior
(``assets/ramachandran_prior.json``) is fitted to the corpus training split by
``scripts/build_ramachandran_prior.py``; its JSON records the command, the number of residues and the
mean log-likelihood.

:func:`ramachandran_energy` is a sampling potential (:class:`proteindsm.core.PotentialGuidance`, on
the denoised estimate at small σ, like the steric potential): a statistical torsion potential in the
spirit of Rosetta's ``rama`` term.  Angles in radians, density in rad⁻², energy in nats.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
import torch
from torch import Tensor

from proteindsm.errors import InputError

from .geometry import dihedrals

__all__ = ["VonMisesMixture", "fit_von_mises_mixture", "default_ramachandran_prior", "ramachandran_energy",
           "RAMACHANDRAN_PRIOR_ASSET"]

RAMACHANDRAN_PRIOR_ASSET = Path(__file__).resolve().parent / "assets" / "ramachandran_prior.json"
_FIELDS = ("weight", "phi_mean", "phi_kappa", "psi_mean", "psi_kappa")


def _log_i0(kappa):
    """log I₀(κ), stable for large κ (numpy or torch)."""
    if isinstance(kappa, Tensor):
        return torch.log(torch.special.i0e(kappa)) + kappa
    from scipy.special import i0e
    return np.log(i0e(kappa)) + kappa


@dataclass(frozen=True)
class VonMisesMixture:
    """Mixture over the torus; every field ``(K,)``: weights (sum 1), means (rad), concentrations κ."""

    weight: np.ndarray
    phi_mean: np.ndarray
    phi_kappa: np.ndarray
    psi_mean: np.ndarray
    psi_kappa: np.ndarray

    def __post_init__(self) -> None:
        arrays = [np.asarray(getattr(self, f), dtype=np.float64) for f in _FIELDS]
        if any(a.ndim != 1 or a.shape != arrays[0].shape or a.size == 0 for a in arrays):
            raise InputError("VonMisesMixture: weight, means and kappas must be 1-D arrays of one length K >= 1")
        if not all(np.isfinite(a).all() for a in arrays) or (arrays[0] <= 0).any() or (arrays[2] < 0).any() \
                or (arrays[4] < 0).any() or abs(arrays[0].sum() - 1) > 1e-6:
            raise InputError("VonMisesMixture: weights must be positive and sum to 1, kappas >= 0, all finite")
        for f, a in zip(_FIELDS, arrays):
            object.__setattr__(self, f, a)

    @property
    def num_components(self) -> int:
        return int(self.weight.size)

    def log_density(self, phi: Tensor, psi: Tensor) -> Tensor:
        """log p(φ, ψ) in log rad⁻², same shape as ``phi``/``psi`` (radians, any shape)."""
        t = {f: torch.as_tensor(getattr(self, f), dtype=phi.dtype, device=phi.device) for f in _FIELDS}
        log_norm = -2 * math.log(2 * math.pi) - _log_i0(t["phi_kappa"]) - _log_i0(t["psi_kappa"])
        lp = (torch.log(t["weight"]) + log_norm + t["phi_kappa"] * torch.cos(phi[..., None] - t["phi_mean"])
              + t["psi_kappa"] * torch.cos(psi[..., None] - t["psi_mean"]))
        return torch.logsumexp(lp, dim=-1)

    def to_json(self) -> dict:
        return {f: [float(v) for v in getattr(self, f)] for f in _FIELDS}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], source: str = "mixture") -> "VonMisesMixture":
        missing = [f for f in _FIELDS if f not in obj]
        if missing:
            raise InputError(f"{source}: missing field(s) {missing}; expected {list(_FIELDS)}")
        return cls(**{f: np.asarray(obj[f], dtype=np.float64) for f in _FIELDS})


def _log_vm(x: np.ndarray, mu: np.ndarray, kappa: np.ndarray) -> np.ndarray:
    return kappa * np.cos(x[:, None] - mu[None]) - math.log(2 * math.pi) - _log_i0(kappa)


def fit_von_mises_mixture(phi: np.ndarray, psi: np.ndarray, n_components: int = 14, iterations: int = 200,
                          seed: int = 0, max_kappa: float = 500.0) -> tuple[VonMisesMixture, float]:
    """EM fit of a :class:`VonMisesMixture` to angle pairs (radians, ``(N,)`` each).

    Initialised at ``n_components`` random data points (κ = 4).  Returns the mixture and its mean
    log-likelihood per pair (log rad⁻²).  ``max_kappa`` caps the concentrations (κ = 500 ≈ 2.6° s.d.).
    """
    phi = np.asarray(phi, dtype=np.float64).ravel()
    psi = np.asarray(psi, dtype=np.float64).ravel()
    if phi.shape != psi.shape or not np.isfinite(phi).all() or not np.isfinite(psi).all():
        raise InputError("fit_von_mises_mixture: phi and psi must be finite arrays of one length")
    if phi.size < 10 * n_components:
        raise InputError(f"fit_von_mises_mixture: {phi.size} angle pairs are too few for {n_components} components")
    rng = np.random.default_rng(seed)
    start = rng.choice(phi.size, n_components, replace=False)
    w = np.full(n_components, 1.0 / n_components)
    mu = [phi[start].copy(), psi[start].copy()]
    kappa = [np.full(n_components, 4.0), np.full(n_components, 4.0)]
    mean_ll = -np.inf
    for _ in range(iterations):
        lp = np.log(w)[None] + _log_vm(phi, mu[0], kappa[0]) + _log_vm(psi, mu[1], kappa[1])
        top = lp.max(axis=1, keepdims=True)
        resp = np.exp(lp - top)
        total = resp.sum(axis=1, keepdims=True)
        mean_ll = float((top[:, 0] + np.log(total[:, 0])).mean())
        resp /= total
        n_k = resp.sum(axis=0) + 1e-12
        w = n_k / n_k.sum()
        for a, angles in enumerate((phi, psi)):
            c = (resp * np.cos(angles)[:, None]).sum(0) / n_k
            s = (resp * np.sin(angles)[:, None]).sum(0) / n_k
            mu[a] = np.arctan2(s, c)
            r = np.clip(np.hypot(c, s), 1e-6, 1 - 1e-9)
            kappa[a] = np.clip(r * (2 - r ** 2) / (1 - r ** 2), 1e-3, max_kappa)
    order = np.argsort(-w)
    mix = VonMisesMixture(weight=w[order] / w.sum(), phi_mean=mu[0][order], phi_kappa=kappa[0][order],
                          psi_mean=mu[1][order], psi_kappa=kappa[1][order])
    return mix, mean_ll


@lru_cache(maxsize=1)
def default_ramachandran_prior() -> VonMisesMixture:
    """The prior shipped in ``assets/ramachandran_prior.json`` (fitted to the corpus training split)."""
    try:
        obj = json.loads(RAMACHANDRAN_PRIOR_ASSET.read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read the Ramachandran prior {RAMACHANDRAN_PRIOR_ASSET}: {err}") from None
    return VonMisesMixture.from_json(obj, source=str(RAMACHANDRAN_PRIOR_ASSET))


def ramachandran_energy(x: Tensor, cond: Optional[Mapping[str, Any]] = None,
                        prior: Optional[VonMisesMixture] = None) -> Tensor:
    """−Σ_i log p(φ_i, ψ_i) over residues with both torsions defined (nats, ``(B,)``).

    ``x`` ``(B, L, 4, 3)`` Å; residues outside ``cond["mask"]`` (and torsions that involve them) are
    left out.  ``prior``: the shipped :func:`default_ramachandran_prior` unless given.
    """
    if x.ndim != 4 or x.shape[-2:] != (4, 3):
        raise InputError(f"ramachandran_energy: x must be (B, L, 4, 3) Å, got shape {tuple(x.shape)}")
    prior = default_ramachandran_prior() if prior is None else prior
    mask = None if cond is None else cond.get("mask")
    phi, psi, _ = dihedrals(x, mask)
    ok = ~(torch.isnan(phi) | torch.isnan(psi))
    zero = torch.zeros_like(phi)
    lp = prior.log_density(torch.where(ok, phi, zero), torch.where(ok, psi, zero))
    return -(lp * ok.to(lp.dtype)).sum(-1)
