"""Classifier / regression guidance with analytic likelihoods: the guided samples have the posterior's
known mean.

Regression guidance, derived for data x₀ ~ N(0, s² I) and a measurement y = x₀[0] + N(0, τ²):
  posterior        x₀[0] | y ~ N(y s²/(s² + τ²), s² τ²/(s² + τ²)),  x₀[1] unchanged;
  noise-conditional likelihood (x_σ = x₀ + σ ε): x₀ | x_σ ~ N(a x_σ, a σ² I) with a = s²/(s² + σ²), so
      p(y | x_σ) = N(y; a x_σ[0], τ_eff²),  τ_eff² = τ² + a σ²,
  and ∇ log p_σ(x | y) = ∇ log p_σ(x) + a (y − a x[0]) / τ_eff² · e₀  (Bayes' rule, exact).

Classifier guidance: the two components of ⅕N((5,5), I) + ⅘N((−5,−5), I) have equal covariance, so the
exact noise-conditional classifier p(k | x_σ) (``component_logits``) has logits linear in x_σ and
∇ log p_σ(x) + ∇ log p(k = 0 | x_σ) = ∇ log N(x; (5, 5), (1 + σ²) I): the guided samples are
N((5, 5), I) — the mean moves from the mixture's (−3, −3) by (8, 8).
"""

from __future__ import annotations

import torch

from proteindsm.core import (AnnealedLangevin, ClassifierGuidance, GeometricSchedule, RegressionGuidance,
                             ReverseSDE, prior_sample, with_guidance)
from proteindsm.toy.datasets import TwoGaussians

S, TAU, Y = 1.0, 0.5, 2.0
N = 20000


def gaussian_score(x, sigma, cond=None):
    return -x / (S ** 2 + sigma[:, None] ** 2)


def a_of(sigma):
    return S ** 2 / (S ** 2 + sigma ** 2)


def tau_eff(sigma):
    return torch.sqrt(TAU ** 2 + a_of(sigma) * sigma ** 2)


def analytic_term(ev):
    """∇_x log p(y | x_σ) in closed form (a user's guidance term, reading x and σ of the Evaluation)."""
    x, sigma = ev.x, ev.sigma
    a = a_of(sigma)
    g = torch.zeros_like(x)
    g[:, 0] = a * (Y - a * x[:, 0]) / tau_eff(sigma) ** 2
    return g


def predictor(x, sigma, cond=None):
    """A σ-dependent regressor whose Gaussian log-likelihood with tolerance τ equals log p(y | x_σ):
    f = y + (a x[0] − y) τ/τ_eff, so −(f − y)²/(2τ²) = −(a x[0] − y)²/(2τ_eff²)."""
    return Y + (a_of(sigma) * x[:, 0] - Y) * TAU / tau_eff(sigma)


def sample_reverse_sde(score_fn, seed=0, n=N):
    g = torch.Generator().manual_seed(seed)
    sched = GeometricSchedule(0.01, 50.0, 200)
    x0 = prior_sample((n, 2), sched.sigma_max, generator=g, dtype=torch.float64)
    return ReverseSDE().sample(score_fn, x0, sched.levels(dtype=torch.float64), generator=g).x


def test_posterior_formula_matches_guided_sampling_with_user_term():
    x = sample_reverse_sde(with_guidance(gaussian_score, [analytic_term]))
    post_mean = Y * S ** 2 / (S ** 2 + TAU ** 2)                    # 1.6
    post_std = (S ** 2 * TAU ** 2 / (S ** 2 + TAU ** 2)) ** 0.5       # 0.447
    assert abs(x[:, 0].mean() - post_mean) < 0.02
    assert abs(x[:, 0].std() - post_std) < 0.02
    assert abs(x[:, 1].mean()) < 0.03 and abs(x[:, 1].std() - S) < 0.03


def test_regression_guidance_shifts_mean_by_predicted_amount():
    base = sample_reverse_sde(gaussian_score)
    guided = sample_reverse_sde(with_guidance(gaussian_score, [RegressionGuidance(predictor, Y, TAU, 1.0)]))
    shift = guided.mean(0) - base.mean(0)
    assert abs(shift[0] - Y * S ** 2 / (S ** 2 + TAU ** 2)) < 0.03, shift   # predicted: 1.6
    assert abs(shift[1]) < 0.03
    assert abs(guided[:, 0].std() - 0.4472) < 0.02


def test_classifier_guidance_moves_samples_to_the_target_component():
    ds = TwoGaussians()
    guided = with_guidance(ds.score, [ClassifierGuidance(ds.component_logits, target_class=0, scale=1.0)])
    # reverse SDE
    x = sample_reverse_sde(guided, n=10000)
    assert torch.allclose(x.mean(0), torch.tensor([5.0, 5.0], dtype=x.dtype), atol=0.05)
    assert torch.allclose(x.std(0), torch.ones(2, dtype=x.dtype), atol=0.03)
    assert (ds.mode_of(x) == 0).double().mean() > 0.995
    # annealed Langevin (Song & Ermon's toy settings), from a uniform start on [−8, 8]²
    g = torch.Generator().manual_seed(1)
    x = AnnealedLangevin(eps=0.1, steps_per_level=100).sample(
        guided, torch.rand(2000, 2, generator=g) * 16 - 8, GeometricSchedule(1.0, 20.0, 10).levels(), generator=g).x
    assert torch.allclose(x.mean(0), torch.tensor([5.0, 5.0]), atol=0.06)
    assert (ds.mode_of(x) == 0).float().mean() > 0.995
