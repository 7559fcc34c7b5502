"""2-D toy data sets with known answers.

Every data set draws samples ``sample(n, generator) -> (n, 2)`` float32 and assigns points to
*modes* with ``mode_of(x) -> (n,)`` int64 (``-1`` = off the support), so samplers can be judged by
the fraction of samples in each mode (``true_mode_weights`` is the answer).

Gaussian mixtures (:class:`GaussianMixture2D` and its presets :class:`TwoGaussians`,
:class:`EightGaussians`, :class:`Ring`) also give their EXACT noised score in closed form.  With
p(x) = Σ_k w_k N(x; μ_k, s_k² I), the data noised by N(0, σ² I) is again a mixture,

    p_σ(x) = Σ_k w_k N(x; μ_k, (s_k² + σ²) I),
    ∇_x log p_σ(x) = Σ_k r_k(x, σ) · (μ_k − x)/(s_k² + σ²),
    r_k(x, σ) = softmax_k[ log w_k − log(2π(s_k² + σ²)) − ‖x − μ_k‖²/(2(s_k² + σ²)) ],

computed with a log-sum-exp so it stays finite far from the data.  ``component_logits`` are the
logits of r_k: a noise-conditional Bayes classifier (linear in x when all s_k are equal), used as
an analytic classifier for guidance.

:class:`TwoMoons` and :class:`Checkerboard` have no closed-form noised score (``has_exact_score``
is False); they test learned scores only.

Units: coordinates and σ are in the same (arbitrary) units.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import Tensor

from proteindsm.errors import InputError

Cond = Optional[dict]


def _gen(generator: Optional[torch.Generator]) -> torch.Generator:
    return generator if generator is not None else torch.Generator().manual_seed(0)


def _check_n(n: int) -> int:
    if int(n) != n or n < 1:
        raise InputError(f"number of samples must be a positive integer, got {n!r}")
    return int(n)


def _positive(name: str, value: float) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise InputError(f"dataset.{name} must be a positive number, got {value!r}")
    return float(value)


class ToyDataset:
    """Common interface of the 2-D data sets (see the module docstring)."""

    name: str = "toy"
    has_exact_score: bool = False

    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> Tensor:
        """``(n, 2)`` float32 samples of the data distribution."""
        raise NotImplementedError

    @property
    def num_modes(self) -> int:
        return len(self.true_mode_weights)

    @property
    def true_mode_weights(self) -> list[float]:
        """Probability mass of each mode (sums to ~1; the rest is off-support)."""
        raise NotImplementedError

    def mode_of(self, x: Tensor) -> Tensor:
        """``(n,)`` int64 mode index of each point of ``x (n, 2)``; ``-1`` where off the support."""
        raise NotImplementedError

    def score(self, x: Tensor, sigma: Tensor, cond: Cond = None) -> Tensor:
        """Exact ∇_x log p_σ(x), ``x (B, 2)``, ``sigma (B,)`` → ``(B, 2)`` (mixtures only)."""
        raise InputError(f"dataset {self.name!r} has no closed-form score; use score=net")

    def describe(self) -> dict:
        """JSON-able description for metadata."""
        return {"name": self.name}


class GaussianMixture2D(ToyDataset):
    """Mixture Σ_k w_k N(μ_k, s_k² I) in 2-D with exact noised score.

    Args:
        means: ``K`` points ``(x, y)``.
        stds: one std for all components or ``K`` stds (data units).
        weights: ``K`` positive weights (normalised here).
        mode_groups: optional ``K`` ints grouping components into modes (default: one mode per
            component).  The ring uses it to count sectors instead of its many small components.
        off_support: a point is off the support when its Mahalanobis distance to the most
            responsible component exceeds this many component stds.
    """

    has_exact_score = True

    def __init__(self, means: Sequence[Sequence[float]], stds: float | Sequence[float],
                 weights: Optional[Sequence[float]] = None, *, mode_groups: Optional[Sequence[int]] = None,
                 off_support: float = 4.0, name: str = "gaussian_mixture") -> None:
        self.name = name
        mu = torch.as_tensor(means, dtype=torch.float64)
        if mu.dim() != 2 or mu.shape[1] != 2 or mu.shape[0] < 1:
            raise InputError(f"dataset.means must be a list of (x, y) pairs, got shape {tuple(mu.shape)}")
        k = mu.shape[0]
        s = torch.as_tensor(stds, dtype=torch.float64).flatten()
        if s.numel() == 1:
            s = s.expand(k).clone()
        if s.numel() != k or not bool((s > 0).all()) or not bool(torch.isfinite(s).all()):
            raise InputError(f"dataset.stds must be one positive number or {k} positive numbers")
        w = torch.ones(k, dtype=torch.float64) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        if w.numel() != k or not bool((w > 0).all()) or not bool(torch.isfinite(w).all()):
            raise InputError(f"dataset.weights must be {k} positive numbers, got {list(map(float, w.flatten()))}")
        self.means, self.stds, self.weights = mu, s, w / w.sum()
        groups = list(range(k)) if mode_groups is None else [int(g) for g in mode_groups]
        if len(groups) != k or min(groups) < 0:
            raise InputError(f"dataset.mode_groups must be {k} non-negative integers")
        self.mode_groups = torch.as_tensor(groups, dtype=torch.long)
        self.off_support = _positive("off_support", off_support)

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> Tensor:
        n, g = _check_n(n), _gen(generator)
        comp = torch.multinomial(self.weights, n, replacement=True, generator=g)
        eps = torch.randn(n, 2, generator=g, dtype=torch.float64)
        x = self.means[comp] + self.stds[comp, None] * eps
        return x.float()

    # ------------------------------------------------------------------ modes
    @property
    def true_mode_weights(self) -> list[float]:
        out = torch.zeros(int(self.mode_groups.max()) + 1, dtype=torch.float64)
        out.index_add_(0, self.mode_groups, self.weights)
        return [float(v) for v in out]

    def mode_of(self, x: Tensor) -> Tensor:
        x = x.detach().to(torch.float64).cpu()
        logits = self._log_terms(x, torch.zeros(x.shape[0], dtype=torch.float64))
        comp = logits.argmax(1)
        dist = (x - self.means[comp]).norm(dim=1) / self.stds[comp]
        mode = self.mode_groups[comp].clone()
        mode[dist > self.off_support] = -1
        return mode

    # ------------------------------------------------------------------ score
    def _log_terms(self, x: Tensor, sigma: Tensor) -> Tensor:
        """log w_k + log N(x; μ_k, (s_k² + σ²) I): ``(B, K)``."""
        mu = self.means.to(x)
        var = self.stds.to(x)[None, :] ** 2 + sigma.to(x)[:, None] ** 2          # (B, K)
        d2 = (x[:, None, :] - mu[None]).pow(2).sum(-1)                            # (B, K)
        return self.weights.to(x).log()[None] - torch.log(2 * math.pi * var) - 0.5 * d2 / var

    def component_logits(self, x: Tensor, sigma: Tensor, cond: Cond = None) -> Tensor:
        """Logits ``(B, K)`` of p(component k | x_σ): the exact noise-conditional classifier."""
        return self._log_terms(x, sigma)

    def log_prob(self, x: Tensor, sigma: Optional[Tensor] = None) -> Tensor:
        """log p_σ(x) ``(B,)`` (σ = 0: the data density)."""
        s = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device) if sigma is None else sigma
        return torch.logsumexp(self._log_terms(x, s), dim=1)

    def score(self, x: Tensor, sigma: Tensor, cond: Cond = None) -> Tensor:
        """Exact ∇_x log p_σ(x) ``(B, 2)`` for ``x (B, 2)``, ``sigma (B,)``."""
        if x.dim() != 2 or x.shape[1] != 2:
            raise InputError(f"toy score expects x of shape (B, 2), got {tuple(x.shape)}")
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).expand(x.shape[0])
        resp = torch.softmax(self._log_terms(x, sigma), dim=1)                    # (B, K)
        var = self.stds.to(x)[None, :] ** 2 + sigma[:, None] ** 2                 # (B, K)
        diff = self.means.to(x)[None] - x[:, None, :]                             # (B, K, 2)
        return (resp[..., None] * diff / var[..., None]).sum(1)

    def describe(self) -> dict:
        return {"name": self.name, "components": int(self.means.shape[0]),
                "mode_weights": self.true_mode_weights}


class TwoGaussians(GaussianMixture2D):
    """Song & Ermon (2019, §3.2): ⅕·N((5, 5), I) + ⅘·N((−5, −5), I).  Mode 0 is the small one at
    (5, 5) (weight 0.2), mode 1 the big one at (−5, −5) (weight 0.8)."""

    def __init__(self, weight_small: float = 0.2, center: float = 5.0, std: float = 1.0,
                 off_support: float = 4.0) -> None:
        if not 0 < weight_small < 1:
            raise InputError(f"dataset.weight_small must be in (0, 1), got {weight_small}")
        _positive("center", center)
        super().__init__([(center, center), (-center, -center)], _positive("std", std),
                         [weight_small, 1 - weight_small], off_support=off_support, name="two_gaussians")


class EightGaussians(GaussianMixture2D):
    """Eight equal Gaussians on a circle of radius ``radius`` (std ``std``), mode k at angle k·π/4."""

    def __init__(self, radius: float = 4.0, std: float = 0.3, off_support: float = 4.0) -> None:
        r = _positive("radius", radius)
        means = [(r * math.cos(k * math.pi / 4), r * math.sin(k * math.pi / 4)) for k in range(8)]
        super().__init__(means, _positive("std", std), None, off_support=off_support, name="eight_gaussians")


class Ring(GaussianMixture2D):
    """A ring of radius ``radius``: ``components`` equal Gaussians (std ``std``) evenly spaced on the
    circle — a well-defined smooth density when the spacing 2πR/K is about ``std`` or less.  Modes are
    ``sectors`` equal angular sectors (each of weight 1/sectors), so the metric checks that samples
    cover the ring uniformly."""

    def __init__(self, radius: float = 4.0, std: float = 0.2, components: int = 128, sectors: int = 8,
                 off_support: float = 4.0) -> None:
        r = _positive("radius", radius)
        if int(components) != components or components < 1:
            raise InputError(f"dataset.components must be a positive integer, got {components!r}")
        if int(sectors) != sectors or sectors < 1 or components % sectors:
            raise InputError(f"dataset.sectors must be a positive integer dividing components={components}, "
                             f"got {sectors!r}")
        k = int(components)
        # components offset by half a spacing so each sector holds exactly k/sectors of them
        angles = [2 * math.pi * (j + 0.5) / k for j in range(k)]
        means = [(r * math.cos(a), r * math.sin(a)) for a in angles]
        groups = [j * int(sectors) // k for j in range(k)]
        super().__init__(means, _positive("std", std), None, mode_groups=groups, off_support=off_support,
                         name="ring")


class TwoMoons(ToyDataset):
    """Two interleaving half circles (scikit-learn's ``make_moons`` shape) scaled by ``scale``, with
    Gaussian noise ``noise`` (data units).  Mode 0 is the upper moon, mode 1 the lower one; a point
    farther than 4·noise (+ 0.05·scale) from both arcs is off the support.  No closed-form score."""

    def __init__(self, scale: float = 3.0, noise: float = 0.15) -> None:
        self.name = "moons"
        self.scale, self.noise = _positive("scale", scale), _positive("noise", noise)
        # arcs (center, start angle) before scaling; both of radius 1 and angle span π
        self._arcs = [((0.0, 0.0), 0.0), ((1.0, 0.5), math.pi)]
        self._shift = (-0.5, -0.25)  # centre the picture on the origin

    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> Tensor:
        n, g = _check_n(n), _gen(generator)
        which = torch.randint(0, 2, (n,), generator=g)
        t = torch.rand(n, generator=g, dtype=torch.float64) * math.pi
        centers = torch.tensor([a[0] for a in self._arcs], dtype=torch.float64)[which]
        start = torch.tensor([a[1] for a in self._arcs], dtype=torch.float64)[which]
        pts = centers + torch.stack([torch.cos(t + start), torch.sin(t + start)], 1)
        pts = (pts + torch.tensor(self._shift, dtype=torch.float64)) * self.scale
        pts = pts + self.noise * torch.randn(n, 2, generator=g, dtype=torch.float64)
        return pts.float()

    @property
    def true_mode_weights(self) -> list[float]:
        return [0.5, 0.5]

    def _arc_distance(self, p: Tensor, arc: int) -> Tensor:
        (cx, cy), start = self._arcs[arc]
        c = (torch.tensor([cx, cy], dtype=torch.float64) + torch.tensor(self._shift, dtype=torch.float64)) * self.scale
        d = p - c
        ang = torch.remainder(torch.atan2(d[:, 1], d[:, 0]) - start, 2 * math.pi)
        on_arc = (d.norm(dim=1) - self.scale).abs()
        e0 = c + self.scale * torch.tensor([math.cos(start), math.sin(start)], dtype=torch.float64)
        e1 = c + self.scale * torch.tensor([math.cos(start + math.pi), math.sin(start + math.pi)], dtype=torch.float64)
        to_end = torch.minimum((p - e0).norm(dim=1), (p - e1).norm(dim=1))
        return torch.where(ang <= math.pi, on_arc, to_end)

    def mode_of(self, x: Tensor) -> Tensor:
        p = x.detach().to(torch.float64).cpu()
        d = torch.stack([self._arc_distance(p, 0), self._arc_distance(p, 1)], 1)
        dmin, mode = d.min(1)
        mode[dmin > 4 * self.noise + 0.05 * self.scale] = -1
        return mode

    def describe(self) -> dict:
        return {"name": self.name, "scale": self.scale, "noise": self.noise}


class Checkerboard(ToyDataset):
    """Uniform density on the 8 dark squares of a 4×4 checkerboard on [−2·size, 2·size]² (square side
    ``size``).  Mode k is the k-th dark square; points outside dark squares (with a margin of
    0.05·size) are off the support.  No closed-form score."""

    def __init__(self, size: float = 2.0) -> None:
        self.name = "checkerboard"
        self.size = _positive("size", size)
        self._squares = [(i, j) for j in range(4) for i in range(4) if (i + j) % 2 == 0]

    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> Tensor:
        n, g = _check_n(n), _gen(generator)
        sq = torch.tensor(self._squares, dtype=torch.float64)[torch.randint(0, 8, (n,), generator=g)]
        u = torch.rand(n, 2, generator=g, dtype=torch.float64)
        return ((sq + u - 2.0) * self.size).float()

    @property
    def true_mode_weights(self) -> list[float]:
        return [1 / 8] * 8

    def mode_of(self, x: Tensor) -> Tensor:
        p = x.detach().to(torch.float64).cpu() / self.size + 2.0
        margin = 0.05
        mode = torch.full((p.shape[0],), -1, dtype=torch.long)
        for k, (i, j) in enumerate(self._squares):
            lo = torch.tensor([i - margin, j - margin], dtype=torch.float64)
            hi = torch.tensor([i + 1 + margin, j + 1 + margin], dtype=torch.float64)
            hit = ((p >= lo) & (p <= hi)).all(1)
            mode[hit & (mode < 0)] = k
        return mode

    def describe(self) -> dict:
        return {"name": self.name, "size": self.size}


DATASETS = {
    "two_gaussians": TwoGaussians,
    "eight_gaussians": EightGaussians,
    "ring": Ring,
    "moons": TwoMoons,
    "checkerboard": Checkerboard,
}
"""Name → class (the CLI uses the ``dataset`` config group; this is for scripts and docs)."""
