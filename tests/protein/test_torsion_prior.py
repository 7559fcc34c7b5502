"""The Ramachandran prior: EM recovers a known mixture, the density is normalised, the energy is
−Σ log p of the chain's own torsions, invariant to rotations and translations, honours the mask, and
descending it moves residues into the allowed regions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from proteindsm.errors import InputError
from proteindsm.protein.evaluate import load_corpus_chains
from proteindsm.protein.geometry import random_rotation
from proteindsm.protein.metrics import default_ramachandran_map, internal_geometry
from proteindsm.protein.torsion_prior import (VonMisesMixture, default_ramachandran_prior,
                                              fit_von_mises_mixture, ramachandran_energy)


@pytest.fixture(scope="module")
def val_chains(corpus_path):
    chains, _ = load_corpus_chains(corpus_path, "val")
    return [torch.as_tensor(c, dtype=torch.float64) for c in chains if 40 <= len(c) <= 150][:8]


def test_em_recovers_a_known_two_component_mixture():
    rng = np.random.default_rng(0)
    truth = dict(weight=[0.7, 0.3], phi_mean=[-1.1, 1.2], phi_kappa=[20.0, 6.0], psi_mean=[-0.8, 0.4],
                 psi_kappa=[12.0, 3.0])
    n = 30000
    comp = rng.random(n) < truth["weight"][1]
    phi = np.where(comp, rng.vonmises(1.2, 6.0, n), rng.vonmises(-1.1, 20.0, n))
    psi = np.where(comp, rng.vonmises(0.4, 3.0, n), rng.vonmises(-0.8, 12.0, n))
    mix, mean_ll = fit_von_mises_mixture(phi, psi, n_components=2, iterations=300, seed=1)
    np.testing.assert_allclose(mix.weight, truth["weight"], atol=0.02)
    np.testing.assert_allclose(mix.phi_mean, truth["phi_mean"], atol=0.05)
    np.testing.assert_allclose(mix.psi_mean, truth["psi_mean"], atol=0.05)
    np.testing.assert_allclose(mix.phi_kappa, truth["phi_kappa"], rtol=0.12)
    np.testing.assert_allclose(mix.psi_kappa, truth["psi_kappa"], rtol=0.12)
    true_ll = float(VonMisesMixture(**{k: np.array(v) for k, v in truth.items()})
                    .log_density(torch.as_tensor(phi), torch.as_tensor(psi)).mean())
    assert mean_ll == pytest.approx(true_ll, abs=0.01)


def test_shipped_prior_density_integrates_to_one():
    prior = default_ramachandran_prior()
    grid = torch.linspace(-math.pi, math.pi, 721, dtype=torch.float64)[:-1]
    phi, psi = torch.meshgrid(grid, grid, indexing="ij")
    cell = (2 * math.pi / 720) ** 2
    assert float(prior.log_density(phi, psi).exp().sum() * cell) == pytest.approx(1.0, abs=1e-3)


def test_energy_is_minus_log_density_of_the_chain_torsions(val_chains):
    prior = default_ramachandran_prior()
    chain = val_chains[0]
    g = internal_geometry(chain.numpy())                 # torsions from the evaluation's own path
    ok = ~(np.isnan(g["phi"]) | np.isnan(g["psi"]))
    phi = torch.as_tensor(np.deg2rad(g["phi"][ok]))
    psi = torch.as_tensor(np.deg2rad(g["psi"][ok]))
    expected = -float(prior.log_density(phi, psi).sum())
    assert float(ramachandran_energy(chain[None])[0]) == pytest.approx(expected, rel=1e-9)


def test_real_chains_score_better_than_noised_ones(val_chains):
    g = torch.Generator().manual_seed(0)
    for chain in val_chains:
        noised = chain + 0.5 * torch.randn(chain.shape, generator=g, dtype=torch.float64)
        e_real = float(ramachandran_energy(chain[None])[0]) / len(chain)
        assert e_real < float(ramachandran_energy(noised[None])[0]) / len(chain) - 0.5


def test_invariant_to_rotation_and_translation(val_chains):
    x = torch.stack([c[:40] for c in val_chains[:3]])
    R = random_rotation(torch.Generator().manual_seed(1), dtype=torch.float64)
    moved = x @ R.T + torch.tensor([-4.0, 9.0, 2.5], dtype=torch.float64)
    torch.testing.assert_close(ramachandran_energy(moved), ramachandran_energy(x), rtol=1e-9, atol=1e-8)


def test_mask_leaves_out_padding(val_chains):
    chain = val_chains[1][:30]
    padded = torch.cat([chain, torch.randn(10, 4, 3, dtype=torch.float64) * 5])[None]
    mask = torch.zeros(1, 40, dtype=torch.bool)
    mask[0, :30] = True
    torch.testing.assert_close(ramachandran_energy(padded, {"mask": mask}), ramachandran_energy(chain[None]))


def test_descending_the_energy_moves_residues_into_allowed_regions(val_chains):
    rmap = default_ramachandran_map()
    g = torch.Generator().manual_seed(2)
    chain = val_chains[2]
    x = (chain + 0.35 * torch.randn(chain.shape, generator=g, dtype=torch.float64))[None].requires_grad_(True)

    def allowed(t: torch.Tensor) -> float:
        geo = internal_geometry(t.detach()[0].numpy())
        ok = ~(np.isnan(geo["phi"]) | np.isnan(geo["psi"]))
        return float(rmap.contains(geo["phi"][ok], geo["psi"][ok]).mean())

    before = allowed(x)
    opt = torch.optim.SGD([x], lr=2e-3)
    for _ in range(100):
        opt.zero_grad()
        ramachandran_energy(x).sum().backward()
        opt.step()
    assert allowed(x) > before + 0.05


def test_bad_inputs_raise_input_error():
    with pytest.raises(InputError, match="missing field"):
        VonMisesMixture.from_json({"weight": [1.0]})
    with pytest.raises(InputError, match="sum to 1"):
        VonMisesMixture(weight=np.array([0.5]), phi_mean=np.zeros(1), phi_kappa=np.ones(1),
                        psi_mean=np.zeros(1), psi_kappa=np.ones(1))
    with pytest.raises(InputError, match=r"\(B, L, 4, 3\)"):
        ramachandran_energy(torch.zeros(5, 4, 3))
    with pytest.raises(InputError, match="too few"):
        fit_von_mises_mixture(np.zeros(20), np.zeros(20), n_components=14)
