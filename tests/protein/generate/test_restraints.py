"""The steric clash energy: it agrees with the evaluation's clash rule, is invariant to rotations and
translations, honours the mask, and its gradient pushes colliding atoms apart.  The compactness
ceiling: its known value, a half gradient step lands exactly on the ceiling, invariances, mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from proteindsm.errors import InputError
from proteindsm.protein.analysis.reference_chains import load_corpus_chains
from proteindsm.protein.analysis.metrics import clash_pair_count
from proteindsm.protein.generate.restraints import compactness_energy, steric_clash_energy
from tests.equivariance import assert_equivariant


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
    from proteindsm.protein.analysis.metrics import clash_thresholds
    t = clash_thresholds() + 0.2
    want = 0.0
    for i in range(12):
        for j in range(i + 2, 12):
            d = np.linalg.norm(x[i].numpy()[:, None] - x[j].numpy()[None], axis=-1)
            want += float((np.clip(t - d, 0, None) ** 2).sum())
    assert float(steric_clash_energy(x[None], margin=0.2)[0]) == pytest.approx(want, rel=1e-10)


def test_energy_invariant_to_rotation_and_translation():
    x = _random_chains(2, 20, seed=2)
    assert_equivariant(steric_clash_energy, x, kind="invariant", seed=3, rtol=1e-10)


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
    from proteindsm.protein.analysis.metrics import clash_thresholds
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


def _rg_all_atoms(x: np.ndarray) -> float:
    pts = x.reshape(-1, 3)
    return float(np.sqrt(((pts - pts.mean(0)) ** 2).sum(1).mean()))


def test_compactness_energy_known_value_and_zero_below_the_ceiling(real_chains):
    x = _random_chains(3, 30, seed=4) * 3.0                                    # Rg ≈ 20 Å, ceiling 3.3·30^0.4 ≈ 12 Å
    e = compactness_energy(x, max_normalised=3.3)
    for b in range(3):
        rg = _rg_all_atoms(x[b].numpy())
        assert float(e[b]) == pytest.approx(120 * max(rg - 3.3 * 30 ** 0.4, 0.0) ** 2, rel=1e-9)
        assert float(e[b]) > 0


def test_compactness_default_ceiling_passes_most_real_chains(corpus_path):
    """The default ceiling (Rg/L^0.4 ≤ 3.3 Å) is ~ the 95th percentile of real chains: measured 94.6 %
    of the 541 validation chains at zero energy (88 % of those ≤ 120 residues, often elongated chains
    cut from complexes)."""
    chains, _ = load_corpus_chains(corpus_path, "val")
    zero = [float(compactness_energy(torch.as_tensor(c, dtype=torch.float64)[None])[0]) == 0 for c in chains]
    assert 0.9 <= np.mean(zero) < 1.0


def test_compactness_half_gradient_step_lands_on_the_ceiling():
    """U = n·(Rg − C)²₊ scales the chain radially: x − ½∇U has Rg = C exactly (so as −(w/σ²)∇U with
    Langevin steps ½σ², w = 1 removes the excess in one step), and bond directions do not change."""
    x = _random_chains(2, 40, seed=5) * 3.0
    x.requires_grad_(True)
    compactness_energy(x, max_normalised=2.0).sum().backward()
    moved = (x - 0.5 * x.grad).detach()
    for b in range(2):
        assert _rg_all_atoms(moved[b].numpy()) == pytest.approx(2.0 * 40 ** 0.4, rel=1e-9)
    bond = lambda y: y[:, :, 1] - y[:, :, 0]                                    # N→CA
    cos = torch.nn.functional.cosine_similarity(bond(moved), bond(x.detach()), dim=-1)
    assert torch.allclose(cos, torch.ones_like(cos), atol=1e-12)


def test_compactness_energy_invariant_and_masked():
    x = _random_chains(2, 25, seed=6) * 3.0
    assert_equivariant(compactness_energy, x, kind="invariant", seed=1, rtol=1e-10)
    mask = torch.zeros(2, 25, dtype=torch.bool)
    mask[:, :18] = True
    assert torch.allclose(compactness_energy(x, {"mask": mask}), compactness_energy(x[:, :18]), rtol=1e-10)
    with pytest.raises(InputError, match="max_normalised"):
        compactness_energy(x, max_normalised=0.0)
