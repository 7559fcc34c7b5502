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


def _dense_energy(x: torch.Tensor, mask: torch.Tensor, margin: float) -> torch.Tensor:
    """All (4L)² atom pairs, no pruning: the reference for the neighbour-pruned energy."""
    from proteindsm.protein.metrics import clash_thresholds
    B, L = x.shape[:2]
    d = torch.cdist(x.reshape(B, 4 * L, 3), x.reshape(B, 4 * L, 3)).reshape(B, L, 4, L, 4)
    t = torch.as_tensor(clash_thresholds(), dtype=x.dtype) + margin
    res = torch.arange(L)
    keep = ((res[None, :] - res[:, None]) >= 2)[None] & mask[:, :, None] & mask[:, None, :]
    over = torch.relu(t[None, None, :, None, :] - d) * keep[:, :, None, :, None]
    return over.pow(2).sum(dim=(1, 2, 3, 4))


def test_pruned_energy_and_gradient_equal_the_dense_computation(real_chains):
    """Batched, masked, stretched and compact chains: the residue-pair pruning loses nothing."""
    g = torch.Generator().manual_seed(7)
    chain = real_chains[0][:40]
    x = torch.stack([chain, chain * 0.6, chain + 0.8 * torch.randn(chain.shape, generator=g, dtype=torch.float64),
                     torch.randn(chain.shape, generator=g, dtype=torch.float64) * 6.0])
    mask = torch.ones(4, 40, dtype=torch.bool)
    mask[1, 30:] = False
    xa = x.clone().requires_grad_(True)
    xb = x.clone().requires_grad_(True)
    ea = steric_clash_energy(xa, {"mask": mask})
    eb = _dense_energy(xb, mask, 0.2)
    assert torch.allclose(ea, eb, rtol=1e-9, atol=1e-12) and (eb[1:] > 0).all()
    ea.sum().backward()
    eb.sum().backward()
    assert torch.allclose(xa.grad, xb.grad, rtol=1e-7, atol=1e-9)
