"""Core σ schedules: the geometric sampling grid, the Karras ρ grid, log-uniform training σ and
the loss weight λ(σ) (with and without σ_data), with their input checks."""

from __future__ import annotations

import math

import pytest
import torch

from proteindsm.core import GeometricSchedule, sampling_sigmas
from proteindsm.errors import InputError


def test_geometric_levels():
    s = GeometricSchedule(sigma_min=0.01, sigma_max=10.0, num_levels=4)
    lv = s.levels(dtype=torch.float64)
    torch.testing.assert_close(lv, torch.tensor([10.0, 1.0, 0.1, 0.01], dtype=torch.float64))
    assert s.levels().dtype == torch.float32 and s.levels(7).shape == (7,)
    assert s.levels(1).tolist() == [pytest.approx(0.01)]
    assert torch.equal(s.validation_sigmas(3), s.levels(3))
    with pytest.raises(InputError):
        s.levels(0)


def test_karras_grid_and_its_limits():
    lo, hi, n = 0.02, 80.0, 12
    geo = sampling_sigmas(lo, hi, n, dtype=torch.float64)
    assert torch.equal(geo, GeometricSchedule(lo, hi, n).levels(dtype=torch.float64))
    edm = sampling_sigmas(lo, hi, n, rho=7.0, dtype=torch.float64)
    assert edm[0] == hi and edm[-1] == lo and (edm[1:] < edm[:-1]).all()
    i = torch.linspace(0, 1, n, dtype=torch.float64)
    ref = (hi ** (1 / 7) + i * (lo ** (1 / 7) - hi ** (1 / 7))) ** 7
    torch.testing.assert_close(edm, ref)
    torch.testing.assert_close(sampling_sigmas(lo, hi, n, rho=1.0, dtype=torch.float64),
                               torch.linspace(hi, lo, n, dtype=torch.float64))
    torch.testing.assert_close(sampling_sigmas(lo, hi, n, rho=1e4, dtype=torch.float64), geo, rtol=2e-3, atol=0)
    with pytest.raises(InputError, match="rho"):
        sampling_sigmas(lo, hi, n, rho=-1.0)


def test_training_sigmas_are_log_uniform():
    s = GeometricSchedule(sigma_min=0.1, sigma_max=100.0)
    sig = s.sample_training_sigmas(20_000, torch.Generator().manual_seed(0))
    assert sig.dtype == torch.float32 and float(sig.min()) >= 0.1 * (1 - 1e-6) and float(sig.max()) <= 100.0 * (1 + 1e-6)
    u = (sig.double().log() - math.log(0.1)) / (math.log(100.0) - math.log(0.1))
    assert abs(float(u.mean()) - 0.5) < 0.01 and abs(float(u.var()) - 1 / 12) < 0.005


def test_training_focus_shares_the_draws_as_the_mixture_says():
    """With (σ_lo, σ_hi, share) the window holds share + (1 − share)·ln(σ_hi/σ_lo)/ln(σ_max/σ_min) of
    the draws, log-uniform inside; outside it the draws stay log-uniform (their mean log σ)."""
    s = GeometricSchedule(sigma_min=0.02, sigma_max=60.0, training_focus=(0.3, 5.0, 0.5))
    n = 200_000
    sig = s.sample_training_sigmas(n, torch.Generator().manual_seed(0)).double()
    assert float(sig.min()) >= 0.02 * (1 - 1e-6) and float(sig.max()) <= 60.0 * (1 + 1e-6)
    inside = (sig >= 0.3) & (sig <= 5.0)
    expected = 0.5 + 0.5 * math.log(5.0 / 0.3) / math.log(60.0 / 0.02)      # 0.676
    assert abs(float(inside.double().mean()) - expected) < 4 * math.sqrt(expected * (1 - expected) / n)
    u = (sig[inside].log() - math.log(0.3)) / math.log(5.0 / 0.3)
    assert abs(float(u.mean()) - 0.5) < 0.01 and abs(float(u.var()) - 1 / 12) < 0.005
    below = sig[sig < 0.3].log()     # the full-range draws below the window: log-uniform on [0.02, 0.3)
    assert abs(float(below.mean()) - 0.5 * (math.log(0.02) + math.log(0.3))) < 0.02
    # share 0 draws from the full range only; None keeps the old draws bit for bit
    plain = GeometricSchedule(0.02, 60.0).sample_training_sigmas(1000, torch.Generator().manual_seed(3))
    u = torch.rand(1000, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    old = (math.log(0.02) + u * (math.log(60.0) - math.log(0.02))).exp().float()
    assert torch.equal(plain, old)
    zero = GeometricSchedule(0.02, 60.0, training_focus=[0.3, 5.0, 0.0]).sample_training_sigmas(
        1000, torch.Generator().manual_seed(3))
    torch.testing.assert_close(zero, old)


@pytest.mark.parametrize("focus", [(0.3, 5.0), (5.0, 0.3, 0.5), (0.01, 5.0, 0.5), (0.3, 80.0, 0.5),
                                   (0.3, 5.0, 1.5), ("a", 5.0, 0.5), 0.5])
def test_bad_training_focus_is_one_error_naming_the_field(focus):
    with pytest.raises(InputError, match="schedule.training_focus"):
        GeometricSchedule(0.02, 60.0, training_focus=focus)


def test_loss_weight():
    sigma = torch.tensor([0.5, 2.0, 10.0], dtype=torch.float64)
    torch.testing.assert_close(GeometricSchedule(0.1, 20.0).loss_weight(sigma), sigma ** 2)
    torch.testing.assert_close(GeometricSchedule(0.1, 20.0, weight_power=1.0).loss_weight(sigma), sigma)
    edm = GeometricSchedule(0.1, 20.0, sigma_data=2.0).loss_weight(sigma)
    torch.testing.assert_close(edm, sigma ** 2 * (1 + sigma ** 2 / 4.0))


@pytest.mark.parametrize("kwargs", [dict(sigma_min=0.0, sigma_max=1.0), dict(sigma_min=2.0, sigma_max=1.0),
                                    dict(sigma_min=0.1, sigma_max=1.0, num_levels=0),
                                    dict(sigma_min=0.1, sigma_max=1.0, sigma_data=0.0)])
def test_invalid_schedules(kwargs):
    with pytest.raises(InputError):
        GeometricSchedule(**kwargs)
