"""The denoiser contract (core/denoiser.py): EDM coefficients against Karras et al. 2022 Table 1 and the
maths page, their relations and limits, the score written from F against (D − x)/σ², and the ideal F of
Gaussian data giving the exact score."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

from proteindsm.core import (DenoiserScore, EDMCoefficients, EDMPreconditioning, NoisePredictionPreconditioning,
                             edm_coefficients, score_from_denoised)

MATHS = Path(__file__).resolve().parents[2] / "docs" / "maths.md"
SIGMAS = torch.tensor([1e-3, 0.01, 0.1, 0.5, 1.0, 3.0, 10.0, 80.0, 1e3], dtype=torch.float64)
SIGMA_DATAS = (0.5, 1.0, 10.0)


def formulas(sigma: torch.Tensor, sd: float) -> dict[str, torch.Tensor]:
    """Table 1 of Karras et al. (2022), written independently of the module (float64)."""
    return {"c_skip": sd ** 2 / (sigma ** 2 + sd ** 2), "c_out": sigma * sd / (sigma ** 2 + sd ** 2).sqrt(),
            "c_in": 1 / (sigma ** 2 + sd ** 2).sqrt(), "c_noise": sigma.log() / 4}


@pytest.mark.parametrize("sd", SIGMA_DATAS)
def test_coefficients_match_table_1(sd):
    pre = EDMPreconditioning(sd)
    c = pre.coefficients(SIGMAS)
    assert isinstance(c, EDMCoefficients)
    for name, expected in formulas(SIGMAS, sd).items():
        torch.testing.assert_close(getattr(c, name), expected, rtol=1e-14, atol=0)
        assert torch.equal(getattr(pre, name)(SIGMAS), getattr(c, name))
    assert all(torch.equal(a, b) for a, b in zip(edm_coefficients(SIGMAS, sd), c))


def test_maths_page_states_the_contract():
    text = MATHS.read_text()
    for line in ("c_skip = σ_d² / (σ² + σ_d²)", "c_out = σ σ_d / √(σ² + σ_d²)", "c_in = 1 / √(σ² + σ_d²)",
                 "c_noise = ln(σ) / 4", "D(x, σ) = c_skip x + c_out F(c_in x, c_noise)",
                 "s(x, σ) = (D − x) / σ² = −x / (σ² + σ_d²) + σ_d / (σ √(σ² + σ_d²)) · F",
                 "c_skip = 1, c_out = σ", "core/denoiser.py"):
        assert line in text, line
    # the page's formulas, evaluated as written, agree with the module
    page = {m.group(1): m.group(2) for m in re.finditer(r"^\s+(c_\w+) = (.+)$", text, re.MULTILINE)}
    s, sd = 2.5, 0.7
    py = {"σ_d²": f"{sd}**2", "σ²": f"{s}**2", "σ_d": f"{sd}", "σ": f"{s}", "√": "math.sqrt", "ln": "math.log"}
    c = EDMPreconditioning(sd).coefficients(torch.tensor([s], dtype=torch.float64))
    for name in ("c_skip", "c_out", "c_in", "c_noise"):
        expr = page[name]
        for k, v in py.items():
            expr = expr.replace(k, v)
        expr = expr.replace(f"{s} {sd}", f"{s} * {sd}")
        assert eval(expr, {"math": math}) == pytest.approx(float(getattr(c, name)), rel=1e-12), (name, expr)


@pytest.mark.parametrize("sd", SIGMA_DATAS)
def test_relations_and_limits(sd):
    c = EDMPreconditioning(sd).coefficients(SIGMAS)
    ones = torch.ones_like(SIGMAS)
    torch.testing.assert_close(c.c_skip + c.c_out ** 2 / sd ** 2, ones, rtol=1e-13, atol=0)
    torch.testing.assert_close(c.c_in ** 2 * (SIGMAS ** 2 + sd ** 2), ones, rtol=1e-13, atol=0)
    torch.testing.assert_close(c.c_out, SIGMAS * sd * c.c_in, rtol=1e-13, atol=0)
    torch.testing.assert_close(c.c_skip, sd ** 2 * c.c_in ** 2, rtol=1e-13, atol=0)
    # unit-variance training target for data of variance σ_d²: (1 − c_skip)² σ_d² + c_skip² σ² = c_out²
    torch.testing.assert_close((1 - c.c_skip) ** 2 * sd ** 2 + c.c_skip ** 2 * SIGMAS ** 2, c.c_out ** 2,
                               rtol=1e-12, atol=0)
    pre = EDMPreconditioning(sd)
    torch.manual_seed(0)
    x, f = torch.randn(2, 5, 3, dtype=torch.float64), torch.randn(2, 5, 3, dtype=torch.float64)
    tiny, huge = torch.full((2,), 1e-6 * sd, dtype=torch.float64), torch.full((2,), 1e6 * sd, dtype=torch.float64)
    torch.testing.assert_close(pre.denoise(x, tiny, f), x, rtol=0, atol=5e-6 * sd)  # σ → 0: D → x (D − x ≈ σ F)
    xh = x * 1e6 * sd  # a sample at σ ≫ σ_d has |x| ≈ σ: D → c_out F → σ_d F
    torch.testing.assert_close(pre.denoise(xh, huge, f), pre.c_out(huge)[:, None, None] * f, rtol=0, atol=1e-5 * sd)
    torch.testing.assert_close(pre.denoise(xh, huge, f), sd * f, rtol=1e-5, atol=1e-5 * sd)


@pytest.mark.parametrize("cls", [EDMPreconditioning, NoisePredictionPreconditioning])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_score_from_f_equals_score_of_the_denoiser(cls, dtype):
    gen = torch.Generator().manual_seed(1)
    for sd in SIGMA_DATAS:
        pre = cls(sd)
        sigma = torch.exp(torch.empty(64, dtype=torch.float64).uniform_(math.log(0.05 * sd), math.log(100 * sd),
                                                                        generator=gen))
        x = (torch.randn(64, 4, 3, dtype=torch.float64, generator=gen)
             * (sigma ** 2 + sd ** 2).sqrt()[:, None, None])
        f = torch.randn(64, 4, 3, dtype=torch.float64, generator=gen)
        ref = score_from_denoised(x, sigma, pre.denoise(x, sigma, f))  # float64 reference
        got = pre.score(x.to(dtype), sigma.to(dtype), f.to(dtype)).double()
        scale = ref.abs().amax(dim=(1, 2), keepdim=True)
        assert ((got - ref).abs() / scale).max() < 1e-6
        assert torch.equal(DenoiserScore(lambda x_, s_, c_: pre.denoise(x_, s_, f))(x, sigma), ref)


def test_direct_score_is_accurate_in_float32_at_small_sigma():
    pre = EDMPreconditioning(10.0)
    sigma = torch.full((8,), 0.01, dtype=torch.float64)
    torch.manual_seed(2)
    x, f = torch.randn(8, 4, 3, dtype=torch.float64) * 10, torch.randn(8, 4, 3, dtype=torch.float64)
    ref = pre.score(x, sigma, f)
    direct = pre.score(x.float(), sigma.float(), f.float()).double()
    assert ((direct - ref).abs().max() / ref.abs().max()) < 1e-5


@pytest.mark.parametrize("sigma_value", [0.05, 0.7, 3.0, 40.0])
def test_ideal_f_of_gaussian_data_gives_the_exact_score(sigma_value):
    torch.manual_seed(3)
    sd = 1.7
    pre = EDMPreconditioning(sd)
    n = 200_000
    sigma = torch.full((n,), sigma_value, dtype=torch.float64)
    x0 = torch.randn(n, 1, dtype=torch.float64) * sd
    x = x0 + sigma[:, None] * torch.randn(n, 1, dtype=torch.float64)
    c = pre.coefficients(sigma)
    target = (x0 - c.c_skip[:, None] * x) / c.c_out[:, None]  # F* = (x₀ − c_skip x)/c_out
    assert float(target.var()) == pytest.approx(1.0, rel=0.02)  # unit variance at every σ
    # its regression on x (E[F* | x], linear for Gaussian data) is 0 within 4 standard errors: the
    # ideal F of N(0, σ_d²) data is 0 (the ideal denoiser is c_skip x) ...
    slope = float((target * x).mean() / (x * x).mean())
    resid = target - slope * x
    stderr = float(resid.std() / (x.std() * math.sqrt(n)))
    assert abs(slope) < 4 * stderr
    torch.testing.assert_close(pre.denoise(x, sigma, torch.zeros_like(x)), sd ** 2 / (sigma_value ** 2 + sd ** 2) * x,
                               rtol=1e-12, atol=0)
    # ... and it gives the exact score of the noised data N(0, σ² + σ_d²)
    exact = -x / (sigma_value ** 2 + sd ** 2)
    torch.testing.assert_close(pre.score(x, sigma, torch.zeros_like(x)), exact, rtol=1e-12, atol=0)


@pytest.mark.parametrize("var", [0.3, 4.0])
def test_exact_denoiser_of_other_gaussians_gives_their_score(var):
    """Data N(0, v) with v ≠ σ_d²: F* = (D* − c_skip x)/c_out with D* = v x/(σ² + v) gives −x/(σ² + v)."""
    sd = 1.0
    torch.manual_seed(4)
    x = torch.randn(16, 3, dtype=torch.float64) * 5
    sigma = torch.exp(torch.linspace(math.log(0.01), math.log(50), 16, dtype=torch.float64))
    s = sigma[:, None]
    for pre in (EDMPreconditioning(sd), NoisePredictionPreconditioning(sd)):
        c = pre.coefficients(sigma)
        f_star = (var * x / (s ** 2 + var) - c.c_skip[:, None] * x) / c.c_out[:, None]
        torch.testing.assert_close(pre.score(x, sigma, f_star), -x / (s ** 2 + var), rtol=1e-10, atol=0)


def test_noise_prediction_preconditioning():
    sd = 0.5
    pre, edm = NoisePredictionPreconditioning(sd), EDMPreconditioning(sd)
    sigma = SIGMAS.float()
    c = pre.coefficients(sigma)
    assert torch.equal(c.c_skip, torch.ones_like(sigma)) and torch.equal(c.c_out, sigma)
    assert torch.equal(c.c_noise, sigma.log())
    torch.testing.assert_close(c.c_in, edm.c_in(sigma), rtol=1e-6, atol=0)  # the same c_in (rsqrt form)
    torch.manual_seed(5)
    x, f = torch.rand(9, 1, 4, 4), torch.randn(9, 1, 4, 4)
    assert torch.equal(pre.score(x, sigma, f), f / sigma[:, None, None, None])
    torch.testing.assert_close(pre.scale_input(x, sigma, 0.5), (x - 0.5) * c.c_in[:, None, None, None],
                               rtol=1e-6, atol=0)
    torch.testing.assert_close(edm.scale_input(x, sigma), x * edm.c_in(sigma)[:, None, None, None], rtol=1e-6, atol=0)
    torch.testing.assert_close(pre.denoise(x, sigma, f), x + sigma[:, None, None, None] * f)


def test_sigma_data_is_checked_and_compared():
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            EDMPreconditioning(bad)
    assert EDMPreconditioning(2) == EDMPreconditioning(2.0) != NoisePredictionPreconditioning(2.0)
    assert EDMPreconditioning(2.0) != EDMPreconditioning(3.0)
    assert "sigma_data=2.0" in repr(EDMPreconditioning(2))
