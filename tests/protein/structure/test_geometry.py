"""Tests for proteindsm.protein.structure.geometry: Kabsch, rotations, internal coordinates, masks."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from proteindsm.protein.structure import geometry as G
from proteindsm.protein.structure.backbone import (
    ANGLE_C_N_CA, ANGLE_CA_C_N, ANGLE_N_CA_C, BOND_C_N, BOND_C_O, BOND_CA_C, BOND_N_CA,
    pad_batch,
)
from tests.equivariance import assert_equivariant

DTYPES = [torch.float32, torch.float64]


def load_backbone_pdb(path: Path) -> tuple[np.ndarray, object]:
    """(L, 4, 3) N, CA, C, O of the first chain's amino acids, parsed with biotite by hand."""
    import biotite.structure as struc
    import biotite.structure.io as strucio

    atoms = strucio.load_structure(str(path))
    atoms = atoms[struc.filter_amino_acids(atoms) & ~atoms.hetero]
    atoms = atoms[atoms.chain_id == atoms.chain_id[0]]
    starts = struc.get_residue_starts(atoms)
    rows = []
    for start, stop in zip(starts, np.append(starts[1:], len(atoms))):
        res = atoms[start:stop]
        rows.append([res.coord[res.atom_name == name][0] for name in ("N", "CA", "C", "O")])
    return np.asarray(rows, dtype=np.float64), atoms


@pytest.fixture(scope="module")
def ubi(pdb_dir):
    return load_backbone_pdb(pdb_dir / "1ubi.pdb")


def ideal_helix(L: int = 20, dtype=torch.float64) -> torch.Tensor:
    return G.backbone_from_dihedrals(torch.full((L,), -57.0, dtype=dtype),
                                     torch.full((L,), -47.0, dtype=dtype))


def test_dihedrals_match_biotite_on_1ubi(ubi):
    import biotite.structure as struc

    X, atoms = ubi
    phi_b, psi_b, omg_b = (np.degrees(a) for a in struc.dihedral_backbone(atoms))
    phi, psi, omg = (t.numpy() for t in G.dihedrals(torch.from_numpy(X), degrees=True))
    assert X.shape == (76, 4, 3)
    np.testing.assert_allclose(phi, phi_b, atol=1e-3, equal_nan=True)
    np.testing.assert_allclose(psi, psi_b, atol=1e-3, equal_nan=True)
    d = (omg - omg_b + 180.0) % 360.0 - 180.0
    assert np.nanmax(np.abs(d)) < 1e-3
    assert np.isnan(phi[0]) and np.isnan(psi[-1]) and np.isnan(omg[-1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_ideal_helix_round_trip(dtype):
    X = ideal_helix(24, dtype)
    assert X.dtype == dtype and X.shape == (24, 4, 3)
    phi, psi, omg = G.dihedrals(X, degrees=True)
    assert torch.allclose(phi[1:], torch.tensor(-57.0, dtype=dtype), atol=1.0)
    assert torch.allclose(psi[:-1], torch.tensor(-47.0, dtype=dtype), atol=1.0)
    assert torch.allclose(omg[:-1].abs(), torch.tensor(180.0, dtype=dtype), atol=1.0)
    bonds = G.bond_lengths(X)
    ideal = torch.tensor([BOND_N_CA, BOND_CA_C, BOND_C_O, BOND_C_N], dtype=dtype)
    assert torch.allclose(bonds[:-1], ideal.expand(23, 4), atol=1e-4)
    assert torch.isnan(bonds[-1, 3])
    angles = G.bond_angles(X, degrees=True)
    ideal_a = torch.tensor([ANGLE_N_CA_C, ANGLE_CA_C_N, ANGLE_C_N_CA], dtype=dtype)
    assert torch.allclose(angles[:-1], ideal_a.expand(23, 3), atol=1e-2)
    # 3.6 residues per turn, 1.5 Å rise: CA(i)-CA(i+1) 3.8 Å
    assert torch.allclose(G.ca_ca_distances(X)[:-1], torch.tensor(3.80, dtype=dtype), atol=0.02)


def test_real_chain_geometry_near_ideal(ubi):
    X = torch.from_numpy(ubi[0])
    bonds = G.bond_lengths(X)
    ideal = torch.tensor([BOND_N_CA, BOND_CA_C, BOND_C_O, BOND_C_N], dtype=X.dtype)
    mad = torch.nanmean((bonds - ideal).abs(), dim=0)
    assert (mad < 0.03).all(), mad
    angles = G.bond_angles(X, degrees=True)
    ideal_a = torch.tensor([ANGLE_N_CA_C, ANGLE_CA_C_N, ANGLE_C_N_CA], dtype=X.dtype)
    assert (torch.nanmean((angles - ideal_a).abs(), dim=0) < 3.0).all()
    assert abs(float(torch.nanmean(G.ca_ca_distances(X))) - 3.80) < 0.03


@pytest.mark.parametrize("dtype", DTYPES)
def test_random_rotation_is_proper(dtype):
    g = torch.Generator().manual_seed(0)
    R = G.random_rotation(g, dtype, shape=(64,))
    assert R.shape == (64, 3, 3) and R.dtype == dtype
    eye = torch.eye(3, dtype=dtype).expand(64, 3, 3)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert torch.allclose(R @ R.transpose(-1, -2), eye, atol=tol)
    assert torch.allclose(torch.linalg.det(R), torch.ones(64, dtype=dtype), atol=tol)
    R2 = G.random_rotation(torch.Generator().manual_seed(0), dtype, shape=(64,))
    assert torch.equal(R, R2)
    assert G.random_rotation(None, dtype).shape == (3, 3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_kabsch_recovers_known_rotation(ubi, dtype):
    X = torch.from_numpy(ubi[0]).to(dtype)
    R = G.random_rotation(torch.Generator().manual_seed(1), dtype)
    t = torch.tensor([3.0, -7.0, 11.0], dtype=dtype)
    Y = G.apply_transform(X, R, t)
    aligned, R_fit, t_fit = G.kabsch_align(X, Y)
    tol = 1e-4 if dtype == torch.float32 else 1e-9
    assert torch.allclose(R_fit, R, atol=tol)
    assert torch.allclose(t_fit, t, atol=1e-3 if dtype == torch.float32 else 1e-8)
    assert torch.allclose(aligned, Y, atol=1e-3 if dtype == torch.float32 else 1e-8)
    assert float(G.rmsd(X, Y)) < 1e-3
    assert float(G.rmsd(X, Y, align=False)) > 1.0
    # a mirror image is not superimposable by a proper rotation
    mirror = X * torch.tensor([-1.0, 1.0, 1.0], dtype=dtype)
    assert torch.linalg.det(G.kabsch_align(mirror, Y)[1]) > 0
    assert float(G.rmsd(mirror, Y)) > 1.0


def test_kabsch_batched_with_padding(ubi):
    X = torch.from_numpy(ubi[0]).float()
    chains = [X[:50], X[10:70]]
    Xb, mask = pad_batch(chains)
    Xb[0, 50:] = 1000.0 * torch.randn(Xb.shape[1] - 50, 4, 3)     # garbage in the padding
    R = G.random_rotation(torch.Generator().manual_seed(2), torch.float32, shape=(2,))
    Yb = G.apply_transform(Xb, R, torch.zeros(2, 3))
    _, R_fit, _ = G.kabsch_align(Xb, Yb, mask)
    assert torch.allclose(R_fit, R, atol=1e-4)
    assert (G.rmsd(Xb, Yb, mask) < 1e-3).all()
    # CA-only fit, applied to all atoms
    _, R_ca, t_ca = G.kabsch_align(Xb[..., 1:2, :], Yb[..., 1:2, :], mask)
    assert torch.allclose(R_ca, R, atol=1e-4)


def test_masked_batch_matches_unbatched_and_nan_at_padding(ubi):
    X = torch.from_numpy(ubi[0])
    chains = [X[:30], X[20:76]]
    Xb, mask = pad_batch(chains)
    Xb = Xb.double()
    for b, c in enumerate(chains):
        L = len(c)
        for full, one in zip(G.dihedrals(Xb, mask), G.dihedrals(c)):
            torch.testing.assert_close(full[b, :L], one, equal_nan=True, atol=1e-5, rtol=0)
        torch.testing.assert_close(G.bond_lengths(Xb, mask)[b, :L], G.bond_lengths(c),
                                   equal_nan=True, atol=1e-5, rtol=0)
        torch.testing.assert_close(G.radius_of_gyration(Xb, mask)[b], G.radius_of_gyration(c),
                                   atol=1e-5, rtol=0)
    bonds = G.bond_lengths(Xb, mask)
    assert torch.isnan(bonds[0, 30:]).all() and torch.isnan(bonds[0, 29, 3])  # padding, last C-N
    assert not torch.isnan(bonds[0, 29, :3]).any()
    assert torch.isnan(G.dihedrals(Xb, mask)[0][0, 30:]).all()
    assert torch.isnan(G.ca_distance_matrix(Xb, mask)[0, 30:, :]).all()
    assert not torch.isnan(G.ca_distance_matrix(Xb, mask)[0, :30, :30]).any()


def test_gradients_finite_with_padding(ubi):
    X = torch.from_numpy(ubi[0]).float()
    Xb, mask = pad_batch([X[:40], X])
    Xb = Xb.clone().requires_grad_(True)
    phi, psi, omg = G.dihedrals(Xb, mask)
    loss = (torch.nanmean(G.bond_lengths(Xb, mask)) + torch.nanmean(G.bond_angles(Xb, mask))
            + torch.nanmean(torch.cos(phi)) + torch.nanmean(torch.sin(psi))
            + torch.nanmean(torch.cos(omg)) + G.radius_of_gyration(Xb, mask).sum()
            + torch.nanmean(G.ca_distance_matrix(Xb, mask))
            + torch.nanmean(G.ca_ca_distances(Xb, mask))
            + G.rmsd(Xb, Xb.detach() + 0.1, mask).sum())
    loss.backward()
    assert torch.isfinite(Xb.grad).all()
    assert (Xb.grad[0, 40:] == 0).all()


def test_rg_of_known_shapes():
    # CA atoms on a circle of radius 5 Å: Rg = 5
    L = 12
    ang = torch.arange(L, dtype=torch.float64) * 2 * math.pi / L
    X = torch.zeros(L, 4, 3, dtype=torch.float64)
    X[:, 1, 0], X[:, 1, 1] = 5 * torch.cos(ang), 5 * torch.sin(ang)
    assert abs(float(G.radius_of_gyration(X)) - 5.0) < 1e-6
    # CA on a line with 3.8 Å spacing: Rg = 3.8 * sqrt((L^2 - 1) / 12)
    X = torch.zeros(L, 4, 3, dtype=torch.float64)
    X[:, 1, 0] = 3.8 * torch.arange(L)
    assert abs(float(G.radius_of_gyration(X)) - 3.8 * math.sqrt((L * L - 1) / 12)) < 1e-6


def _antipodal_sphere(n_pairs: int, radius: float, centre, seed: int = 0) -> torch.Tensor:
    """``2 n_pairs`` points on a sphere, in ± pairs (so their centroid is the centre), float64."""
    v = torch.randn(n_pairs, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    v = radius * v / v.norm(dim=-1, keepdim=True)
    return torch.cat([v, -v]) + torch.as_tensor(centre, dtype=torch.float64)


def test_rg_of_points_on_a_sphere_ca_and_backbone():
    """The one Rg (geometry.radius_of_gyration): points on a sphere of radius r have Rg = r, for
    the CA definition and the all-backbone-atom definition; padding does not count."""
    centre = (3.0, -2.0, 7.0)
    ca = _antipodal_sphere(8, 6.0, centre)                                   # 16 residues
    X = torch.randn(16, 4, 3, dtype=torch.float64) * 30.0                    # N, C, O anywhere
    X[:, 1] = ca
    assert float(G.radius_of_gyration(X)) == pytest.approx(6.0, abs=1e-9)
    assert G.distances_to_centroid(X).sub(6.0).abs().max() < 1e-9
    bb = _antipodal_sphere(32, 4.0, centre, seed=1).reshape(16, 4, 3)       # all 64 atoms on a sphere
    assert float(G.radius_of_gyration(bb, atoms="backbone")) == pytest.approx(4.0, abs=1e-9)
    assert float(G.distances_to_centroid(bb, atoms="backbone").sub(4.0).abs().max()) < 1e-9
    padded = torch.cat([X, torch.full((5, 4, 3), 1e3, dtype=torch.float64)])[None]
    mask = torch.arange(21)[None] < 16
    assert float(G.radius_of_gyration(padded, mask)[0]) == pytest.approx(6.0, abs=1e-9)
    # eps is added under the root: a single residue has Rg = sqrt(eps)
    one = X[:1]
    assert float(G.radius_of_gyration(one)) == pytest.approx(1e-6, rel=1e-6)
    assert float(G.radius_of_gyration(one, eps=1e-6)) == pytest.approx(1e-3, rel=1e-6)
    assert float(G.radius_of_gyration(one, eps=0.0)) == 0.0
    with pytest.raises(ValueError, match="atoms"):
        G.radius_of_gyration(X, atoms="CB")


def test_every_rg_in_the_package_is_the_geometry_one(ubi):
    """The exact property, the design property and the predictors' features all use
    geometry.radius_of_gyration (with eps 0, 1e-6, 1e-6): same values to the bit."""
    from proteindsm.protein.model import predictor_features
    from proteindsm.protein.generate.targets import radius_of_gyration_property
    from proteindsm.protein.structure.properties import radius_of_gyration as exact_rg

    X = torch.from_numpy(ubi[0])
    assert exact_rg(X.numpy()) == float(G.radius_of_gyration(X, eps=0.0))
    x = torch.stack([X[:60], X[10:70]]).float()
    mask = torch.arange(60)[None] < torch.tensor([[60], [52]])
    for atoms in ("CA", "backbone"):
        assert torch.equal(radius_of_gyration_property(x, {"mask": mask}, atoms=atoms),
                           G.radius_of_gyration(x, mask, atoms=atoms, eps=1e-6))
    glob = predictor_features.global_features(x, mask, torch.ones(2))
    length = mask.sum(1).float()
    assert torch.equal(glob[:, 0], torch.log(G.radius_of_gyration(x, mask, eps=1e-6) / length ** 0.4 / 2.2))


def test_invariances_and_mirror(ubi):
    X = torch.from_numpy(ubi[0])
    for fn in (lambda y: torch.stack(G.dihedrals(y)), G.bond_lengths, G.bond_angles, G.radius_of_gyration):
        assert_equivariant(fn, X, kind="invariant", seed=3, rtol=1e-9)
    mirror = X * torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)
    phi, psi, _ = G.dihedrals(X)
    phi_m, psi_m, _ = G.dihedrals(mirror)
    torch.testing.assert_close(phi_m, -phi, equal_nan=True)
    torch.testing.assert_close(psi_m, -psi, equal_nan=True)
