"""Core conditioning on a known part of the state: the Gaussian known answer for both mechanisms.

Data N(μ, Σ) in 4-D with correlated coordinates; coordinates 2, 3 are known (y).  The exact noised
score is −(Σ + σ²I)⁻¹(x − μ) and the conditional of the unknown coordinates 0, 1 is
N(μ_u + Σ_uk Σ_kk⁻¹(y − μ_k), Σ_uu − Σ_uk Σ_kk⁻¹ Σ_ku) — mean (2.43, −1.01), far from the marginal
mean (1, −1) (1.45 away in coordinate 0), and a covariance 0.67 off the marginal one.
"""

from __future__ import annotations

import pytest
import torch

from proteindsm.core import (AnnealedLangevin, GeometricSchedule, KnownPart, ProbabilityFlowODE,
                             ReconstructionGuidance, Replacement, ReverseSDE, prior_sample, with_conditioning)
from proteindsm.errors import InputError

DT = torch.float64
MU = torch.tensor([1.0, -1.0, 0.5, 2.0], dtype=DT)
_A = torch.tensor([[1.0, 0, 0, 0], [0.6, 0.8, 0, 0], [0.7, -0.3, 0.5, 0], [-0.5, 0.6, 0.2, 0.4]], dtype=DT)
SIGMA = _A @ _A.T
Y = torch.tensor([2.0, 0.5], dtype=DT)          # the known values of coordinates 2, 3
N = 4000
_EVALS, _EVECS = torch.linalg.eigh(SIGMA)


def gaussian_score(x: torch.Tensor, sigma: torch.Tensor, cond=None) -> torch.Tensor:
    """Exact score of N(μ, Σ + σ²I) per row (Σ + σ²I = V diag(λ + σ²) Vᵀ)."""
    scaled = ((x - MU) @ _EVECS) / (_EVALS + sigma[:, None] ** 2)
    return -scaled @ _EVECS.T


def conditional():
    Suu, Suk, Skk = SIGMA[:2, :2], SIGMA[:2, 2:], SIGMA[2:, 2:]
    mean = MU[:2] + Suk @ torch.linalg.solve(Skk, Y - MU[2:])
    cov = Suu - Suk @ torch.linalg.solve(Skk, Suk.T)
    return mean, cov


def known(n: int = N, align=None) -> KnownPart:
    values = torch.zeros(n, 4, dtype=DT)
    values[:, 2:] = Y
    mask = torch.zeros(n, 4, dtype=torch.bool)
    mask[:, 2:] = True
    return KnownPart(values, mask, align)


def sample(mechanism, sampler, levels: int) -> torch.Tensor:
    sched = GeometricSchedule(sigma_min=0.01, sigma_max=50.0, num_levels=levels)
    g = torch.Generator().manual_seed(0)
    x0 = prior_sample((N, 4), sched.sigma_max, generator=g, dtype=DT)
    return sampler.sample(with_conditioning(gaussian_score, mechanism), x0, sched.levels(dtype=DT), generator=g).x


def errors(x: torch.Tensor) -> tuple[float, float, float]:
    mean, cov = conditional()
    xu = x[:, :2]
    return ((xu.mean(0) - mean).abs().max().item(), (torch.cov(xu.T) - cov).abs().max().item(),
            (x[:, 2:] - Y).abs().max().item())


# Tolerances: mean 0.1, covariance 0.12 (the exact conditional score itself gives 0.011 / 0.057 with
# annealed Langevin: the covariance error is the sampler's); unconditional samples miss by 1.45 / 0.67.
TOL_MEAN, TOL_COV = 0.1, 0.12
LANGEVIN = (AnnealedLangevin(eps=2e-5, steps_per_level=100), 10)
LANGEVIN_ONE_STEP = (AnnealedLangevin(eps=5e-5, steps_per_level=1), 230)   # like the protein langevin_fast
SDE = (ReverseSDE(), 300)
PC = (ReverseSDE(corrector_steps=1, snr=0.16), 150)
ODE = (ProbabilityFlowODE(method="heun"), 100)


def test_unconditional_samples_fail_the_tolerance():
    mean_err, cov_err, _ = errors(sample(None, *LANGEVIN))
    assert mean_err > 10 * TOL_MEAN and cov_err > 4 * TOL_COV, (mean_err, cov_err)


@pytest.mark.parametrize("sampler", [LANGEVIN, LANGEVIN_ONE_STEP], ids=["langevin", "langevin_one_step"])
def test_replacement_gives_the_gaussian_conditional(sampler):
    mean_err, cov_err, known_err = errors(sample(Replacement(known()), *sampler))
    assert mean_err < TOL_MEAN and cov_err < TOL_COV, (mean_err, cov_err)
    assert known_err < 1e-12       # the final denoising step lands exactly on y


def test_replacement_is_biased_without_mixing():
    """Known limitation (why RePaint resamples): a single reverse-SDE pass conditions the unknown part
    on the *noisy* known part, which carries less information than y; the mean misses by ~0.35."""
    mean_err, _, known_err = errors(sample(Replacement(known()), *SDE))
    assert mean_err > 2 * TOL_MEAN and known_err < 1e-12


@pytest.mark.parametrize("sampler", [LANGEVIN, LANGEVIN_ONE_STEP, SDE, PC, ODE],
                         ids=["langevin", "langevin_one_step", "reverse_sde", "pc", "ode_heun"])
def test_reconstruction_guidance_gives_the_gaussian_conditional(sampler):
    mean_err, cov_err, known_err = errors(sample(ReconstructionGuidance(known(), sigma_data=1.0), *sampler))
    assert mean_err < TOL_MEAN and cov_err < TOL_COV, (mean_err, cov_err)
    assert known_err < 1e-3


def test_reconstruction_guidance_without_the_jacobian_with_langevin():
    mean_err, cov_err, known_err = errors(
        sample(ReconstructionGuidance(known(), through_model=False), *LANGEVIN))
    assert mean_err < TOL_MEAN and cov_err < TOL_COV and known_err < 1e-3, (mean_err, cov_err)


# ---------------------------------------------------------------------------------- the terms
def test_replacement_score_is_the_noised_known_value_score():
    x = torch.randn(3, 4, dtype=DT, generator=torch.Generator().manual_seed(1))
    sigma = torch.tensor([0.5, 2.0, 10.0], dtype=DT)
    got = Replacement(known(3)).wrap(gaussian_score)(x, sigma)
    inv = torch.linalg.inv(SIGMA + sigma[:, None, None] ** 2 * torch.eye(4, dtype=DT))
    base = -torch.einsum("bij,bj->bi", inv, x - MU)
    assert torch.allclose(got[:, :2], base[:, :2])
    assert torch.allclose(got[:, 2:], (Y - x[:, 2:]) / sigma[:, None] ** 2)


def test_reconstruction_term_is_the_jacobian_transpose_of_the_residual():
    """On the Gaussian, J = ∂x̂₀/∂x = Σ(Σ + σ²I)⁻¹ (symmetric), so the term is w J M (y − x̂₀)/r²."""
    x = torch.randn(1, 4, dtype=DT, generator=torch.Generator().manual_seed(2))
    sigma = torch.tensor([1.5], dtype=DT)
    term = ReconstructionGuidance(known(1), scale=0.7, tolerance=0.2, sigma_data=2.0)
    got = term.wrap(gaussian_score)(x, sigma) - gaussian_score(x, sigma)
    J = SIGMA @ torch.linalg.inv(SIGMA + 1.5 ** 2 * torch.eye(4, dtype=DT))
    x0 = x + 1.5 ** 2 * gaussian_score(x, sigma)
    r = torch.zeros(1, 4, dtype=DT)
    r[:, 2:] = Y - x0[:, 2:]
    var = 0.2 ** 2 + 1.5 ** 2 * 4.0 / (1.5 ** 2 + 4.0)
    assert torch.allclose(got, 0.7 * r @ J.T / var)
    # J = I: only the known part is pulled
    plain = ReconstructionGuidance(known(1), scale=0.7, tolerance=0.2, sigma_data=2.0, through_model=False)
    got_plain = plain.wrap(gaussian_score)(x, sigma) - gaussian_score(x, sigma)
    assert torch.allclose(got_plain, 0.7 * r / var) and torch.all(got_plain[:, :2] == 0)


def _translate_onto(target, estimate, mask):
    """An aligner: shift the target so its known elements' mean matches the estimate's."""
    m = mask.to(target.dtype)
    shift = ((estimate - target) * m).sum(1, keepdim=True) / m.sum(1, keepdim=True)
    return target + shift


@pytest.mark.parametrize("make", [lambda k: Replacement(k), lambda k: ReconstructionGuidance(k, sigma_data=1.0)],
                         ids=["replacement", "reconstruction"])
def test_the_align_hook_makes_the_condition_invariant(make):
    """With a translation aligner, moving the target by a constant changes nothing, and the term sees
    the denoised estimate (the aligned target is what is compared)."""
    x = torch.randn(2, 4, dtype=DT, generator=torch.Generator().manual_seed(3))
    sigma = torch.tensor([0.3, 3.0], dtype=DT)
    a = make(known(2, _translate_onto)).wrap(gaussian_score)(x, sigma)
    shifted = known(2, _translate_onto)
    shifted.values = shifted.values + 5.0
    b = make(shifted).wrap(gaussian_score)(x, sigma)
    assert torch.allclose(a, b)
    assert not torch.allclose(a, make(known(2)).wrap(gaussian_score)(x, sigma))


def test_window_and_off_leave_the_score_unchanged():
    x = torch.randn(2, 4, dtype=DT, generator=torch.Generator().manual_seed(4))
    sigma = torch.tensor([5.0, 5.0], dtype=DT)
    assert with_conditioning(gaussian_score, None) is gaussian_score
    windowed = ReconstructionGuidance(known(2), sigma_max=1.0).wrap(gaussian_score)
    assert torch.equal(windowed(x, sigma), gaussian_score(x, sigma))
    zero = ReconstructionGuidance(known(2), scale=0.0).wrap(gaussian_score)
    assert torch.equal(zero(x, sigma), gaussian_score(x, sigma))


def test_bad_conditions_are_rejected():
    with pytest.raises(InputError, match="prefix"):
        KnownPart(torch.zeros(2, 4), torch.zeros(2, 3, dtype=torch.bool))
    with pytest.raises(InputError, match="finite"):
        KnownPart(torch.full((2, 4), float("nan")), torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(InputError, match="scale"):
        ReconstructionGuidance(known(2), scale=-1.0)
    with pytest.raises(InputError, match="align_to"):
        Replacement(known(2), align_to="nowhere")
    with pytest.raises(InputError, match="state has"):
        Replacement(known(2)).wrap(gaussian_score)(torch.zeros(3, 4, dtype=DT), torch.ones(3, dtype=DT))
