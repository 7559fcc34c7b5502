"""Soft (differentiable) DSSP fractions: they follow the exact DSSP assignment on real chains, are
invariant to rotations and translations, honour the mask, and have correct gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from proteindsm.errors import InputError
from proteindsm.protein.analysis.reference_chains import load_corpus_chains
from proteindsm.protein.structure.properties import helix_fraction, secondary_structure, strand_fraction
from proteindsm.protein.structure.soft_dssp import (DSSP_CUTOFF, soft_helix_fraction, soft_helix_membership,
                                          soft_strand_fraction, soft_strand_membership)
from tests.equivariance import assert_equivariant


@pytest.fixture(scope="module")
def val_chains(corpus_path):
    chains, _ = load_corpus_chains(corpus_path, "val")
    return [torch.as_tensor(c, dtype=torch.float64) for c in chains if 40 <= len(c) <= 200][:24]


def test_soft_fractions_follow_dssp_on_real_chains(val_chains):
    exact_e = np.array([strand_fraction(c.numpy()) for c in val_chains])
    exact_h = np.array([helix_fraction(c.numpy()) for c in val_chains])
    soft_e = np.array([float(soft_strand_fraction(c[None], cutoff=DSSP_CUTOFF)[0]) for c in val_chains])
    soft_h = np.array([float(soft_helix_fraction(c[None], cutoff=DSSP_CUTOFF)[0]) for c in val_chains])
    assert exact_e.max() > 0.2 and exact_h.max() > 0.4                # the set has sheets and helices
    assert np.corrcoef(exact_e, soft_e)[0, 1] > 0.97
    assert np.abs(exact_e - soft_e).mean() < 0.05
    assert np.corrcoef(exact_h, soft_h)[0, 1] > 0.9
    # α-helix only: DSSP's helix also counts 3-10 and π helices, so soft ≤ exact up to smoothing
    assert np.all(soft_h <= exact_h + 0.05)


def test_rounded_membership_agrees_with_dssp_residue_by_residue(val_chains):
    agree_e, agree_h, n = 0, 0, 0
    for c in val_chains:
        ss = np.array(list(secondary_structure(c.numpy())))
        e = soft_strand_membership(c[None], cutoff=DSSP_CUTOFF)[0].numpy() > 0.5
        h = soft_helix_membership(c[None], cutoff=DSSP_CUTOFF)[0].numpy() > 0.5
        agree_e += int(((ss == "E") == e).sum())
        agree_h += int(((ss == "H") == h).sum())
        n += len(ss)
    assert agree_e / n > 0.95
    assert agree_h / n > 0.9


def test_invariant_to_rotation_and_translation(val_chains):
    x = torch.stack([c[:60] for c in val_chains[:3]])
    for fn in (soft_strand_fraction, soft_helix_fraction):
        assert_equivariant(fn, x, kind="invariant", rtol=1e-9)


def test_mask_ignores_padding(val_chains):
    chain = val_chains[0][:50]
    padded = torch.zeros(1, 70, 4, 3, dtype=torch.float64)
    padded[0, :50] = chain
    padded[0, 50:] = torch.randn(20, 4, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 3
    mask = torch.zeros(1, 70, dtype=torch.bool)
    mask[0, :50] = True
    for fn in (soft_strand_fraction, soft_helix_fraction):
        torch.testing.assert_close(fn(padded, {"mask": mask}), fn(chain[None]), rtol=1e-9, atol=1e-9)


def test_gradient_matches_finite_differences(val_chains):
    """Noised real chain (partial bonds, so the smooth steps are off their plateaus)."""
    g = torch.Generator().manual_seed(2)
    sheet = max(val_chains, key=lambda c: strand_fraction(c.numpy()))[:40]
    x = (sheet + 0.3 * torch.randn(sheet.shape, generator=g, dtype=torch.float64))[None].requires_grad_(True)
    for fn in (soft_strand_fraction, soft_helix_fraction):
        assert torch.autograd.gradcheck(lambda y: fn(y), (x,), eps=1e-6, atol=1e-5)
        grad, = torch.autograd.grad(fn(x).sum(), x)
        assert torch.isfinite(grad).all()


def test_gradient_ascent_builds_strand_pairing(val_chains):
    """Following the gradient from a noised β-rich chain raises the soft strand fraction (guidance
    direction is meaningful, not just defined)."""
    g = torch.Generator().manual_seed(3)
    sheet = max(val_chains, key=lambda c: strand_fraction(c.numpy()))
    x = (sheet + 0.5 * torch.randn(sheet.shape, generator=g, dtype=torch.float64))[None].requires_grad_(True)
    start = float(soft_strand_fraction(x.detach()))        # 0.5 Å noise breaks most bonds (0.52 → 0.07)
    opt = torch.optim.SGD([x], lr=1.0)
    for _ in range(50):
        opt.zero_grad()
        (-soft_strand_fraction(x)).sum().backward()
        opt.step()
    assert float(soft_strand_fraction(x.detach())) > start + 0.08


def test_bad_shape_raises_input_error():
    with pytest.raises(InputError, match=r"\(B, L, 4, 3\)"):
        soft_strand_fraction(torch.zeros(2, 10, 3))
    assert soft_strand_fraction(torch.zeros(1, 2, 4, 3)).shape == (1,)


@pytest.mark.parametrize("ramp", ["sine", "sigmoid"])
def test_hbond_map_of_an_ideal_helix_has_the_i_to_i_plus_4_bonds(ramp):
    """The one H-bond map, both ramps: in an ideal α-helix every C=O(i) accepts from N-H(i+4) and
    nothing else is bonded (the sigmoid's tail leaves sigmoid(−0.5 / 0.25) ≈ 0.12 where E ≈ 0; the
    sine ramp is exactly 0 there)."""
    from proteindsm.protein.structure.geometry import backbone_from_dihedrals
    from proteindsm.protein.structure.soft_dssp import soft_hbond_map

    L = 20
    x = backbone_from_dihedrals(torch.full((L,), -57.0, dtype=torch.float64),
                                torch.full((L,), -47.0, dtype=torch.float64))[None]
    hb = soft_hbond_map(x, ramp=ramp)[0]                                  # [acceptor, donor]
    assert hb.shape == (L, L)
    i4 = torch.diagonal(hb, offset=4)
    assert (i4 > 0.95).all(), i4
    off = hb.clone()
    off.diagonal(offset=4).zero_()
    assert float(off.max()) < 0.5
    far = torch.triu(torch.ones(L, L, dtype=torch.bool), diagonal=3) & ~torch.eye(L, dtype=torch.bool).roll(4, 1)
    if ramp == "sine":
        assert float(hb[far].max()) < 0.1 and float(torch.tril(hb).max()) == 0.0
    else:
        assert float(torch.tril(hb).max()) < 0.25 and float(hb[far].median()) < 0.2


def test_hbond_map_ramps_and_mask():
    """ramp="sine" is pydssp's map (transposed to [acceptor, donor]); ramp="sigmoid" is the
    predictors' features' map: no bonds with |a − d| < 3, none from a donor whose previous residue
    is padding; an unknown ramp is an input error."""
    from pydssp.pydssp_torch import get_hbond_map

    from proteindsm.protein.structure.geometry import backbone_from_dihedrals
    from proteindsm.protein.structure.soft_dssp import soft_hbond_map

    L = 16
    x = backbone_from_dihedrals(torch.full((L,), -57.0, dtype=torch.float64),
                                torch.full((L,), -47.0, dtype=torch.float64))[None]
    assert torch.equal(soft_hbond_map(x), get_hbond_map(x).transpose(-1, -2))
    sig = soft_hbond_map(x, ramp="sigmoid")[0]
    idx = torch.arange(L)
    assert float(sig[(idx[:, None] - idx[None, :]).abs() < 3].max()) == 0.0
    mask = torch.ones(1, L, dtype=torch.bool)
    mask[0, 7] = False
    masked = soft_hbond_map(x, mask, ramp="sigmoid")[0]
    assert float(masked[7].max()) == 0.0 and float(masked[:, 7:9].max()) == 0.0   # donors 7 and 8
    assert torch.equal(masked[:, 9:], sig[:, 9:] * mask[0, :, None])
    with pytest.raises(InputError, match="ramp"):
        soft_hbond_map(x, ramp="step")
