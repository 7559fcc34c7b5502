"""The backbone-overlap and hydrogen-bond auxiliary losses: zero on clean chains, known values,
invariance, σ gates, separation and padding, config errors, and their combination in the core loss."""

import math

import pytest
import torch

from proteindsm.cli.train import clash_term, hbond_term
from proteindsm.core import dsm_loss, sum_of_denoised_losses
from proteindsm.errors import InputError
from proteindsm.protein.model.clash_loss import ClashLoss
from proteindsm.protein.model.hbond_loss import HBondLoss
from proteindsm.protein.structure.geometry import backbone_from_dihedrals
from proteindsm.protein.structure.soft_dssp import soft_hbond_map
from proteindsm.protein.model.local_distance_loss import LocalDistanceLoss
from proteindsm.protein.structure.geometry import random_rotation


def straight_chain(L: int = 10) -> torch.Tensor:
    """(1, L, 4, 3): residues 3.8 Å apart on a line, atoms 1 Å apart inside a residue, so every
    pair of atoms of residues >= 3 apart is >= 8.4 Å away."""
    res = torch.arange(L, dtype=torch.float32)[:, None, None] * torch.tensor([3.8, 0.0, 0.0])
    atoms = torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    return (res + atoms)[None]


def test_zero_on_the_clean_chain_even_with_close_contacts():
    x0 = straight_chain()
    x0[0, 6, 3] = x0[0, 0, 3] + torch.tensor([0.0, 0.0, 2.0])   # a real 2.0 Å contact: the target is 2.0
    loss = ClashLoss(weight=1.0, distance=3.0)
    assert float(loss(x0, x0, None, torch.tensor([0.5]))) == 0.0


def test_known_value_for_one_overlap_and_rigid_motion_invariance():
    x0 = straight_chain()
    x_hat = x0.clone()
    x_hat[0, 7, 3] = x_hat[0, 2, 3] + torch.tensor([0.0, 0.0, 1.0])  # O(7) 1.0 Å from O(2); clean: far
    loss = ClashLoss(weight=2.0, distance=3.0, min_separation=3)
    L = x0.shape[1]
    # every pair of x̂₀ closer than 3 Å across residues >= 3 apart: O(7) against the atoms of residue 2
    atoms = x_hat[0].reshape(-1, 3)
    o7 = atoms[7 * 4 + 3]
    expected = sum((3.0 - float((o7 - atoms[2 * 4 + k]).norm())) ** 2
                   for k in range(4) if float((o7 - atoms[2 * 4 + k]).norm()) < 3.0)
    # and residue 7's O may also sit within 3 Å of residue 3/4 atoms: count them with the same rule
    for r in range(L):
        if abs(r - 7) >= 3 and r != 2:
            for k in range(4):
                d = float((o7 - atoms[r * 4 + k]).norm())
                expected += (3.0 - d) ** 2 if d < 3.0 else 0.0
    got = loss(x_hat, x0, None, torch.tensor([0.5]))
    assert math.isclose(float(got), 2.0 * expected / L, rel_tol=1e-5)
    R = random_rotation(torch.Generator().manual_seed(0))
    moved = x_hat @ R.T + torch.tensor([4.0, -2.0, 9.0])
    assert torch.allclose(loss(moved, x0, None, torch.tensor([0.5])), got, rtol=1e-4)


def test_sigma_gate_separation_and_padding():
    x0 = straight_chain().repeat(3, 1, 1, 1)
    x_hat = x0.clone()
    x_hat[:, 4, 3] = x_hat[:, 2, 3] + 0.5            # residues 2 apart: below min_separation 3
    loss = ClashLoss(weight=1.0, min_separation=3, sigma_max=1.0)
    assert torch.equal(loss(x_hat, x0, None, torch.tensor([0.5, 0.5, 0.5])), torch.zeros(3))
    assert (ClashLoss(weight=1.0, min_separation=2)(x_hat, x0, None, torch.tensor([0.5] * 3)) > 0).all()
    x_hat[:, 8, 3] = x_hat[:, 2, 3] + 0.5            # 6 apart: counted
    v = loss(x_hat, x0, None, torch.tensor([0.5, 1.0, 1.5]))
    assert v[0] > 0 and v[1] > 0 and v[2] == 0          # σ above sigma_max: off
    mask = torch.ones(3, 10, dtype=torch.bool)
    mask[:, 8:] = False                                  # the overlapping residue is padding
    assert torch.equal(loss(x_hat, x0, mask, torch.tensor([0.5] * 3)), torch.zeros(3))


def test_gradient_pushes_the_overlap_apart_and_is_finite_at_coincident_atoms():
    x0 = straight_chain()
    x_hat = x0.clone()
    x_hat[0, 7, 3] = x_hat[0, 2, 3]                      # coincident atoms
    x_hat.requires_grad_(True)
    ClashLoss(weight=1.0)(x_hat, x0, None, torch.tensor([0.1])).sum().backward()
    assert torch.isfinite(x_hat.grad).all()
    x_hat = x0.clone()
    x_hat[0, 7, 3] = x_hat[0, 2, 3] + torch.tensor([0.0, 0.0, 1.0])
    x_hat.requires_grad_(True)
    ClashLoss(weight=1.0)(x_hat, x0, None, torch.tensor([0.1])).sum().backward()
    # gradient descent moves O(7) away from O(2) (along +z)
    assert float(x_hat.grad[0, 7, 3, 2]) < 0


def test_sum_of_denoised_losses_in_the_core_loss():
    x0 = straight_chain().repeat(2, 1, 1, 1)
    sigma = torch.tensor([0.5, 0.8])
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1))

    def off(x, s, cond=None):
        return torch.zeros_like(x)                        # x̂₀ = the noisy state

    clash, ld = ClashLoss(weight=1.0), LocalDistanceLoss(weight=0.5)
    assert sum_of_denoised_losses(None, None) is None
    assert sum_of_denoised_losses(None, clash) is clash
    both = sum_of_denoised_losses(ld, clash)
    plain = dsm_loss(off, x0, sigma, noise)
    total = dsm_loss(off, x0, sigma, noise, auxiliary=both)
    parts = (dsm_loss(off, x0, sigma, noise, auxiliary=ld) - plain) + (dsm_loss(off, x0, sigma, noise, auxiliary=clash) - plain)
    assert torch.allclose(total - plain, parts, atol=1e-6)


def test_config_errors_name_the_field():
    assert clash_term(None) is None
    term = clash_term({"weight": 3, "min_separation": 4})
    assert term.weight == 3.0 and term.min_separation == 4
    with pytest.raises(InputError, match="unknown keys"):
        clash_term({"distanse": 3.0})
    with pytest.raises(InputError, match="clash.distance"):
        clash_term({"distance": -1})
    with pytest.raises(InputError, match="min_separation"):
        clash_term({"min_separation": 2.5})
    with pytest.raises(InputError, match="must be numbers"):
        clash_term({"weight": "heavy"})



# ---------------------------------------------------------------------------------------------
# the hydrogen-bond geometry loss (the other auxiliary term of campaign run 3)

def ideal_helix(L: int = 14) -> torch.Tensor:
    """(1, L, 4, 3) Å: an α-helix of Engh & Huber geometry (O(i) accepts from N(i+4))."""
    return backbone_from_dihedrals(torch.full((L,), -57.0, dtype=torch.float64),
                                   torch.full((L,), -47.0, dtype=torch.float64)).float()[None]


def test_hbond_loss_zero_on_the_clean_helix_and_known_value_for_a_moved_donor():
    x0 = ideal_helix()
    hb = soft_hbond_map(x0) > 0                                     # [1, acceptor, donor]
    assert int(hb.sum()) >= 6                                       # the helix has its i -> i+4 H-bonds
    loss = HBondLoss(weight=2.0, sigma_max=1.0)
    assert float(loss(x0, x0, None, torch.tensor([0.5]))) == 0.0
    # shift the last residue (donor only) by 0.3 Å along x: only bonds with that donor change
    x_hat = x0.clone()
    x_hat[0, -1] += torch.tensor([0.3, 0.0, 0.0])
    r, a, d = hb.nonzero(as_tuple=True)
    total = 0.0
    for ai, di in zip(a.tolist(), d.tolist()):
        for (i, ii), (j, jj) in (((ai, 3), (di, 0)), ((ai, 2), (di, 0)), ((ai, 3), (di, 1)), ((ai, 3), (di - 1, 2))):
            total += (float((x_hat[0, i, ii] - x_hat[0, j, jj]).norm()) - float((x0[0, i, ii] - x0[0, j, jj]).norm())) ** 2
    expected = 2.0 * total / len(a)
    got = loss(x_hat, x0, None, torch.tensor([0.5]))
    assert total > 0 and math.isclose(float(got), expected, rel_tol=1e-4)
    R = random_rotation(torch.Generator().manual_seed(3))
    assert torch.allclose(loss(x_hat @ R.T + 2.0, x0, None, torch.tensor([0.5])), got, rtol=1e-4)
    assert float(loss(x_hat, x0, None, torch.tensor([1.5]))) == 0.0  # σ above sigma_max: off


def test_hbond_loss_without_hbonds_padding_and_config():
    straight = straight_chain()                                     # no hydrogen bonds at all
    assert float(HBondLoss(weight=1.0)(straight + 0.1, straight, None, torch.tensor([0.1]))) == 0.0
    x0 = ideal_helix().repeat(2, 1, 1, 1)
    x_hat = x0.clone()
    x_hat[:, 10:] += 0.5
    mask = torch.ones(2, 14, dtype=torch.bool)
    mask[1, 10:] = False                                            # the moved residues are padding in row 1
    v = HBondLoss(weight=1.0)(x_hat, x0, mask, torch.tensor([0.5, 0.5]))
    assert v[0] > 0 and float(v[1]) == 0.0
    assert hbond_term(None) is None and hbond_term({"weight": 0.1, "sigma_max": 1}).sigma_max == 1.0
    with pytest.raises(InputError, match="unknown keys"):
        hbond_term({"cutoff": 3.0})
    with pytest.raises(InputError, match="hbond.weight"):
        hbond_term({"weight": -0.1})
