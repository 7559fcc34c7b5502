"""Score-matching objectives.

Denoising score matching (Vincent 2011; Song & Ermon 2019, eq. 2): for x̃ = x + σε, ε ~ N(0, I)
(projected onto the domain's subspace), the score of the Gaussian perturbation kernel is
∇ log q_σ(x̃ | x) = −(x̃ − x)/σ² = −ε/σ, and

    ℓ(θ; σ) = ½ E ‖ s_θ(x̃, σ) + ε/σ ‖²,        L(θ) = E_σ λ(σ) ℓ(θ; σ),  λ(σ) = σ² by default.

With λ = σ² this is ½ E ‖σ s_θ + ε‖², the noise-prediction loss.  We average (instead of sum) over
the valid elements of each sample so the loss does not grow with protein length or image size; the
minimiser is unchanged.  Sliced score matching (Song et al. 2019) is provided for comparison.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

import torch
from torch import Tensor

from .denoiser import denoised_estimate
from .schedules import GeometricSchedule
from .self_conditioning import SELF_COND_KEY, self_conditioned_cond
from .types import Batch, Cond, LossOutput, ProjectFn, ScoreFn, apply_mask, expand_like, identity_project


DenoisedLoss = Callable[[Tensor, Tensor, Optional[Tensor], Tensor], Tensor]
"""An auxiliary loss on the denoised estimate: ``(x0_hat, x0, mask, sigma) -> (B,)``, with
x̂₀ = x̃ + σ² s_θ(x̃, σ) differentiable through the model (e.g. a domain's local-distance loss)."""


def sum_of_denoised_losses(*losses: Optional[DenoisedLoss]) -> Optional[DenoisedLoss]:
    """One :data:`DenoisedLoss` adding the given ones row by row (None entries are skipped);
    None when none is given, a single loss unchanged."""
    terms = [f for f in losses if f is not None]
    if not terms:
        return None
    if len(terms) == 1:
        return terms[0]

    def total(x0_hat: Tensor, x0: Tensor, mask: Optional[Tensor], sigma: Tensor) -> Tensor:
        return sum(f(x0_hat, x0, mask, sigma) for f in terms)

    return total


def masked_mean_per_sample(v: Tensor, mask: Optional[Tensor]) -> Tensor:
    """Mean of ``v`` (B, ...) over each sample's valid elements → ``(B,)``."""
    if mask is None:
        return v.flatten(1).mean(1)
    m = expand_like(mask.to(v.dtype), v).expand_as(v)
    return (v * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1.0)


def dsm_loss(
    score_fn: ScoreFn,
    x0: Tensor,
    sigma: Tensor,
    noise: Tensor,
    *,
    mask: Optional[Tensor] = None,
    cond: Cond = None,
    project: ProjectFn = identity_project,
    weight: Optional[Tensor] = None,
    self_condition: Optional[Tensor] = None,
    auxiliary: Optional[DenoisedLoss] = None,
    rollout: Optional[Tensor] = None,
    rollout_noise: Optional[Tensor] = None,
) -> Tensor:
    """Per-sample denoising score matching loss ``(B,)``.

    Args:
        score_fn: the model, ``(x, sigma, cond) -> score``.
        x0: clean data ``(B, ...)``.
        sigma: ``(B,)`` noise levels (data units).
        noise: standard normal ``ε`` like ``x0``; it is projected with ``project`` and masked here.
        mask: valid elements ``x0.shape[:k]``; padding is not noised and not counted.
        project: the domain's projection (e.g. zero CA centroid for proteins).
        weight: λ(σ) ``(B,)``; defaults to σ².
        self_condition: optional bool ``(B,)``: train with self-conditioning — every row gets
            ``cond["self_cond"]``, the x̂₀ of a gradient-free first pass for the True rows and zeros
            for the others (:func:`proteindsm.core.self_conditioning.self_conditioned_cond`).
        auxiliary: optional :data:`DenoisedLoss` added to each row's weighted DSM loss, evaluated on
            the denoised estimate x̂₀ = x̃ + σ² s of the same pass (None: plain DSM, unchanged).
        rollout: optional bool ``(B,)``, True only on ``self_condition`` rows: those rows are trained
            on the state one sampler step reaches instead of on x̃ — x̃' = x̂₀ + σ ε' (x̂₀ of the
            first pass, ε' = ``rollout_noise`` projected and masked), the state an annealed Langevin
            step of size α = σ²T lands on (x + α s/T + √(2α) z = x̂₀ + σz) — with the same target x0:
            the residual is s_θ(x̃') − (x0 − x̃')/σ² (exposure bias, Ning et al. 2023; the model
            learns to restore what its own blurred estimate lost).  None: plain DSM, unchanged.
        rollout_noise: standard normal ``ε'`` like ``x0`` (needed with ``rollout``), or batch-first
            ``(B, k, *x0.shape[1:])`` for a k-step rollout: after the first step, k − 1 more gradient-free sampler steps at the
            row's σ — x̂₀ ← D(x̃', σ) with the previous x̂₀ as self-conditioning input, x̃' ← x̂₀ + σ ε'_j —
            evaluated on the rollout rows only; the trained pass sees the last x̃' with the last x̂₀
            as its input.  Many Langevin steps at one σ drift into states a single step never reaches
            (docs/training.md, "Where the overlaps form").
    """
    eps = project(apply_mask(noise, mask), mask)
    s = expand_like(sigma, x0)
    x_noisy = x0 + s * eps
    if self_condition is not None:
        cond = self_conditioned_cond(score_fn, x_noisy, sigma, cond, self_condition)
    if rollout is not None:
        if self_condition is None or bool((rollout & ~self_condition).any()):
            raise ValueError("rollout rows must be self-conditioned rows (they reuse the first pass's x0_hat)")
        if rollout_noise is None:
            raise ValueError("rollout needs rollout_noise")
        steps = rollout_noise.movedim(1, 0) if rollout_noise.dim() == x0.dim() + 1 else rollout_noise[None]
        fresh = project(apply_mask(steps[0], mask), mask)
        rolled = cond[SELF_COND_KEY] + s * fresh
        if mask is not None:   # padding stays as in x0 (not noised, not counted)
            rolled = torch.where(expand_like(mask.to(torch.bool), x0), rolled, x0)
        if len(steps) > 1 and bool(rollout.any()):
            rolled, cond = _more_rollout_steps(score_fn, x0, sigma, rolled, cond, rollout, steps[1:], mask, project)
        rows = expand_like(rollout.to(torch.bool), x0)
        x_noisy = torch.where(rows, rolled, x_noisy)
        eps = torch.where(rows, (x_noisy - x0) / s, eps)   # the input's offset from x0, in units of σ
    score = score_fn(x_noisy, sigma, cond)
    residual = score + eps / s
    per_sample = 0.5 * masked_mean_per_sample(residual.pow(2), mask)
    w = sigma.pow(2) if weight is None else weight
    if auxiliary is None:
        return w * per_sample
    x0_hat = x_noisy + s.pow(2) * score
    return w * per_sample + auxiliary(x0_hat, x0, mask, sigma)


def _rows_of(cond: dict, idx: Tensor) -> dict:
    """``cond`` restricted to the rows ``idx`` (its tensors are batch-first, as :class:`Batch` says)."""
    return {k: (v[idx] if isinstance(v, Tensor) else v) for k, v in cond.items()}


def _more_rollout_steps(score_fn: ScoreFn, x0: Tensor, sigma: Tensor, rolled: Tensor, cond: dict,
                        rollout: Tensor, noises: Tensor, mask: Optional[Tensor], project: ProjectFn
                        ) -> tuple[Tensor, dict]:
    """The k − 1 further gradient-free sampler steps of a k-step rollout (``dsm_loss``), on the
    rollout rows only: returns the last states (other rows unchanged) and ``cond`` whose
    self-conditioning input holds the last estimates on those rows."""
    idx = rollout.to(torch.bool).nonzero().squeeze(1)
    sub = _rows_of(cond, idx)
    x, sig = rolled[idx], sigma[idx]
    m = None if mask is None else mask[idx]
    s = expand_like(sig, x)
    with torch.no_grad():
        for noise in noises:
            est = denoised_estimate(x, sig, score_fn(x, sig, sub)).detach()
            sub[SELF_COND_KEY] = est
            x = est + s * project(apply_mask(noise[idx], m), m)
            if m is not None:
                x = torch.where(expand_like(m.to(torch.bool), x), x, x0[idx])
    rolled = rolled.clone()
    rolled[idx] = x
    estimate = cond[SELF_COND_KEY].clone()
    estimate[idx] = sub[SELF_COND_KEY]
    return rolled, {**cond, SELF_COND_KEY: estimate}


def sliced_score_matching_loss(
    score_fn: ScoreFn,
    x0: Tensor,
    sigma: Tensor,
    noise: Tensor,
    projections: Tensor,
    *,
    cond: Cond = None,
    weight: Optional[Tensor] = None,
) -> Tensor:
    """Per-sample sliced score matching loss (Song et al. 2019) on noised data x̃ = x0 + σ·noise:

        J = vᵀ ∇_x(vᵀ s(x̃)) + ½ (vᵀ s(x̃))²,  v ~ N(0, I) (``projections``, shape of ``x0``),

    weighted by λ(σ) (default σ²).  Needs no knowledge of the noise distribution; costs one extra
    backward pass (Hessian-vector product).  Meant for unmasked, low-dimensional data (toy domain).
    """
    s = expand_like(sigma, x0)
    x = (x0 + s * noise).detach().requires_grad_(True)
    score = score_fn(x, sigma, cond)
    v = projections
    vs = (v * score).flatten(1).sum(1)
    grad_vs = torch.autograd.grad(vs.sum(), x, create_graph=True)[0]
    per_sample = (v * grad_vs).flatten(1).sum(1) + 0.5 * vs.pow(2)
    w = sigma.pow(2) if weight is None else weight
    return w * per_sample


@dataclass
class DSMObjective:
    """Multi-scale DSM as a training :class:`~proteindsm.core.types.Objective`.

    ``draw`` samples σ (log-uniform on the schedule) and ε for the whole global batch; the loss
    calls the model as a score function with ``batch.network_cond()``.  With
    ``self_conditioning_rate`` p > 0 each row is self-conditioned with probability p (drawn with the
    rest, so resumed and data-parallel runs see the same choice); 0 leaves the objective exactly as
    without self-conditioning (no extra key in ``cond``).  ``rollout_rate`` q > 0: each
    self-conditioned row is, with probability q, trained on the state one sampler step from its
    first-pass estimate reaches (``dsm_loss``'s ``rollout``; no extra network pass); 0 draws nothing
    more, so the objective is exactly as without it.  ``rollout_steps`` k > 1: those rows take k
    sampler steps at their σ instead of one (k − 1 gradient-free network passes on them).  ``auxiliary``: an optional
    :data:`DenoisedLoss` added to the training loss (validation sets build their own objective, so
    their figures stay plain DSM).
    """

    schedule: GeometricSchedule
    project: ProjectFn = identity_project
    self_conditioning_rate: float = 0.0
    auxiliary: Optional[DenoisedLoss] = None
    rollout_rate: float = 0.0
    rollout_steps: int = 1

    def __post_init__(self) -> None:
        k = self.rollout_steps
        if isinstance(k, bool) or not isinstance(k, (int, float)) or not math.isfinite(k) or k != int(k) or k < 1:
            raise ValueError(f"rollout_steps must be an integer >= 1, got {k!r}")
        self.rollout_steps = int(k)
        for name in ("self_conditioning_rate", "rollout_rate"):
            value = float(getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.rollout_rate > 0 and self.self_conditioning_rate == 0:
            raise ValueError("rollout_rate > 0 needs self_conditioning_rate > 0 (the rollout state is built "
                             "from the self-conditioning pass's estimate)")

    def draw(self, batch: Batch, generator: torch.Generator) -> dict[str, Tensor]:
        sigma = self.schedule.sample_training_sigmas(len(batch), generator)
        noise = torch.randn(batch.x.shape, generator=generator, dtype=torch.float32)
        out = {"sigma": sigma, "noise": noise}
        if self.self_conditioning_rate > 0:
            out["self_condition"] = torch.rand(len(batch), generator=generator) < self.self_conditioning_rate
        if self.rollout_rate > 0:
            chosen = torch.rand(len(batch), generator=generator) < self.rollout_rate
            out["rollout"] = chosen & out["self_condition"]
            k = self.rollout_steps   # batch-first (B, k, ...), so shard_draw splits rows, not steps
            shape = batch.x.shape if k == 1 else (len(batch), k, *batch.x.shape[1:])
            out["rollout_noise"] = torch.randn(shape, generator=generator, dtype=torch.float32)
        return out

    def __call__(self, model: torch.nn.Module, batch: Batch, draw: Mapping[str, Tensor]) -> LossOutput:
        sigma = draw["sigma"].to(batch.x.device, batch.x.dtype)
        noise = draw["noise"].to(batch.x.device, batch.x.dtype)
        rows = draw.get("self_condition")
        rollout = draw.get("rollout")
        rollout_noise = draw.get("rollout_noise")
        loss = dsm_loss(model, batch.x, sigma, noise, mask=batch.mask, cond=batch.network_cond(),
                        project=self.project, weight=self.schedule.loss_weight(sigma),
                        self_condition=None if rows is None else rows.to(batch.x.device),
                        auxiliary=self.auxiliary,
                        rollout=None if rollout is None else rollout.to(batch.x.device),
                        rollout_noise=None if rollout_noise is None else rollout_noise.to(batch.x.device, batch.x.dtype))
        return LossOutput(loss=loss, sigma=sigma)


@dataclass
class SlicedScoreMatchingObjective:
    """Sliced score matching on noised data, for comparison with DSM (same σ distribution/weight)."""

    schedule: GeometricSchedule
    needs_grad: bool = True  # the loss differentiates the model (also during validation)

    def draw(self, batch: Batch, generator: torch.Generator) -> dict[str, Tensor]:
        sigma = self.schedule.sample_training_sigmas(len(batch), generator)
        noise = torch.randn(batch.x.shape, generator=generator)
        v = torch.randn(batch.x.shape, generator=generator)
        return {"sigma": sigma, "noise": noise, "projections": v}

    def __call__(self, model: torch.nn.Module, batch: Batch, draw: Mapping[str, Tensor]) -> LossOutput:
        dev, dt = batch.x.device, batch.x.dtype
        sigma = draw["sigma"].to(dev, dt)
        loss = sliced_score_matching_loss(
            model, batch.x, sigma, draw["noise"].to(dev, dt), draw["projections"].to(dev, dt),
            cond=batch.network_cond() or None, weight=self.schedule.loss_weight(sigma))
        return LossOutput(loss=loss, sigma=sigma)
