"""fit_ideal_backbone: exact residues, closed peptide bonds, small moves, SE(3) equivariance (CPU, seeded)."""

from __future__ import annotations

import math

import pytest
import torch

from proteindsm.protein.structure.backbone import (ANGLE_C_N_CA, ANGLE_CA_C_N, ANGLE_CA_C_O, ANGLE_N_CA_C,
                                                   BOND_C_N, BOND_C_O, BOND_CA_C, BOND_N_CA)
from proteindsm.protein.structure.geometry import backbone_from_dihedrals, bond_angles, bond_lengths
from proteindsm.protein.structure.ideal_fit import PEPTIDE_DISTANCES, fit_ideal_backbone

from tests.equivariance import assert_equivariant


def _chain(n: int = 16) -> torch.Tensor:
    """An ideal chain: helix, one polyproline-II residue, then a β stretch (float64, (1, n, 4, 3) Å);
    no two atoms of residues ≥ 3 apart closer than 2.8 Å (a direct helix → β switch has a 2.2 Å O···O)."""
    phi = torch.tensor([-57.0] * (n // 2 - 1) + [-65.0] + [-120.0] * (n - n // 2))
    psi = torch.tensor([-47.0] * (n // 2 - 1) + [150.0] + [130.0] * (n - n // 2))
    return backbone_from_dihedrals(phi.double(), psi.double())[None]


def _torn(x: torch.Tensor, seed: int = 0, noise: float = 0.05) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    y = x + noise * torch.randn(x.shape, generator=gen, dtype=x.dtype)
    y[0, -1, 3] = y[0, -1, 2] + 0.4 * (y[0, -1, 3] - y[0, -1, 2])   # last C=O at ~0.5 Å
    y[0, 0, 0] = y[0, 0, 1] + 0.75 * (y[0, 0, 0] - y[0, 0, 1])      # first N–CA at ~1.1 Å
    return y


def test_peptide_distances_follow_from_the_angles() -> None:
    c_n, ca_n, c_ca = PEPTIDE_DISTANCES
    assert c_n == BOND_C_N
    # the law of cosines inverted gives back the Engh & Huber angles
    assert math.degrees(math.acos((BOND_CA_C ** 2 + BOND_C_N ** 2 - ca_n ** 2) / (2 * BOND_CA_C * BOND_C_N))) \
        == pytest.approx(ANGLE_CA_C_N, abs=1e-9)
    assert math.degrees(math.acos((BOND_C_N ** 2 + BOND_N_CA ** 2 - c_ca ** 2) / (2 * BOND_C_N * BOND_N_CA))) \
        == pytest.approx(ANGLE_C_N_CA, abs=1e-9)


def test_ideal_chain_is_a_fixed_point() -> None:
    x = _chain()
    assert (fit_ideal_backbone(x) - x).abs().max() < 1e-5


def test_torn_chain_gets_exact_residues_and_closed_peptide_bonds() -> None:
    x = _chain()
    torn = _torn(x)
    assert (bond_lengths(torn)[0, :, :3] - torch.tensor([BOND_N_CA, BOND_CA_C, BOND_C_O])).abs().max() > 0.3
    fit = fit_ideal_backbone(torn)
    b = bond_lengths(fit)[0]
    ideal = torch.tensor([BOND_N_CA, BOND_CA_C, BOND_C_O, BOND_C_N], dtype=b.dtype)
    assert (b[:, :3] - ideal[:3]).abs().max() < 1e-6                # residues: exact by construction
    assert (b[:-1, 3] - BOND_C_N).abs().max() < 5e-3                # peptide bonds closed
    ang = bond_angles(fit, degrees=True)[0]
    assert (ang[:, 0] - ANGLE_N_CA_C).abs().max() < 1e-4
    assert (ang[:-1, 1] - ANGLE_CA_C_N).abs().max() < 0.5
    assert (ang[:-1, 2] - ANGLE_C_N_CA).abs().max() < 0.5
    ca_c_o = torch.rad2deg(torch.arccos(torch.nn.functional.cosine_similarity(
        fit[0, :, 1] - fit[0, :, 2], fit[0, :, 3] - fit[0, :, 2], dim=-1)))
    assert (ca_c_o - ANGLE_CA_C_O).abs().max() < 1e-4
    # the fit moves atoms little: closer to the true chain than the torn input is
    rms = lambda a, b: float(((a - b) ** 2).sum(-1).mean().sqrt())  # noqa: E731
    assert rms(fit[..., :3, :], torn[..., :3, :]) < 0.1
    assert rms(fit, x) < rms(torn, x)


def test_no_restraint_across_a_chain_break() -> None:
    """A residue_index gap (or padding) is not pulled shut; padding comes back as 0."""
    x = _chain(12)
    y = x.clone()
    y[0, 6:] += torch.tensor([0.0, 0.0, 6.0], dtype=x.dtype)          # residues 7.. moved 6 Å away
    idx = torch.cat([torch.arange(6), torch.arange(6) + 20])[None]
    fit = fit_ideal_backbone(y, residue_index=idx)
    assert (fit - y).abs().max() < 1e-5                              # both halves ideal, gap untouched
    assert (fit_ideal_backbone(y) - y).abs().max() < 1e-5            # a 6 Å peptide bond is a break too
    mask = torch.ones(1, 12, dtype=torch.bool)
    mask[0, 10:] = False
    fit_m = fit_ideal_backbone(_torn(x) * mask[..., None, None], mask)
    assert (fit_m[0, 10:] == 0).all()
    assert (bond_lengths(fit_m)[0, :9, 3] - BOND_C_N).abs().max() < 5e-3


def test_fit_is_se3_equivariant() -> None:
    """Every term is invariant, so the minimiser is equivariant; run to convergence to see it exactly
    (the default 100 iterations stop a little short of it, along a path that rounding makes frame-dependent)."""
    torn = _torn(_chain(10), seed=3, noise=0.1)
    assert_equivariant(lambda z: fit_ideal_backbone(z, max_iterations=400), torn, kind="point", seed=4, rtol=1e-5)
    assert_equivariant(lambda z: fit_ideal_backbone(z), torn, kind="point", seed=4, rtol=1e-3)


def _two_segments(closest: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Two ideal 6-residue segments (not bonded: residue_index jumps) side by side, their closest
    atoms ``closest`` Å apart.  Returns ``(X (1, 12, 4, 3), residue_index (1, 12))``."""
    a = _chain(6)
    direction = torch.tensor([0.3, 1.0, 0.2], dtype=a.dtype)
    direction = direction / direction.norm()

    def placed(t: float) -> torch.Tensor:
        return torch.cat([a, a + t * direction], dim=1)

    lo, hi = 0.0, 30.0
    for _ in range(80):   # bisect the shift that gives the wanted closest distance
        mid = 0.5 * (lo + hi)
        x = placed(mid)
        d = torch.cdist(x[0, :6].reshape(-1, 3), x[0, 6:].reshape(-1, 3)).min()
        lo, hi = (mid, hi) if d < closest else (lo, mid)
    idx = torch.cat([torch.arange(6), torch.arange(6) + 20])[None]
    return placed(hi), idx


def _closest_between(x: torch.Tensor) -> float:
    return float(torch.cdist(x[0, :6].reshape(-1, 3), x[0, 6:].reshape(-1, 3)).min())


def test_near_contacts_are_moved_out_to_the_floor() -> None:
    """A 2.4 Å contact (the too-short N···O of sampled helices) ends at the 2.65 Å floor; with
    relax_from = contact_floor it is only kept from getting shorter."""
    x, idx = _two_segments(2.4)
    assert _closest_between(x) == pytest.approx(2.4, abs=1e-6)
    fit = fit_ideal_backbone(x, residue_index=idx)
    assert _closest_between(fit) > 2.63
    assert float((fit - x).norm(dim=-1).max()) < 0.3                 # a small, local move
    kept = fit_ideal_backbone(x, residue_index=idx, relax_from=2.65)
    assert 2.39 < _closest_between(kept) < 2.45


def test_overlaps_are_not_pushed_apart() -> None:
    """Closer than relax_from (2.2 Å) is a real overlap: it stays visible (not made worse either)."""
    x, idx = _two_segments(1.9)
    fit = fit_ideal_backbone(x, residue_index=idx)
    assert 1.89 < _closest_between(fit) < 2.1     # neighbouring near-contacts moving out may shift it a little


def test_infinite_break_distance_closes_a_wide_tear_and_weights_hold_residues() -> None:
    """break_distance=inf closes a 3 Å tear (a scaffold junction); position_weight keeps the
    weighted residues (a motif) in place while the rest of the chain gives way."""
    x = _chain(12)
    y = x.clone()
    y[0, 6:] += torch.tensor([2.0, 1.5, 1.5], dtype=x.dtype)         # C(6)–N(7) > 2.5 Å
    gap = float((y[0, 5, 2] - y[0, 6, 0]).norm())
    assert gap > 2.5
    default = fit_ideal_backbone(y)
    assert float((default[0, 5, 2] - default[0, 6, 0]).norm()) > 2.5   # a break by default
    weight = torch.ones(1, 12, dtype=x.dtype)
    weight[0, 6:] = 100.0
    fit = fit_ideal_backbone(y, break_distance=float("inf"), position_weight=weight, max_iterations=300)
    assert (bond_lengths(fit)[0, :-1, 3] - BOND_C_N).abs().max() < 0.1           # passes the bond check
    moved = (fit - y).norm(dim=-1)
    assert float(moved[0, 6:].max()) < 0.1 < float(moved[0, :6].max())
