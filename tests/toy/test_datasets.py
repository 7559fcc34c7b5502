"""Toy data sets: exact scores agree with autograd of the density, samples land in their modes."""

from __future__ import annotations

import math

import pytest
import torch

from proteindsm.errors import InputError
from proteindsm.toy.datasets import (Checkerboard, EightGaussians, GaussianMixture2D, Ring, TwoGaussians,
                                     TwoMoons)

MIXTURES = [TwoGaussians, EightGaussians, Ring]
ALL = MIXTURES + [TwoMoons, Checkerboard]


@pytest.mark.parametrize("cls", MIXTURES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("sigma", [0.0, 0.1, 1.0, 7.0, 50.0])
def test_exact_score_is_gradient_of_log_density(cls, sigma):
    ds = cls()
    g = torch.Generator().manual_seed(0)
    x = (ds.sample(64, g).double() + max(sigma, 0.5) * torch.randn(64, 2, generator=g, dtype=torch.float64))
    s = torch.full((64,), sigma, dtype=torch.float64)
    xg = x.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(ds.log_prob(xg, s).sum(), xg)
    assert torch.allclose(ds.score(x, s), auto, rtol=1e-9, atol=1e-9)


def test_two_gaussians_score_closed_form_far_away():
    """Far from both modes the responsibilities saturate but the score stays finite and exact."""
    ds = TwoGaussians()
    x = torch.tensor([[300.0, 300.0], [-300.0, -280.0]], dtype=torch.float64)
    s = torch.full((2,), 0.1, dtype=torch.float64)
    want = torch.stack([(torch.tensor([5.0, 5.0]) - x[0]) / 1.01, (torch.tensor([-5.0, -5.0]) - x[1]) / 1.01])
    assert torch.allclose(ds.score(x, s), want.double())


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_samples_fall_in_modes_with_true_weights(cls):
    ds = cls()
    x = ds.sample(20000, torch.Generator().manual_seed(1))
    assert x.shape == (20000, 2) and x.dtype == torch.float32
    modes = ds.mode_of(x)
    assert (modes < 0).float().mean() < 0.01
    got = torch.stack([(modes == k).float().mean() for k in range(ds.num_modes)])
    want = torch.tensor(ds.true_mode_weights, dtype=torch.float32)
    assert torch.allclose(got, want, atol=0.015), (got, want)
    assert math.isclose(sum(ds.true_mode_weights), 1.0, rel_tol=1e-6)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_sampling_is_seeded(cls):
    ds = cls()
    a = ds.sample(10, torch.Generator().manual_seed(3))
    b = ds.sample(10, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_far_points_are_off_support():
    for ds in (TwoGaussians(), Ring(), TwoMoons(), Checkerboard()):
        assert ds.mode_of(torch.tensor([[40.0, -40.0]])).item() == -1


def test_component_logits_are_the_bayes_classifier():
    ds = TwoGaussians()
    x = torch.tensor([[5.0, 5.0], [-5.0, -5.0], [0.0, 0.0]], dtype=torch.float64)
    p = torch.softmax(ds.component_logits(x, torch.zeros(3, dtype=torch.float64)), 1)
    assert p[0, 0] > 0.999 and p[1, 1] > 0.999
    assert torch.allclose(p[2], torch.tensor([0.2, 0.8], dtype=torch.float64))  # equidistant: the prior


@pytest.mark.parametrize("make", [
    lambda: TwoGaussians(weight_small=1.5),
    lambda: TwoGaussians(std=0),
    lambda: EightGaussians(radius=-1),
    lambda: Ring(components=100, sectors=8),
    lambda: GaussianMixture2D([[0, 0]], [1.0], [-1.0]),
    lambda: GaussianMixture2D([[0, 0, 0]], 1.0),
    lambda: TwoMoons(noise=0),
    lambda: TwoGaussians().sample(0),
    lambda: TwoMoons().score(torch.zeros(1, 2), torch.ones(1)),
])
def test_bad_arguments_raise_input_error(make):
    with pytest.raises(InputError):
        make()
