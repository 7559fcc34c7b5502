"""Classifier-free guidance: the Gaussian known answer, the window, the no-condition shortcut, bad input."""

from __future__ import annotations

import pytest
import torch

from proteindsm.core import AnnealedLangevin, ClassifierFreeGuidance, GeometricSchedule, ProbabilityFlowODE, prior_sample
from proteindsm.errors import InputError

MU_UNCOND = torch.tensor([0.5, -1.0], dtype=torch.float64)
MU_COND = torch.tensor([2.0, 0.0], dtype=torch.float64)
STD = 0.5


def conditional_gaussian_score(calls: list | None = None):
    """p(x | c) = N(μ_c, s² I) when ``cond`` has key "c", else p(x) = N(μ_0, s² I); exact noised score."""

    def score(x, sigma, cond=None):
        if calls is not None:
            calls.append(sorted((cond or {}).keys()))
        mean = MU_COND if cond and "c" in cond else MU_UNCOND
        var = STD ** 2 + sigma.reshape(-1, 1) ** 2
        return -(x - mean.to(x)) / var

    return score


@pytest.mark.parametrize("weight", [0.0, 1.0, 2.5])
def test_free_guidance_score_is_the_shifted_gaussian(weight):
    """s_u + w (s_c − s_u) is exactly the score of N(μ_0 + w (μ_c − μ_0), s² + σ²)."""
    guided = ClassifierFreeGuidance(weight, keys=["c"]).wrap(conditional_gaussian_score())
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for s in (0.1, 1.0, 10.0):
        sigma = torch.full((64,), s, dtype=torch.float64)
        target_mean = MU_UNCOND + weight * (MU_COND - MU_UNCOND)
        expected = -(x - target_mean) / (STD ** 2 + s ** 2)
        assert torch.allclose(guided(x, sigma, {"c": 1}), expected, atol=1e-12)


def test_free_guidance_samples_the_guided_gaussian():
    """Sampled end to end (Heun ODE, 100 levels): mean μ_0 + w (μ_c − μ_0), width s."""
    w = 2.0
    sched = GeometricSchedule(sigma_min=0.01, sigma_max=100.0, num_levels=100)
    g = torch.Generator().manual_seed(0)
    x0 = prior_sample((20000, 2), 100.0, generator=g, dtype=torch.float64)
    score = ClassifierFreeGuidance(w, keys=["c"]).wrap(conditional_gaussian_score())
    x = ProbabilityFlowODE(method="heun").sample(score, x0, sched.levels(dtype=torch.float64), cond={"c": 1},
                                                 generator=g).x
    assert torch.allclose(x.mean(0), MU_UNCOND + w * (MU_COND - MU_UNCOND), atol=0.03), x.mean(0)
    assert torch.allclose(x.std(0), torch.full((2,), STD, dtype=torch.float64), atol=0.02), x.std(0)


def test_free_guidance_window_and_shortcuts():
    calls: list = []
    base = conditional_gaussian_score(calls)
    guided = ClassifierFreeGuidance(3.0, keys=["c"], sigma_max=5.0, sigma_min=1.0).wrap(base)
    x = torch.zeros(4, 2, dtype=torch.float64)
    inside = torch.full((4,), 2.0, dtype=torch.float64)
    outside = torch.full((4,), 10.0, dtype=torch.float64)
    # outside the window: the conditional score, one evaluation
    assert torch.equal(guided(x, outside, {"c": 1, "other": 0}), base(x, outside, {"c": 1}))
    calls.clear()
    guided(x, outside, {"c": 1, "other": 0})
    assert calls == [["c", "other"]]
    # inside: a second evaluation without the condition's keys (other entries kept)
    calls.clear()
    guided(x, inside, {"c": 1, "other": 0})
    assert calls == [["c", "other"], ["other"]]
    # no condition given (an unconditional run): one evaluation, nothing to guide
    expected = base(x, inside, {"other": 0})
    calls.clear()
    assert torch.equal(guided(x, inside, {"other": 0}), expected)
    assert calls == [["other"]]
    # weight 1 is the conditional model, one evaluation
    one = ClassifierFreeGuidance(1.0, keys=["c"]).wrap(base)
    expected = base(x, inside, {"c": 1})
    calls.clear()
    assert torch.equal(one(x, inside, {"c": 1}), expected) and len(calls) == 1


def test_free_guidance_works_with_every_sampler_unchanged():
    sched = GeometricSchedule(sigma_min=0.01, sigma_max=100.0, num_levels=10)
    g = torch.Generator().manual_seed(1)
    x0 = prior_sample((20000, 2), 100.0, generator=g, dtype=torch.float64)
    score = ClassifierFreeGuidance(0.0, keys=["c"]).wrap(conditional_gaussian_score())
    x = AnnealedLangevin(eps=2e-5, steps_per_level=100).sample(score, x0, sched.levels(dtype=torch.float64),
                                                              cond={"c": 1}, generator=g).x
    assert torch.allclose(x.mean(0), MU_UNCOND, atol=0.03), x.mean(0)   # w = 0: the unconditional model


@pytest.mark.parametrize("kwargs,match", [
    (dict(weight=-1.0, keys=["c"]), "weight"),
    (dict(weight=float("nan"), keys=["c"]), "weight"),
    (dict(weight=2.0, keys=[]), "keys"),
    (dict(weight=2.0, keys=["c"], sigma_max=0.0), "sigma_max"),
    (dict(weight=2.0, keys=["c"], sigma_max=1.0, sigma_min=2.0), "sigma_min"),
])
def test_free_guidance_rejects_bad_settings(kwargs, match):
    with pytest.raises(InputError, match=match):
        ClassifierFreeGuidance(**kwargs)
