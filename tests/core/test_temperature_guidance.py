"""The one rule for temperature and guidance (docs/maths.md, "Temperature and guidance scales"):
``AnnealedLangevin(temperature=T)`` divides the whole composed score — base score and every guidance
term — by T, so its Langevin steps at level σ target (p_σ · l^w)^(1/T) = p_σ^(1/T) · l^(w/T): a
guidance scale w acts as w/T on the likelihood, and the prior is tempered by the same 1/T.

Known answer: prior N(μ₀, s₀²) with the exact noised score −(x − μ₀)/(s₀² + σ²) and a Gaussian
likelihood l(x) = N(y; x, τ²) as a guidance term (``RegressionGuidance`` with f(x) = x, scale w).
A chain x ← x + α(c_p s_p + c_l w ∇log l) + √(2α) z (c_p, c_l: the factors applied to the prior's
and the likelihood's parts) on these Gaussians is stationary at the Gaussian of precision
P = c_p a + c_l w/τ², a = 1/(s₀² + σ²), mean (c_p a μ₀ + c_l w y/τ²)/P and variance
1/(P (1 − αP/2)) — exact for the discrete chain, so only Monte Carlo error remains.  The rule is
c_p = c_l = 1/T; the rules it excludes, T on the prior only (c_l = 1) or on the guidance only
(c_p = 1), predict means 0.67 / 1.33 instead of 1.00 at T = ½, far outside the tolerances.
"""

from __future__ import annotations

import pytest
import torch

from proteindsm.core import AnnealedLangevin, GeometricSchedule, RegressionGuidance, prior_sample, with_guidance

MU0, S0 = 0.0, 1.0          # prior N(μ₀, s₀²)
Y, TAU, W = 2.0, 1.0, 1.0   # likelihood N(y; x, τ²), guidance scale w
SIGMA_MAX, SIGMA_MIN, LEVELS = 0.5, 0.05, 10
EPS, STEPS = 2e-3, 600      # α at the last level = ε (α_i = ε σ_i²/σ_N²); ~5 relaxation times per level
N = 20000                   # independent chains: s.e. of the mean ≈ 0.004, of the variance ≈ 0.003
TOL_MEAN, TOL_VAR = 0.02, 0.015


def prior_score(x, sigma, cond=None):
    return -(x - MU0) / (S0 ** 2 + sigma[:, None] ** 2)


def stationary(prior_factor: float, likelihood_factor: float) -> tuple[float, float]:
    """Mean and variance of the chain at the last level σ_N (module docstring), step α = ε."""
    a = 1.0 / (S0 ** 2 + SIGMA_MIN ** 2)
    precision = prior_factor * a + likelihood_factor * W / TAU ** 2
    mean = (prior_factor * a * MU0 + likelihood_factor * W * Y / TAU ** 2) / precision
    return mean, 1.0 / (precision * (1.0 - EPS * precision / 2.0))


def guided_langevin(temperature: float) -> torch.Tensor:
    guided = with_guidance(prior_score, [RegressionGuidance(lambda x, s, c: x[:, 0], Y, TAU, W)])
    g = torch.Generator().manual_seed(7)
    x0 = prior_sample((N, 1), SIGMA_MAX, generator=g, dtype=torch.float64)
    sigmas = GeometricSchedule(SIGMA_MIN, SIGMA_MAX, LEVELS).levels(dtype=torch.float64)
    sampler = AnnealedLangevin(eps=EPS, steps_per_level=STEPS, final_denoise=False, temperature=temperature)
    return sampler.sample(guided, x0, sigmas, generator=g).x[:, 0]


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_tempered_guided_langevin_targets_the_tempered_posterior(temperature):
    x = guided_langevin(temperature)
    got_mean, got_var = float(x.mean()), float(x.var())
    mean, var = stationary(1 / temperature, 1 / temperature)          # the rule: (p_σ · l^w)^(1/T)
    assert abs(got_mean - mean) < TOL_MEAN, (got_mean, mean)
    assert abs(got_var - var) < TOL_VAR, (got_var, var)
    if temperature != 1.0:
        # the tolerances would fail for the other rules: T on the prior only, T on the guidance only
        for other in (stationary(1 / temperature, 1.0), stationary(1.0, 1 / temperature)):
            assert abs(got_mean - other[0]) > 10 * TOL_MEAN and abs(got_var - other[1]) > 5 * TOL_VAR, other
