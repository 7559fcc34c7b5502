"""Metrics: sliced Wasserstein against closed forms; mode fractions."""

from __future__ import annotations

import math

import pytest
import torch

from proteindsm.errors import InputError
from proteindsm.toy.datasets import TwoGaussians
from proteindsm.toy.metrics import mode_fractions, score_error, sliced_wasserstein


def test_swd_zero_for_same_cloud_and_closed_form_for_a_shift():
    x = torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    assert sliced_wasserstein(x, x) == 0.0
    # a translation by a: W1 of each projection is |θ·a|; E|cos| over the circle is 2/π
    shifted = x + torch.tensor([3.0, 0.0])
    assert sliced_wasserstein(x, shifted, num_projections=2000) == pytest.approx(3 * 2 / math.pi, rel=0.03)
    # W2 of a translation: sqrt(E (θ·a)²) = |a|/√2
    assert sliced_wasserstein(x, shifted, p=2, num_projections=2000) == pytest.approx(3 / math.sqrt(2), rel=0.03)


def test_swd_is_seeded_and_handles_different_sizes():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(1000, 2, generator=g), torch.randn(3000, 2, generator=g)
    assert sliced_wasserstein(x, y, seed=5) == sliced_wasserstein(x, y, seed=5)
    assert sliced_wasserstein(x, y) < 0.1
    assert sliced_wasserstein(x, torch.full((10, 2), math.nan)) == math.inf
    with pytest.raises(InputError):
        sliced_wasserstein(x, torch.zeros(5, 3))


def test_mode_fractions():
    ds = TwoGaussians()
    x = torch.tensor([[5.0, 5.0], [-5.0, -5.0], [-5.0, -4.0], [100.0, 0.0], [math.nan, 0.0]])
    m = mode_fractions(ds, x)
    assert m["mode_fractions"] == [0.2, 0.4]
    assert m["off_support"] == pytest.approx(0.4)
    assert m["mode_weight_error"] == pytest.approx(0.4)


def test_score_error_zero_for_exact_score():
    ds = TwoGaussians()
    err = score_error(ds.score, ds.score, ds.sample(100), [0.1, 5.0])
    assert set(err) == {"0.1", "5"} and max(err.values()) == 0.0
