"""Core guidance terms on small cases with known answers (no protein code)."""

from __future__ import annotations

import math

import pytest
import torch

from proteindsm.core import CalibratedRegressionGuidance, NoiseAwareDenoisedGuidance, RegressionGuidance
from proteindsm.errors import InputError


def _linear(w: torch.Tensor):
    """f(x, σ) = x · w: a regressor whose gradient is w."""
    return lambda x, sigma, cond=None: (x * w).sum(-1)


def test_calibrated_regression_interpolates_in_log_sigma_and_clamps():
    w = torch.tensor([1.0, -2.0], dtype=torch.float64)
    term = CalibratedRegressionGuidance(_linear(w), target=1.0, tolerance=0.5, scale=2.0,
                                        sigma_grid=(0.1, 10.0), rmse=(0.0, 1.0))
    sigma = torch.tensor([0.01, 0.1, 1.0, 10.0, 100.0], dtype=torch.float64)
    # log-midpoint σ = 1 gets ε = 0.5; outside the table ε is the end value
    want_eps = torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0], dtype=torch.float64)
    assert torch.allclose(term.variance(sigma), 0.25 + want_eps ** 2)
    x = torch.zeros(5, 2, dtype=torch.float64)
    got = term(x, sigma, None, torch.zeros_like(x))
    # ∇ −(x·w − y*)²/(2v) = (y* − x·w)/v · w  at x = 0
    want = 2.0 * (1.0 / (0.25 + want_eps ** 2))[:, None] * w
    assert torch.allclose(got, want)
    # with a zero error table it is the plain regression term
    plain = RegressionGuidance(_linear(w), 1.0, 0.5, 2.0)(x, sigma, None, torch.zeros_like(x))
    flat = CalibratedRegressionGuidance(_linear(w), 1.0, 0.5, 2.0, (1.0,), (0.0,))(x, sigma, None, torch.zeros_like(x))
    assert torch.allclose(flat, plain)


@pytest.mark.parametrize("grid,rmse", [((), ()), ((1.0, 0.5), (0.1, 0.2)), ((1.0,), (0.1, 0.2)),
                                       ((0.0, 1.0), (0.1, 0.2)), ((1.0,), (-0.1,)), ((1.0,), (math.nan,))])
def test_calibrated_regression_rejects_bad_tables(grid, rmse):
    with pytest.raises(InputError, match="calibration table"):
        CalibratedRegressionGuidance(_linear(torch.ones(2)), 0.0, 1.0, 1.0, grid, rmse)


def test_noise_aware_denoised_guidance_on_a_gaussian():
    """Data N(0, I) in d dims: s(x, σ) = −x/(1+σ²), x̂₀ = x/(1+σ²).  With g(x̂₀) = a·x̂₀ the term is
    w (y* − a·x̂₀)/(τ² + σ²‖a‖²) · a  (∇g = a, uncertainty σ²‖a‖²)."""
    a = torch.tensor([0.5, 1.0, -1.0], dtype=torch.float64)
    term = NoiseAwareDenoisedGuidance(lambda x0, cond=None: (x0 * a).sum(-1), target=2.0, tolerance=0.3, scale=1.5)
    x = torch.tensor([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]], dtype=torch.float64)
    sigma = torch.tensor([0.5, 4.0], dtype=torch.float64)
    base = -x / (1 + sigma[:, None] ** 2)
    got = term(x, sigma, None, base)
    x0 = x / (1 + sigma[:, None] ** 2)
    coef = (2.0 - (x0 * a).sum(-1)) / (0.3 ** 2 + sigma ** 2 * (a ** 2).sum())
    assert torch.allclose(got, 1.5 * coef[:, None] * a)
    # the pull fades with σ: same residual, much weaker at σ = 4
    assert coef[1].abs() < 0.1 * (2.0 - (x0[1] * a).sum()).abs() / 0.3 ** 2
