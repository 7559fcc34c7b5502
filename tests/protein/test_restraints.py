"""The steric clash energy: it agrees with the evaluation's clash rule, is invariant to rotations and
translations, honours the mask, and its gradient pushes colliding atoms apart."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from proteindsm.errors import InputError
from proteindsm.protein.evaluate import load_corpus_chains
from proteindsm.protein.geometry import random_rotation
from proteindsm.protein.metrics import clash_pair_count
from proteindsm.protein.restraints import steric_clash_energy


def _random_chains(B: int, L: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, L, 4, 3, generator=g, dtype=torch.float64) * 4.0


@pytest.fixture(scope="module")
def real_chains(corpus_path):
    chains, _ = load_corpus_chains(corpus_path, "val")
    return [torch.as_tensor(c, dtype=torch.float64) for c in chains if len(c) <= 120][:6]


def test_energy_is_positive_exactly_where_the_clash_rule_flags(real_chains):
    """margin 0: E > 0 ⇔ clash_pair_count > 0 (both are d < t over |i − j| ≥ 2), on random and real chains."""
    x = _random_chains(3, 25, seed=0)
    for chain in list(x) + real_chains:
        e = float(steric_clash_energy(chain[None], margin=0.0)[0])
        assert (e > 0) == (clash_pair_count(chain.numpy()) > 0)
    assert all(clash_pair_count(c.numpy()) > 0 for c in x)                 # random coils do clash
    assert sum(float(steric_clash_energy(c[None], margin=0.0)[0]) == 0 for c in real_chains) >= 5


def test_energy_matches_a_pairwise_loop():
    x = _random_chains(1, 12, seed=1)[0]
    from proteindsm.protein.metrics import clash_thresholds
    t = clash_thresholds() + 0.2
    want = 0.0
    for i in range(12):
        for j in range(i + 2, 12):
            d = np.linalg.norm(x[i].numpy()[:, None] - x[j].numpy()[None], axis=-1)
            want += float((np.clip(t - d, 0, None) ** 2).sum())
    assert float(steric_clash_energy(x[None], margin=0.2)[0]) == pytest.approx(want, rel=1e-10)


def test_energy_invariant_to_rotation_and_translation():
    x = _random_chains(2, 20, seed=2)
    R = random_rotation(generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    moved = x @ R.T + torch.tensor([5.0, -3.0, 7.0], dtype=torch.float64)
    assert torch.allclose(steric_clash_energy(moved), steric_clash_energy(x), rtol=1e-10)


def test_masked_residues_are_ignored():
    x = _random_chains(1, 20, seed=4)
    mask = torch.ones(1, 20, dtype=torch.bool)
    mask[0, 15:] = False
    e_masked = steric_clash_energy(x, {"mask": mask})
    e_cut = steric_clash_energy(x[:, :15])
    assert torch.allclose(e_masked, e_cut)


def test_gradient_descent_removes_clashes():
    x = _random_chains(1, 20, seed=5).requires_grad_(True)
    before = clash_pair_count(x[0].detach().numpy())
    opt = torch.optim.SGD([x], lr=0.1)
    for _ in range(300):
        opt.zero_grad()
        steric_clash_energy(x).sum().backward()
        opt.step()
    assert before > 10 and clash_pair_count(x[0].detach().numpy()) == 0


def test_bad_input():
    with pytest.raises(InputError, match=r"\(B, L, 4, 3\)"):
        steric_clash_energy(torch.zeros(2, 5, 3, 3))
    with pytest.raises(InputError, match="margin"):
        steric_clash_energy(torch.zeros(1, 5, 4, 3), margin=-1.0)
