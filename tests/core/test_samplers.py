"""Samplers recover a Gaussian target from its exact score; bad input is rejected clearly."""

from __future__ import annotations

import pytest
import torch

from proteindsm.core import (AnnealedLangevin, EDMStochastic, GeometricSchedule, ProbabilityFlowODE, ReverseSDE, prior_sample,
                             sampling_sigmas)
from proteindsm.errors import InputError, SamplerDivergedError

from .gaussians import gaussian_score

MEAN = torch.tensor([2.0, -1.0])
STD = 0.5
N = 20000


def _run(sampler, levels: int):
    # σ_max ≫ |mean|: the prior N(0, σ_max²) then matches the noised target N(μ, s² + σ_max²), which
    # matters for the deterministic ODE (it maps the prior mismatch through to the output).
    sched = GeometricSchedule(sigma_min=0.01, sigma_max=100.0, num_levels=levels)
    g = torch.Generator().manual_seed(0)
    x0 = prior_sample((N, 2), sched.sigma_max, generator=g, dtype=torch.float64)
    return sampler.sample(gaussian_score(MEAN, STD), x0, sched.levels(dtype=torch.float64), generator=g).x


@pytest.mark.parametrize(
    "sampler,levels,tol_mean,tol_std",
    [
        (ReverseSDE(), 500, 0.03, 0.03),
        (ReverseSDE(corrector_steps=1, snr=0.16), 200, 0.03, 0.03),
        (ProbabilityFlowODE(method="euler"), 500, 0.03, 0.03),
        (ProbabilityFlowODE(method="heun"), 100, 0.03, 0.02),
        (AnnealedLangevin(eps=2e-5, steps_per_level=100), 10, 0.03, 0.03),
    ],
    ids=["reverse_sde", "predictor_corrector", "ode_euler", "ode_heun", "annealed_langevin"],
)
def test_sampler_recovers_gaussian(sampler, levels, tol_mean, tol_std):
    x = _run(sampler, levels)
    assert torch.isfinite(x).all()
    assert torch.allclose(x.mean(0), MEAN.double(), atol=tol_mean), x.mean(0)
    assert torch.allclose(x.std(0), torch.full((2,), STD, dtype=torch.float64), atol=tol_std), x.std(0)


def test_annealed_langevin_temperature_scales_the_variance():
    """Langevin with s/T targets p^(1/T): for N(μ, s²) that is N(μ, T s²)."""
    x = _run(AnnealedLangevin(eps=2e-5, steps_per_level=100, temperature=0.5), 10)
    assert torch.allclose(x.mean(0), MEAN.double(), atol=0.03), x.mean(0)
    assert torch.allclose(x.std(0), torch.full((2,), STD * 0.5 ** 0.5, dtype=torch.float64), atol=0.02), x.std(0)


def test_annealed_langevin_temperature_window():
    """``temperature_sigma_max`` tempers only the levels at or below it: a window below the grid is
    the untempered sampler (bitwise), one above it the fully tempered one; a window covering the
    levels σ ≤ 1 (where this grid's steps still equilibrate) leaves the tempered N(μ, T s²)."""
    base = _run(AnnealedLangevin(eps=2e-5, steps_per_level=100), 10)
    tempered = _run(AnnealedLangevin(eps=2e-5, steps_per_level=100, temperature=0.5), 10)
    below = _run(AnnealedLangevin(eps=2e-5, steps_per_level=100, temperature=0.5, temperature_sigma_max=1e-3), 10)
    above = _run(AnnealedLangevin(eps=2e-5, steps_per_level=100, temperature=0.5, temperature_sigma_max=1e3), 10)
    fine = _run(AnnealedLangevin(eps=2e-5, steps_per_level=100, temperature=0.5, temperature_sigma_max=1.0), 10)
    assert torch.equal(below, base) and torch.equal(above, tempered)
    assert not torch.equal(fine, base) and not torch.equal(fine, tempered)
    assert torch.allclose(fine.std(0), torch.full((2,), STD * 0.5 ** 0.5, dtype=torch.float64), atol=0.02), fine.std(0)
    assert AnnealedLangevin(temperature=0.5, temperature_sigma_max=1.0).level_temperature(2.0) == 1.0


def test_annealed_langevin_level_steps_known_answer():
    """``level_steps`` spends the steps in σ windows: one step on each coarse level and 100 on the
    levels σ < 1 still reach N(μ, s²), with the evaluations counted from the grid."""
    sampler = AnnealedLangevin(eps=2e-5, steps_per_level=1, level_steps=[[0.0, 1.0, 100]])
    grid = GeometricSchedule(sigma_min=0.01, sigma_max=100.0, num_levels=10).levels(dtype=torch.float64)
    assert sampler.num_evaluations(grid) == 5 * 1 + 5 * 100 + 1
    g = torch.Generator().manual_seed(0)
    res = sampler.sample(gaussian_score(MEAN, STD), prior_sample((N, 2), 100.0, generator=g, dtype=torch.float64),
                         grid, generator=g)
    assert res.num_evaluations == sampler.num_evaluations(grid)
    assert torch.allclose(res.x.mean(0), MEAN.double(), atol=0.03), res.x.mean(0)
    assert torch.allclose(res.x.std(0), torch.full((2,), STD, dtype=torch.float64), atol=0.03), res.x.std(0)
    # too few steps where it matters: the coarse levels alone leave the wrong width
    coarse = AnnealedLangevin(eps=2e-5, steps_per_level=100, level_steps=[[0.0, 1.0, 1]])
    x = _run(coarse, 10)
    assert not torch.allclose(x.std(0), torch.full((2,), STD, dtype=torch.float64), atol=0.03), x.std(0)


def test_annealed_langevin_level_steps_window_over_every_level_is_the_plain_sampler():
    plain = _run(AnnealedLangevin(eps=2e-5, steps_per_level=20), 10)
    windowed = _run(AnnealedLangevin(eps=2e-5, steps_per_level=3, level_steps=[[0.0, 1e9, 20]]), 10)
    assert torch.equal(plain, windowed)
    skip = AnnealedLangevin(steps_per_level=2, level_steps=[[0.0, 0.5, 0], [0.5, 2.0, 4]])
    assert [skip.steps_at(s) for s in (0.1, 0.5, 1.9, 2.0)] == [0, 4, 4, 2]


def test_annealed_langevin_final_denoising_uses_the_last_level_sampled():
    """With the last levels skipped (n = 0) the state is at the noise of the last level sampled, σ_k;
    the final Tweedie step must use σ_k: from N(μ, s² + σ_k²) it gives N(μ, s⁴/(s² + σ_k²))."""
    grid = GeometricSchedule(sigma_min=0.01, sigma_max=100.0, num_levels=10).levels(dtype=torch.float64)
    sigma_k = float(grid[grid >= 0.5][-1])                      # the last level at or above 0.5
    sampler = AnnealedLangevin(eps=2e-5, steps_per_level=100, level_steps=[[0.0, 0.5, 0]])
    g = torch.Generator().manual_seed(0)
    x = sampler.sample(gaussian_score(MEAN, STD), prior_sample((N, 2), 100.0, generator=g, dtype=torch.float64),
                       grid, generator=g).x
    want = STD ** 2 / (STD ** 2 + sigma_k ** 2) ** 0.5
    assert torch.allclose(x.mean(0), MEAN.double(), atol=0.03), x.mean(0)
    assert torch.allclose(x.std(0), torch.full((2,), want, dtype=torch.float64), atol=0.02), (x.std(0), want)


@pytest.mark.parametrize("windows,match", [
    ([[0.0, 1.0, 2], [0.5, 3.0, 1]], "overlap"),
    ([[1.0, 0.5, 2]], "sigma_lo < sigma_hi"),
    ([[0.0, 1.0, -1]], "steps >= 0"),
    ([[0.0, 1.0, 1.5]], "integer"),
    ([[0.0, 1.0]], r"level_steps\[0\] must be \[sigma_lo, sigma_hi, steps\]"),
])
def test_annealed_langevin_level_steps_rejects_bad_windows(windows, match):
    with pytest.raises(InputError, match=match):
        AnnealedLangevin(level_steps=windows)


def test_annealed_langevin_level_steps_needs_the_grid_to_count():
    with pytest.raises(TypeError, match="grid"):
        AnnealedLangevin(level_steps=[[0.0, 1.0, 3]]).num_evaluations(10)
    assert AnnealedLangevin(steps_per_level=3).num_evaluations(10) == 31


def test_trajectory_and_evaluation_count():
    sched = GeometricSchedule(0.01, 10.0, 5)
    s = ReverseSDE(corrector_steps=2)
    g = torch.Generator().manual_seed(1)
    res = s.sample(gaussian_score(MEAN, STD), prior_sample((8, 2), 10.0, generator=g), sched.levels(),
                   generator=g, return_trajectory=True)
    assert len(res.trajectory) == 1 + 5
    assert res.num_evaluations == s.num_evaluations(5) == 15


def test_seeded_runs_are_reproducible():
    sched = GeometricSchedule(0.01, 10.0, 5)
    outs = []
    for _ in range(2):
        g = torch.Generator().manual_seed(3)
        x0 = prior_sample((4, 2), 10.0, generator=g)
        outs.append(AnnealedLangevin(steps_per_level=5).sample(gaussian_score(MEAN, STD), x0, sched.levels(),
                                                               generator=g).x)
    assert torch.equal(outs[0], outs[1])


def test_divergence_names_step_and_sigma():
    sched = GeometricSchedule(0.01, 10.0, 3)
    with pytest.raises(SamplerDivergedError, match=r"step \d+ \(σ = "):
        AnnealedLangevin(eps=1e6, steps_per_level=50).sample(
            lambda x, s, c=None: x * 1e3, torch.ones(2, 2), sched.levels())


@pytest.mark.parametrize("make", [
    lambda: AnnealedLangevin(eps=0.0),
    lambda: AnnealedLangevin(eps=-1),
    lambda: AnnealedLangevin(steps_per_level=0),
    lambda: AnnealedLangevin(temperature=0.0),
    lambda: AnnealedLangevin(temperature_sigma_max=0.0),
    lambda: ReverseSDE(snr=0),
    lambda: ReverseSDE(corrector_steps=-1),
    lambda: ProbabilityFlowODE(method="rk4"),
    lambda: GeometricSchedule(sigma_min=1.0, sigma_max=1.0),
    lambda: GeometricSchedule(sigma_min=2.0, sigma_max=1.0),
    lambda: GeometricSchedule(sigma_min=0.0, sigma_max=1.0),
    lambda: GeometricSchedule(sigma_min=0.1, sigma_max=1.0, num_levels=0),
])
def test_bad_sampler_and_schedule_arguments(make):
    with pytest.raises(InputError):
        make()


def test_bad_sigma_grid():
    with pytest.raises(InputError, match="descending"):
        ReverseSDE().sample(gaussian_score(MEAN, STD), torch.zeros(2, 2), torch.tensor([0.1, 1.0]))


@pytest.mark.parametrize("sampler,levels,rho", [
    (EDMStochastic(), 60, None),                                   # churn 0: the Heun ODE
    (EDMStochastic(s_churn=40.0), 40, 7.0),                         # stochastic, EDM spacing, 79 evals
    (EDMStochastic(s_churn=40.0, heun=False), 200, None),
], ids=["edm_heun", "edm_churn_rho7", "edm_churn_euler"])
def test_edm_sampler_recovers_gaussian(sampler, levels, rho):
    grid = sampling_sigmas(0.01, 100.0, levels, rho=rho, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    x0 = prior_sample((N, 2), 100.0, generator=g, dtype=torch.float64)
    res = sampler.sample(gaussian_score(MEAN, STD), x0, grid, generator=g)
    assert res.num_evaluations == sampler.num_evaluations(levels)
    assert torch.allclose(res.x.mean(0), MEAN.double(), atol=0.03), res.x.mean(0)
    assert torch.allclose(res.x.std(0), torch.full((2,), STD, dtype=torch.float64), atol=0.03), res.x.std(0)


def test_edm_without_churn_is_the_heun_ode():
    grid = GeometricSchedule(0.01, 10.0, 12).levels(dtype=torch.float64)
    outs = []
    for sampler in (EDMStochastic(), ProbabilityFlowODE("heun")):
        g = torch.Generator().manual_seed(2)
        outs.append(sampler.sample(gaussian_score(MEAN, STD), prior_sample((16, 2), 10.0, generator=g,
                                   dtype=torch.float64), grid, generator=g).x)
    assert torch.allclose(outs[0], outs[1], atol=1e-10)
    assert EDMStochastic().num_evaluations(12) == ProbabilityFlowODE("heun").num_evaluations(12) == 23


def test_edm_churn_window_and_cap():
    s = EDMStochastic(s_churn=80.0, s_tmin=0.05, s_tmax=5.0)
    assert s.churn(1.0, 10) == pytest.approx(2 ** 0.5 - 1)      # 80/10 capped at √2 − 1
    assert s.churn(10.0, 10) == 0.0 and s.churn(0.01, 10) == 0.0
    assert EDMStochastic(s_churn=4.0).churn(1.0, 100) == pytest.approx(0.04)


def test_sampling_sigmas_spacing():
    geo = sampling_sigmas(0.02, 60.0, 30)
    assert torch.equal(geo, GeometricSchedule(0.02, 60.0, 30).levels())
    for rho in (1.0, 7.0):
        grid = sampling_sigmas(0.02, 60.0, 30, rho=rho, dtype=torch.float64)
        assert grid[0] == 60.0 and grid[-1] == pytest.approx(0.02) and (grid[1:] < grid[:-1]).all()
    lin = sampling_sigmas(0.0 + 1.0, 4.0, 4, rho=1.0, dtype=torch.float64)
    assert torch.allclose(lin, torch.tensor([4.0, 3.0, 2.0, 1.0], dtype=torch.float64))
    # the middle level of the ρ = 7 grid lies between the linear (ρ = 1) and geometric (ρ → ∞) ones
    mid = [float(sampling_sigmas(0.02, 60.0, 31, rho=r)[15]) for r in (1.0, 7.0, 1e6)]
    assert mid[0] > mid[1] > mid[2] and mid[2] == pytest.approx(60.0 * (0.02 / 60.0) ** 0.5, rel=1e-3)
    with pytest.raises(InputError, match="rho"):
        sampling_sigmas(0.02, 60.0, 30, rho=0.0)


def test_deferred_divergence_check_names_the_first_bad_step(monkeypatch):
    """The accelerator path (checks read back every CHECK_EVERY steps), exercised on the CPU."""
    import proteindsm.core.sampler_base as sampler_base

    monkeypatch.setattr(sampler_base, "defers_checks", lambda device: True)
    calls = []

    def score(x, s, c=None):
        calls.append(1)
        return torch.full_like(x, float("nan")) if len(calls) == 3 else -x

    grid = GeometricSchedule(0.01, 10.0, 8).levels()
    with pytest.raises(SamplerDivergedError, match=r"step 3 \(σ = "):
        ReverseSDE().sample(score, torch.ones(2, 2), grid)
    assert len(calls) == 8      # no read-back before the end of this short run: all steps ran


@pytest.mark.parametrize("make", [
    lambda: EDMStochastic(s_churn=-1.0),
    lambda: EDMStochastic(s_noise=0.0),
    lambda: EDMStochastic(s_tmin=2.0, s_tmax=1.0),
])
def test_bad_edm_arguments(make):
    with pytest.raises(InputError):
        make()
