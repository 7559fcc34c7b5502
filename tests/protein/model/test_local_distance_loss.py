"""The local-distance auxiliary loss: known values, invariance, σ gating, and its hook in the core DSM loss."""

import math

import pytest
import torch

from proteindsm.core import dsm_loss
from proteindsm.errors import InputError
from proteindsm.protein.model.local_distance_loss import LocalDistanceLoss
from proteindsm.protein.structure.geometry import random_rotation
from proteindsm.cli.train import local_distance_term


def chain(B: int = 2, L: int = 12, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    # a random walk of residues, atoms 1.5 Å around each CA: distances from ~1 to many Å
    ca = torch.cumsum(torch.randn(B, L, 3, generator=g) * 2.2, dim=1)
    return ca[:, :, None, :] + 1.5 * torch.randn(B, L, 4, 3, generator=g)


def test_zero_for_the_clean_chain_and_invariant_to_rigid_motions():
    x0 = chain()
    loss = LocalDistanceLoss(weight=1.0, cutoff=6.0, sigma_max=2.0)
    sigma = torch.tensor([0.5, 1.0])
    assert torch.allclose(loss(x0, x0, None, sigma), torch.zeros(2), atol=1e-6)
    R = random_rotation(torch.Generator().manual_seed(1))
    moved = x0 @ R.T + torch.tensor([3.0, -7.0, 2.0])
    assert torch.allclose(loss(moved, x0, None, sigma), torch.zeros(2), atol=1e-5)
    noisy = x0 + 0.3 * torch.randn(x0.shape, generator=torch.Generator().manual_seed(2))
    a, b = loss(noisy, x0, None, sigma), loss(noisy @ R.T + 5.0, x0, None, sigma)
    assert (a > 0).all() and torch.allclose(a, b, rtol=1e-4)


def test_known_value_for_a_uniformly_scaled_chain():
    # every distance scaled by 1.1: error (0.1 d)^2, averaged over the pairs with d < cutoff
    x0 = chain(B=1)
    loss = LocalDistanceLoss(weight=0.5, cutoff=6.0, sigma_max=2.0)
    atoms = x0.reshape(1, -1, 3)
    d = torch.cdist(atoms, atoms)[0]
    pairs = (d < 6.0) & ~torch.eye(d.shape[0], dtype=torch.bool)
    expected = 0.5 * (0.1 * d[pairs]).pow(2).mean()
    got = loss(1.1 * x0, x0, None, torch.tensor([1.0]))
    assert math.isclose(float(got), float(expected), rel_tol=1e-4)


def test_sigma_gate_and_padding_mask():
    x0 = chain(B=3, L=10)
    noisy = x0 + 0.5
    noisy[:, :, 0] += 0.2 * torch.arange(10.0)[None, :, None]
    loss = LocalDistanceLoss(weight=1.0, cutoff=6.0, sigma_max=1.0)
    v = loss(noisy, x0, None, torch.tensor([0.5, 1.0, 1.5]))
    assert v[0] > 0 and v[1] > 0 and v[2] == 0          # σ above sigma_max: off
    mask = torch.ones(3, 10, dtype=torch.bool)
    mask[0, 6:] = False
    garbage = noisy.clone()
    garbage[0, 6:] = 1e3                                  # padding must not count
    short = loss(noisy[:1, :6], x0[:1, :6], None, torch.tensor([0.5]))
    assert torch.allclose(loss(garbage, x0, mask, torch.tensor([0.5, 1.0, 1.5]))[0], short[0], rtol=1e-5)


def test_gradient_is_finite_with_coincident_atoms():
    x0 = chain(B=1, L=5)
    x_hat = x0.clone()
    x_hat[0, 1] = x_hat[0, 0]                             # two residues on top of each other
    x_hat.requires_grad_(True)
    LocalDistanceLoss(weight=1.0)(x_hat, x0, None, torch.tensor([0.1])).sum().backward()
    assert torch.isfinite(x_hat.grad).all()


def test_core_hook_adds_the_term_on_the_denoised_estimate():
    x0 = chain(B=2, L=8)
    sigma = torch.tensor([0.5, 3.0])
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(3))

    def oracle(x, s, cond=None):  # the exact score of a point mass at x0: x̂₀ = x0
        return (x0 - x) / s.view(-1, 1, 1, 1).pow(2)

    def off(x, s, cond=None):
        return torch.zeros_like(x)                        # x̂₀ = the noisy state

    term = LocalDistanceLoss(weight=1.0, cutoff=6.0, sigma_max=2.0)
    plain = dsm_loss(off, x0, sigma, noise)
    assert torch.equal(dsm_loss(off, x0, sigma, noise, auxiliary=None), plain)
    assert torch.allclose(dsm_loss(oracle, x0, sigma, noise, auxiliary=term), torch.zeros(2), atol=1e-5)
    x_noisy = x0 + sigma.view(-1, 1, 1, 1) * noise
    with_term = dsm_loss(off, x0, sigma, noise, auxiliary=term)
    assert torch.allclose(with_term - plain, term(x_noisy, x0, None, sigma), atol=1e-6)
    assert with_term[0] > plain[0] and with_term[1] == plain[1]


def test_config_errors_name_the_field():
    assert local_distance_term(None) is None
    assert local_distance_term({"weight": 0.1}).weight == 0.1
    with pytest.raises(InputError, match="unknown keys"):
        local_distance_term({"wieght": 0.1})
    with pytest.raises(InputError, match="local_distance.weight"):
        local_distance_term({"weight": -1})
    with pytest.raises(InputError, match="must be numbers"):
        local_distance_term({"weight": "a lot"})
