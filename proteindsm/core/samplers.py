"""Samplers: annealed Langevin dynamics, reverse-time VE SDE (+ predictor–corrector), the
probability-flow ODE and EDM's stochastic sampler.  One implementation per algorithm, shared by every
domain; what they share (the protocol, the result, the prior, the per-run book-keeping) is in
:mod:`proteindsm.core.sampler_base`.

A sampler knows nothing of models or data.  It takes a score function ``(x, sigma, cond) -> score``,
an initial state ``x_init (B, ...)`` (usually σ_max·N(0, I), see
:func:`~proteindsm.core.sampler_base.prior_sample`), a descending
σ grid ``sigmas (N,)``, an optional ``mask`` of valid elements and a ``project`` hook (the protein
domain removes the CA centroid there; images and toy data do nothing).  Randomness comes only from
the ``generator`` argument, so runs are reproducible; tensors stay on the device of ``x_init``.

Equations (σ_i descending, s = score):
* Annealed Langevin (Song & Ermon 2019, Alg. 1): for each level i, T steps of
  x ← x + α_i s(x, σ_i) + √(2α_i) z with α_i = ε σ_i²/σ_N²; optional final denoising
  x ← x + σ_N² s(x, σ_N) (Tweedie; NCSNv2).
* Reverse VE SDE, Euler–Maruyama on the grid (Song et al. 2021):
  x_{i+1} = x_i + (σ_i² − σ_{i+1}²) s(x_i, σ_i) + √(σ_i² − σ_{i+1}²) z, with σ_{N+1} = 0 and no noise
  on that last step when ``final_denoise``.  Predictor–corrector adds, before each predictor step,
  Langevin corrector steps x ← x + δ s + √(2δ) z with δ = 2 (r ‖z‖/‖s‖)² (norms averaged over the
  batch), r the signal-to-noise ratio.
* Probability-flow ODE: dx/dσ = −σ s(x, σ), Euler or Heun (2nd order) steps between grid points,
  ending at σ = 0 when ``final_denoise``.

Temperature and guidance (one rule, docs/maths.md): s is the *composed* score the sampler is given —
the model plus every guidance term, potential and conditioning.  :class:`AnnealedLangevin` is the only
sampler with a temperature T, and it divides that whole score by T, so a level targets
(p_σ · Π lₖ^{wₖ})^{1/T} = p_σ^{1/T} · Π lₖ^{wₖ/T}: a guidance scale w acts as w/T.  The other samplers
use the composed score as given (w acts as w); :class:`EDMStochastic`'s ``s_noise`` scales only the
churn noise, not the score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Optional, Sequence

import torch
from torch import Tensor

from proteindsm.errors import InputError

from .sampler_base import SampleResult, SamplerRun, check_non_negative_int, check_positive, num_grid_levels
from .types import Cond, ProjectFn, ScoreFn, identity_project


@dataclass
class AnnealedLangevin:
    """Annealed Langevin dynamics (Song & Ermon 2019, Alg. 1).

    Args:
        eps: base step size ε (step at level i is α_i = ε σ_i²/σ_N²).
        steps_per_level: T, Langevin steps at each σ level.
        final_denoise: finish with x + σ² s(x, σ) (NCSNv2; Tweedie), removing the noise of the last
            level sampled (σ_N, or the last level with steps when ``level_steps`` skips the final ones).
        temperature: T > 0; each level's Langevin steps use s/T, so they target p_σ^(1/T) instead of
            p_σ (T < 1 sharpens toward the modes: better local geometry, less diversity; for a
            Gaussian the variance is multiplied by T).  s is the whole composed score: with guidance
            terms of scale w the target is (p_σ · l^w)^(1/T) = p_σ^(1/T) · l^(w/T), i.e. every
            guidance scale acts as w/T (pass w·T to keep w; tested on a Gaussian posterior in
            tests/core/test_temperature_guidance.py).  The final denoising step is not tempered.
        temperature_sigma_max: apply ``temperature`` only at levels with σ ≤ this (same units as
            σ); levels above it run at T = 1.  ``None`` (default): every level.  Lets the coarse
            levels, where the global shape forms, sample the model's distribution while the fine
            levels sharpen the local geometry.
        level_steps: σ windows with their own number of Langevin steps, ``((σ_lo, σ_hi, n), ...)``:
            a level with σ_lo ≤ σ < σ_hi takes ``n`` steps (0 skips the level); levels in no window
            take ``steps_per_level``.  Windows must not overlap.  Skipped final levels (n = 0) leave
            the state at the last level sampled, so the final denoising step uses that level's σ.  Spends a fixed budget where it
            matters (for the protein model: σ ≈ 0.3–5 Å, docs/benchmarks.md); the number of network
            evaluations then depends on the grid's σ values, so :meth:`num_evaluations` needs the grid.

    A grid of one level ``[σ_min]`` is plain (non-annealed) Langevin dynamics.
    """

    eps: float = 2e-5
    steps_per_level: int = 100
    final_denoise: bool = True
    temperature: float = 1.0
    temperature_sigma_max: Optional[float] = None
    level_steps: Sequence[Sequence[float]] = ()

    def __post_init__(self) -> None:
        check_positive("eps", self.eps)
        check_non_negative_int("steps_per_level", self.steps_per_level, minimum=1)
        check_positive("temperature", self.temperature)
        if self.temperature_sigma_max is not None:
            check_positive("temperature_sigma_max", self.temperature_sigma_max)
        self.level_steps = _sigma_windows(self.level_steps)

    def steps_at(self, sigma: float) -> int:
        """Langevin steps at noise level ``sigma`` (``level_steps`` window, else ``steps_per_level``)."""
        for lo, hi, n in self.level_steps:
            if lo <= sigma < hi:
                return n
        return self.steps_per_level

    def level_temperature(self, sigma: float) -> float:
        """The temperature used for the Langevin steps at noise level ``sigma``."""
        if self.temperature_sigma_max is None or sigma <= self.temperature_sigma_max:
            return self.temperature
        return 1.0

    def num_evaluations(self, sigmas: Tensor | int) -> int:
        """Network evaluations on the grid ``sigmas (N,)`` (an int N will do without ``level_steps``)."""
        if not torch.is_tensor(sigmas):
            if self.level_steps:
                raise TypeError("AnnealedLangevin with level_steps counts evaluations from the σ grid, not its length")
            return int(sigmas) * self.steps_per_level + int(self.final_denoise)
        return sum(self.steps_at(float(s)) for s in sigmas.detach().cpu()) + int(self.final_denoise)

    @torch.no_grad()
    def sample(self, score_fn: ScoreFn, x_init: Tensor, sigmas: Tensor, *, mask: Optional[Tensor] = None,
               cond: Cond = None, project: ProjectFn = identity_project,
               generator: Optional[torch.Generator] = None, return_trajectory: bool = False,
               progress: bool = False) -> SampleResult:
        run = SamplerRun(score_fn, x_init, sigmas, mask, cond, project, generator, return_trajectory, progress,
                         self.num_evaluations(sigmas), "annealed Langevin")
        x = run.settle(x_init.clone(), 0, run.sigmas[0])
        sigma_last = run.sigmas[-1]
        sigma_state = run.sigmas[0]     # the noise level the state is at: that of the last level sampled
        step = 0
        for sigma in run.sigmas:
            alpha = self.eps * (sigma / sigma_last) ** 2
            temperature = self.level_temperature(float(sigma))
            steps = self.steps_at(float(sigma))
            for _ in range(steps):
                x = x + (alpha / temperature) * run.score(x, sigma) + torch.sqrt(2 * alpha) * run.noise(x)
                step += 1
                x = run.settle(x, step, sigma)
            if steps:
                sigma_state = sigma
            run.record(x)
        if self.final_denoise:
            x = run.settle(x + sigma_state ** 2 * run.score(x, sigma_state), step + 1, sigma_state)
            run.record(x)
        return run.result(x)


def _sigma_windows(windows: Sequence[Sequence[float]]) -> tuple[tuple[float, float, int], ...]:
    """``level_steps`` checked and sorted: ``((σ_lo, σ_hi, n), ...)``, 0 ≤ σ_lo < σ_hi, n ≥ 0, no overlaps."""
    out = []
    for k, w in enumerate(windows or ()):
        try:
            lo, hi, n = (float(v) for v in w)
        except (TypeError, ValueError):
            raise InputError(f"sampler.level_steps[{k}] must be [sigma_lo, sigma_hi, steps], got {w!r}") from None
        if not (math.isfinite(lo) and 0 <= lo < hi) or int(n) != n or n < 0:
            raise InputError(f"sampler.level_steps[{k}] must have 0 <= sigma_lo < sigma_hi and an integer "
                             f"steps >= 0, got {list(w)!r}")
        out.append((lo, hi, int(n)))
    out.sort()
    for (lo1, hi1, _), (lo2, hi2, _) in zip(out, out[1:]):
        if lo2 < hi1:
            raise InputError(f"sampler.level_steps windows overlap: [{lo1}, {hi1}) and [{lo2}, {hi2})")
    return tuple(out)


@dataclass
class ReverseSDE:
    """Reverse-time VE SDE, Euler–Maruyama predictor, with optional Langevin corrector
    (predictor–corrector sampling, Song et al. 2021).

    Args:
        corrector_steps: Langevin corrector steps before each predictor step (0 = predictor only).
        snr: corrector signal-to-noise ratio r (step δ = 2 (r‖z‖/‖s‖)², norms averaged over the batch).
        final_denoise: take the last predictor step to σ = 0 without noise (Tweedie denoising).
    """

    corrector_steps: int = 0
    snr: float = 0.16
    final_denoise: bool = True

    def __post_init__(self) -> None:
        check_non_negative_int("corrector_steps", self.corrector_steps)
        check_positive("snr", self.snr)

    def num_evaluations(self, sigmas: Tensor | int) -> int:
        """Network evaluations on the grid ``sigmas (N,)`` or a grid of N levels."""
        num_levels = num_grid_levels(sigmas)
        steps = num_levels if self.final_denoise else num_levels - 1
        return steps * (1 + self.corrector_steps)

    @torch.no_grad()
    def sample(self, score_fn: ScoreFn, x_init: Tensor, sigmas: Tensor, *, mask: Optional[Tensor] = None,
               cond: Cond = None, project: ProjectFn = identity_project,
               generator: Optional[torch.Generator] = None, return_trajectory: bool = False,
               progress: bool = False) -> SampleResult:
        name = "predictor-corrector" if self.corrector_steps else "reverse SDE"
        run = SamplerRun(score_fn, x_init, sigmas, mask, cond, project, generator, return_trajectory, progress,
                         self.num_evaluations(sigmas), name)
        x = run.settle(x_init.clone(), 0, run.sigmas[0])
        targets = torch.cat([run.sigmas[1:], run.sigmas.new_zeros(1)]) if self.final_denoise else run.sigmas[1:]
        step = 0
        for i, sigma_next in enumerate(targets):
            sigma = run.sigmas[i]
            for _ in range(self.corrector_steps):
                x = self._corrector_step(run, x, sigma)
                step += 1
                x = run.settle(x, step, sigma)
            var = sigma ** 2 - sigma_next ** 2
            x = x + var * run.score(x, sigma)
            if sigma_next > 0:
                x = x + torch.sqrt(var) * run.noise(x)
            step += 1
            x = run.settle(x, step, sigma)
            run.record(x)
        return run.result(x)

    def _corrector_step(self, run: SamplerRun, x: Tensor, sigma: Tensor) -> Tensor:
        grad = run.score(x, sigma)
        z = run.noise(x)
        # Norms averaged over the batch, as in Song et al.'s reference implementation: a per-sample
        # ratio explodes for low-dimensional samples that sit where the score is ~0.
        grad_norm = grad.flatten(1).norm(dim=1).mean()
        noise_norm = z.flatten(1).norm(dim=1).mean()
        delta = 2 * (self.snr * noise_norm / grad_norm.clamp_min(1e-12)) ** 2
        return x + delta * grad + torch.sqrt(2 * delta) * z


@dataclass
class ProbabilityFlowODE:
    """Deterministic probability-flow ODE dx/dσ = −σ s(x, σ) (VE), integrated on the σ grid.

    Args:
        method: ``"euler"`` (1 evaluation per step) or ``"heun"`` (2nd order, 2 per step; the last
            step to σ = 0 is Euler).
        final_denoise: integrate the last step down to σ = 0.
    """

    method: Literal["euler", "heun"] = "heun"
    final_denoise: bool = True

    def __post_init__(self) -> None:
        if self.method not in ("euler", "heun"):
            raise InputError(f"sampler.method must be 'euler' or 'heun', got {self.method!r}")

    def num_evaluations(self, sigmas: Tensor | int) -> int:
        """Network evaluations on the grid ``sigmas (N,)`` or a grid of N levels."""
        num_levels = num_grid_levels(sigmas)
        steps = num_levels if self.final_denoise else num_levels - 1
        heun_steps = (num_levels - 1) if self.method == "heun" else 0
        return steps + heun_steps

    @torch.no_grad()
    def sample(self, score_fn: ScoreFn, x_init: Tensor, sigmas: Tensor, *, mask: Optional[Tensor] = None,
               cond: Cond = None, project: ProjectFn = identity_project,
               generator: Optional[torch.Generator] = None, return_trajectory: bool = False,
               progress: bool = False) -> SampleResult:
        run = SamplerRun(score_fn, x_init, sigmas, mask, cond, project, generator, return_trajectory, progress,
                         self.num_evaluations(sigmas), f"probability-flow ODE ({self.method})")
        x = run.settle(x_init.clone(), 0, run.sigmas[0])
        targets = torch.cat([run.sigmas[1:], run.sigmas.new_zeros(1)]) if self.final_denoise else run.sigmas[1:]
        for i, sigma_next in enumerate(targets):
            sigma = run.sigmas[i]
            d = -sigma * run.score(x, sigma)
            x_next = x + (sigma_next - sigma) * d
            if self.method == "heun" and sigma_next > 0:
                d_next = -sigma_next * run.score(x_next, sigma_next)
                x_next = x + (sigma_next - sigma) * 0.5 * (d + d_next)
            x = run.settle(x_next, i + 1, sigma)
            run.record(x)
        return run.result(x)


@dataclass
class EDMStochastic:
    """The stochastic sampler of Karras et al. (2022, "Elucidating the design space…", Alg. 2).

    On the grid σ_0 > … > σ_{N−1} (then σ_N = 0 when ``final_denoise``), step i:
    churn γ_i = min(S_churn/N, √2 − 1) when S_tmin ≤ σ_i ≤ S_tmax (else 0), σ̂ = σ_i(1 + γ_i),
    x̂ = x + √(σ̂² − σ_i²)·S_noise·z, then one probability-flow step from σ̂ to σ_{i+1} with the
    slope d = −σ̂ s(x̂, σ̂) (the ODE dx/dσ = −σ s), corrected by Heun's rule (the mean of d and the
    slope at the Euler point) unless σ_{i+1} = 0.  S_churn = 0 is the deterministic Heun ODE
    (:class:`ProbabilityFlowODE`); the churn re-injects the noise the ODE would otherwise carry
    along, so errors of the score are corrected as in Langevin dynamics.

    Args:
        s_churn: total churn S_churn ≥ 0 (EDM: 0–80 depending on the data set; γ_i = S_churn/N capped
            at √2 − 1).
        s_tmin, s_tmax: σ window of the churn (units of the data).
        s_noise: S_noise, the scale of the churn noise (EDM: 1.003–1.007; < 1 sharpens, like a
            lower temperature, but it is not one: no score or guidance scale is rescaled, and no
            tempered distribution is targeted).  This sampler has no temperature: a guidance
            scale w acts as w.
        heun: 2nd-order correction (2 evaluations per step, the last step to σ = 0 has 1).
        final_denoise: end with the step to σ = 0 (x = D(x̂)); otherwise stop at σ_{N−1}.

    Network evaluations: 2N − 1 with Heun and ``final_denoise`` (N levels), N without Heun.
    """

    s_churn: float = 0.0
    s_tmin: float = 0.0
    s_tmax: float = math.inf
    s_noise: float = 1.0
    heun: bool = True
    final_denoise: bool = True

    def __post_init__(self) -> None:
        for name in ("s_churn", "s_tmin"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise InputError(f"sampler.{name} must be a number >= 0, got {value!r}")
        if not (isinstance(self.s_tmax, (int, float)) and self.s_tmax > self.s_tmin):
            raise InputError(f"sampler.s_tmax must be larger than s_tmin, got {self.s_tmax!r}")
        check_positive("s_noise", self.s_noise)

    def num_evaluations(self, sigmas: Tensor | int) -> int:
        """Network evaluations on the grid ``sigmas (N,)`` or a grid of N levels."""
        num_levels = num_grid_levels(sigmas)
        steps = num_levels if self.final_denoise else num_levels - 1
        corrections = (num_levels - 1) if self.heun else 0
        return steps + corrections

    def churn(self, sigma: float, num_levels: int) -> float:
        """γ at a level σ of a grid of ``num_levels`` levels."""
        if not (self.s_tmin <= sigma <= self.s_tmax) or self.s_churn == 0:
            return 0.0
        return min(self.s_churn / num_levels, math.sqrt(2.0) - 1.0)

    @torch.no_grad()
    def sample(self, score_fn: ScoreFn, x_init: Tensor, sigmas: Tensor, *, mask: Optional[Tensor] = None,
               cond: Cond = None, project: ProjectFn = identity_project,
               generator: Optional[torch.Generator] = None, return_trajectory: bool = False,
               progress: bool = False) -> SampleResult:
        run = SamplerRun(score_fn, x_init, sigmas, mask, cond, project, generator, return_trajectory, progress,
                         self.num_evaluations(sigmas), "EDM stochastic" if self.s_churn else "EDM Heun")
        grid = [float(s) for s in sigmas.detach().cpu().double()]   # control flow on the host
        n = len(grid)
        targets = grid[1:] + ([0.0] if self.final_denoise else [])
        x = run.settle(x_init.clone(), 0, grid[0])
        for i, sigma_next in enumerate(targets):
            sigma = grid[i]
            gamma = self.churn(sigma, n)
            sigma_hat = sigma * (1.0 + gamma)
            if gamma > 0:
                x = x + math.sqrt(sigma_hat ** 2 - sigma ** 2) * self.s_noise * run.noise(x)
            d = -sigma_hat * run.score(x, sigma_hat)
            x_next = x + (sigma_next - sigma_hat) * d
            if self.heun and sigma_next > 0:
                d_next = -sigma_next * run.score(x_next, sigma_next)
                x_next = x + (sigma_next - sigma_hat) * 0.5 * (d + d_next)
            x = run.settle(x_next, i + 1, sigma)
            run.record(x)
        return run.result(x)
