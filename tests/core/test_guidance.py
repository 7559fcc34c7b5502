"""Core guidance terms on small cases with known answers (no protein code)."""

from __future__ import annotations

import math

import pytest
import torch

from proteindsm.core import CalibratedRegressionGuidance, Evaluation, NoiseAwareDenoisedGuidance, RegressionGuidance
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
    got = term(Evaluation.at(x, sigma, None, torch.zeros_like(x)))
    # ∇ −(x·w − y*)²/(2v) = (y* − x·w)/v · w  at x = 0
    want = 2.0 * (1.0 / (0.25 + want_eps ** 2))[:, None] * w
    assert torch.allclose(got, want)
    # with a zero error table it is the plain regression term
    plain = RegressionGuidance(_linear(w), 1.0, 0.5, 2.0)(Evaluation.at(x, sigma, None, torch.zeros_like(x)))
    flat = CalibratedRegressionGuidance(_linear(w), 1.0, 0.5, 2.0, (1.0,), (0.0,))(Evaluation.at(x, sigma, None, torch.zeros_like(x)))
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
    got = term(Evaluation.at(x, sigma, None, base))
    x0 = x / (1 + sigma[:, None] ** 2)
    coef = (2.0 - (x0 * a).sum(-1)) / (0.3 ** 2 + sigma ** 2 * (a ** 2).sum())
    assert torch.allclose(got, 1.5 * coef[:, None] * a)
    # the pull fades with σ: same residual, much weaker at σ = 4
    assert coef[1].abs() < 0.1 * (2.0 - (x0[1] * a).sum()).abs() / 0.3 ** 2


def test_potential_guidance_known_answer_and_sigma_window():
    """U(x̂₀) = ½‖x̂₀ − c‖² gives −w(x̂₀ − c) where σ ≤ sigma_max, 0 above; /σ² when asked."""
    from proteindsm.core import PotentialGuidance

    c = torch.tensor([1.0, -1.0], dtype=torch.float64)
    energy = lambda x0, cond=None: 0.5 * ((x0 - c) ** 2).sum(-1)              # noqa: E731
    x = torch.tensor([[0.0, 0.0], [2.0, 1.0], [3.0, 3.0]], dtype=torch.float64)
    base = -x                                                                  # data N(0, ·): any fixed score
    sigma = torch.tensor([0.1, 0.5, 2.0], dtype=torch.float64)
    x0 = x + sigma[:, None] ** 2 * base
    got = PotentialGuidance(energy, scale=3.0, sigma_max=1.0)(Evaluation.at(x, sigma, None, base))
    want = -3.0 * (x0 - c) * torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)[:, None]
    assert torch.allclose(got, want)
    rel = PotentialGuidance(energy, scale=3.0, sigma_max=1.0, inverse_sigma_squared=True)(Evaluation.at(x, sigma, None, base))
    assert torch.allclose(rel, want / sigma[:, None] ** 2)
    everywhere = PotentialGuidance(energy, scale=3.0)(Evaluation.at(x, sigma, None, base))
    assert torch.allclose(everywhere, -3.0 * (x0 - c))
    off = PotentialGuidance(energy, scale=3.0, sigma_max=0.01)(Evaluation.at(x, sigma, None, base))
    assert torch.equal(off, torch.zeros_like(x))
    with pytest.raises(InputError, match="sigma_max"):
        PotentialGuidance(energy, sigma_max=0.0)


def test_potential_guidance_samples_the_product_of_experts():
    """Langevin on N(0, 1) plus w·U with U = ½(x − 2)² targets N(2w/(1+w), 1/(1+w)) at the finest
    levels (σ ≤ 0.1 on data of scale 1: x̂₀ ≈ 0.99 x, within the tolerance)."""
    from proteindsm.core import AnnealedLangevin, GeometricSchedule, PotentialGuidance, with_guidance, prior_sample

    def score(x, sigma, cond=None):          # data N(0, 1): p_σ = N(0, 1 + σ²)
        return -x / (1 + sigma[:, None] ** 2)

    w = 1.0
    term = PotentialGuidance(lambda x0, cond=None: 0.5 * ((x0 - 2.0) ** 2).sum(-1), scale=w, sigma_max=1.0)
    sched = GeometricSchedule(sigma_min=0.1, sigma_max=10.0, num_levels=10)
    g = torch.Generator().manual_seed(0)
    x = prior_sample((20000, 1), 10.0, generator=g, dtype=torch.float64)
    out = AnnealedLangevin(eps=1e-2, steps_per_level=300, final_denoise=False).sample(
        with_guidance(score, [term]), x, sched.levels(dtype=torch.float64), generator=g).x
    assert abs(float(out.mean()) - 2 * w / (1 + w)) < 0.03, float(out.mean())
    assert abs(float(out.var()) - 1 / (1 + w)) < 0.03, float(out.var())


# ------------------------------------------------------------------------------ ProjectionGuidance
def _outside_ball(radius: float):
    """U(x) = relu(|x| − r)² per row: zero in the ball, its projection is r·x/|x| (known answer)."""
    return lambda x, cond=None: torch.relu(x.norm(dim=-1) - radius).pow(2)


def test_projection_guidance_moves_the_denoised_estimate_onto_the_restraint():
    from proteindsm.core import ProjectionGuidance

    term = ProjectionGuidance(_outside_ball(1.0), scale=0.5, sigma_max=2.0, sigma_min=0.2, iterations=60, step=0.2)
    x = torch.tensor([[3.0, 4.0], [0.3, 0.4], [3.0, 4.0], [3.0, 4.0]], dtype=torch.float64)
    sigma = torch.tensor([0.5, 0.5, 3.0, 0.1], dtype=torch.float64)
    base = torch.tensor([[-4.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]], dtype=torch.float64)   # x̂₀ = x + σ² s
    got = term(Evaluation.at(x, sigma, None, base))
    x0 = torch.tensor([2.0, 4.0], dtype=torch.float64)
    want0 = 0.5 * (x0 / x0.norm() - x0) / 0.25                  # w (P(x̂₀) − x̂₀) / σ²
    assert torch.allclose(got[0], want0, atol=1e-9)
    assert torch.equal(got[1], torch.zeros(2, dtype=torch.float64))      # inside: U = 0, no pull
    assert torch.equal(got[2], torch.zeros(2, dtype=torch.float64))      # σ > sigma_max: off
    assert torch.equal(got[3], torch.zeros(2, dtype=torch.float64))      # σ < sigma_min: off


def test_projection_guided_langevin_keeps_samples_in_the_restraint():
    """A 2-D standard Gaussian restricted to the unit disc by the projection term: annealed Langevin
    ends inside the disc (|x| ≤ 1 up to the last step's noise), where the unguided sampler does not."""
    from proteindsm.core import AnnealedLangevin, GeometricSchedule, ProjectionGuidance, with_guidance

    def score(x, sigma, cond=None):                              # N(0, I) noised: N(0, (1 + σ²) I)
        return -x / (1.0 + sigma[:, None] ** 2)

    sigmas = GeometricSchedule(sigma_min=0.01, sigma_max=3.0, num_levels=30).levels()
    sampler = AnnealedLangevin(eps=2e-5 * 2.5, steps_per_level=10, temperature=0.5)   # α/T = σ²
    g = torch.Generator().manual_seed(0)
    x_init = 3.0 * torch.randn(512, 2, generator=g)
    guided = with_guidance(score, [ProjectionGuidance(_outside_ball(0.5), scale=1.0, iterations=40, step=0.2)])
    inside = sampler.sample(guided, x_init, sigmas, generator=torch.Generator().manual_seed(1)).x.norm(dim=-1)
    free = sampler.sample(score, x_init, sigmas, generator=torch.Generator().manual_seed(1)).x.norm(dim=-1)
    assert float(inside.max()) < 0.5 + 0.05
    assert float((free > 0.55).float().mean()) > 0.3


@pytest.mark.parametrize("kwargs, message", [({"scale": 1.5}, "scale w must be"), ({"sigma_max": -1.0}, "sigma_max"),
                                             ({"iterations": 0}, "iterations"), ({"step": 0.0}, "step"),
                                             ({"sigma_min": 3.0, "sigma_max": 2.0}, "sigma_min")])
def test_projection_guidance_rejects_bad_settings(kwargs, message):
    from proteindsm.core import ProjectionGuidance

    with pytest.raises(InputError, match=message):
        ProjectionGuidance(_outside_ball(1.0), **kwargs)


# ------------------------------------------------------------------------------ one x̂₀ per evaluation
def _x0_terms():
    from proteindsm.core import DenoisedPropertyGuidance, PotentialGuidance, ProjectionGuidance

    prop = lambda x0, cond=None: (x0 ** 2).sum(-1)                       # noqa: E731
    energy = lambda x0, cond=None: torch.relu(x0.norm(dim=-1) - 1.0) ** 2  # noqa: E731
    return [DenoisedPropertyGuidance(prop, 1.0, 0.5, 1.2), DenoisedPropertyGuidance(prop, 1.0, 0.5, 1.2, sigma_data=2.0),
            NoiseAwareDenoisedGuidance(prop, 1.0, 0.5, 0.8), PotentialGuidance(energy, 0.7, 5.0),
            PotentialGuidance(energy, 0.7, inverse_sigma_squared=True), ProjectionGuidance(energy, 0.5, 5.0, iterations=10)]


def test_with_guidance_computes_the_denoised_estimate_once(monkeypatch):
    """Every x̂₀ term in one guided evaluation: denoised_estimate runs once, and all terms get the same
    tensor x + σ² s."""
    import proteindsm.core.guidance as guidance
    from proteindsm.core import with_guidance

    calls = []
    real = guidance.denoised_estimate
    monkeypatch.setattr(guidance, "denoised_estimate", lambda *a: calls.append(1) or real(*a))
    seen = []

    def spy(ev):
        seen.append(ev.x0_hat)
        return torch.zeros_like(ev.x)

    score = lambda x, sigma, cond=None: -x / (1 + sigma[:, None] ** 2)          # noqa: E731
    x = torch.tensor([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0]], dtype=torch.float64)
    sigma = torch.tensor([0.4, 2.0], dtype=torch.float64)
    guided = with_guidance(score, [spy, *_x0_terms(), spy])
    out = guided(x, sigma)
    assert len(calls) == 1 and torch.isfinite(out).all()
    assert seen[0] is seen[1]
    assert torch.equal(seen[0], x + sigma[:, None] ** 2 * score(x, sigma))
    guided(x, sigma)
    assert len(calls) == 2                                                      # once per evaluation


def test_terms_read_the_denoised_estimate_from_the_evaluation():
    """A term's output depends on x̂₀ only through ``ev.x0_hat``: with a NaN base score (which any
    recomputation x + σ² s would propagate) it equals the term at x = x̂₀ with a zero score."""
    x0 = torch.tensor([[1.5, -0.5, 0.2], [0.1, 0.9, -2.0]], dtype=torch.float64)
    sigma = torch.tensor([0.7, 3.0], dtype=torch.float64)
    nan = torch.full_like(x0, float("nan"))
    for term in _x0_terms():
        got = term(Evaluation(x=torch.zeros_like(x0), sigma=sigma, cond=None, score=nan, x0_hat=x0))
        want = term(Evaluation.at(x0, sigma, None, torch.zeros_like(x0)))
        assert torch.equal(got, want), type(term).__name__
