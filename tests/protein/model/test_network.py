"""Symmetry, masking and numerics of the backbone score network (fast, CPU, seeded).

Geometry: ubiquitin (1ubi, chain A, 76 residues) from the shared PDB folder; the batch pairs the
full chain with a 50-residue stretch of it padded with garbage, so every test sees padding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from e3nn import o3

from proteindsm.errors import InputError
from proteindsm.protein.structure.domain import CA_INDEX, project_zero_ca_centroid, zero_ca_centroid_noise
from proteindsm.protein.model.egnn_baseline import EGNNBaseline
from proteindsm.protein.model.graph_inputs import knn_sequence_graph
from proteindsm.protein.model.network import BackboneScoreNet
from tests.equivariance import (assert_chiral, assert_equivariant, random_rotation, reflection_error,
                                symmetry_error)

SIGMAS = torch.tensor([0.5, 4.0])
# Small but structurally complete network (all paths, gates, l=2 harmonics) to keep the suite fast.
SMALL = dict(scalar_channels=16, vector_channels=4, num_layers=2, k_neighbors=8, seq_neighbors=2, lmax=2)


def _load_ubiquitin(pdb_dir: Path) -> torch.Tensor:
    import biotite.structure as struc
    import biotite.structure.io as strucio

    atoms = strucio.load_structure(pdb_dir / "1ubi.pdb")
    atoms = atoms[struc.filter_amino_acids(atoms) & (atoms.chain_id == "A")]
    coords = np.stack([atoms[atoms.atom_name == name].coord for name in ("N", "CA", "C", "O")], axis=1)
    assert coords.shape == (76, 4, 3)
    return torch.from_numpy(coords.astype(np.float64))


@pytest.fixture(scope="module")
def batch(pdb_dir: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """x (2, 76, 4, 3) float64 Å and mask (2, 76): chain 0 full, chain 1 = residues 10..59 + padding."""
    ubq = _load_ubiquitin(pdb_dir)
    x = torch.zeros(2, 76, 4, 3, dtype=torch.float64)
    x[0] = ubq
    x[1, :50] = ubq[10:60] + torch.tensor([5.0, -3.0, 2.0], dtype=torch.float64)
    gen = torch.Generator().manual_seed(1)
    x[1, 50:] = 1e3 * torch.randn(26, 4, 3, generator=gen, dtype=torch.float64)  # garbage in padding
    mask = torch.ones(2, 76, dtype=torch.bool)
    mask[1, 50:] = False
    return x, mask


def _build(dtype: torch.dtype, cls=BackboneScoreNet, **kwargs) -> torch.nn.Module:
    # e3nn computes its Clebsch–Gordan buffers in the default dtype at construction; build float64
    # networks under a float64 default so they are exact to ~1e-15, not float32-rounded.
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        torch.manual_seed(0)
        net = cls(**kwargs)
    finally:
        torch.set_default_dtype(previous)
    return net.to(dtype)


@pytest.fixture(scope="module")
def net64() -> BackboneScoreNet:
    return _build(torch.float64, **SMALL)


def test_e3nn_l1_basis_is_cartesian_xyz() -> None:
    """e3nn 0.6: l=1 harmonics are ∝ (x, y, z) and D¹(R) = R, so no basis change is needed."""
    v = torch.tensor([[0.3, -1.2, 2.0]], dtype=torch.float64)
    sh = o3.spherical_harmonics(1, v, normalize=True, normalization="component")
    assert torch.allclose(sh, 3**0.5 * v / v.norm(), atol=1e-12)
    sh_e = o3.SphericalHarmonics("0e+1e+2e", normalize=True, normalization="component")(v)
    sh_o = o3.spherical_harmonics([0, 1, 2], v, normalize=True, normalization="component")
    assert torch.allclose(sh_e, sh_o, atol=1e-12)  # pseudo-vector harmonics: same polynomials
    rot = random_rotation(torch.float64)
    assert torch.allclose(o3.Irrep("1e").D_from_matrix(rot), rot, atol=1e-6)


def _score(net, sigmas, mask):
    """The network as a function of the coordinates only (for tests/equivariance.py)."""
    return lambda y: net(y, sigmas.to(y.dtype), {"mask": mask})


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_rotation_translation_equivariance(batch, dtype: torch.dtype) -> None:
    """score(R x + t) = R score(x), at the helper's dtype tolerance.

    Seen: ~1e-14 (float64), ~1e-5 (float32) on scores of magnitude ~2 Å⁻¹.
    """
    x, mask = batch
    net = _build(dtype, **SMALL)
    with torch.no_grad():
        assert net(x.to(dtype), SIGMAS.to(dtype), {"mask": mask}).abs().max() > 1e-2
    assert_equivariant(_score(net, SIGMAS, mask), x.to(dtype))


def test_default_network_rotation_equivariance(batch) -> None:
    """The default-size network too (float64)."""
    x, mask = batch
    assert_equivariant(_score(_build(torch.float64), SIGMAS, mask), x, seed=3, translate=False)


def test_not_reflection_equivariant(batch, net64) -> None:
    """Chirality: the mirror check must fail — score(mirror x) differs from mirror(score(x)) at
    every σ (an E(3) network would give equality)."""
    x, mask = batch
    for sigma in (0.1, 1.0, 10.0):
        assert_chiral(_score(net64, torch.full((2,), sigma, dtype=torch.float64), mask), x)


@pytest.mark.parametrize("options", [dict(residue_invariants=True),
                                     dict(residue_invariants=True, atom_pair_features=True, num_pair_rbf=4)])
def test_local_feature_options_keep_se3(batch, options) -> None:
    """``residue_invariants`` (Gram + triple product node scalars) and ``atom_pair_features`` (16
    inter-residue atom distances per edge): still SE(3), still chiral, and rebuildable from config."""
    x, mask = batch
    net = _build(torch.float64, **SMALL, **options)
    assert all(net.config[k] == v for k, v in options.items())
    assert BackboneScoreNet(**net.config).config == net.config
    assert_equivariant(_score(net, SIGMAS, mask), x, seed=5)
    assert_chiral(_score(net, SIGMAS, mask), x)


def test_egnn_baseline_is_e3_equivariant(batch) -> None:
    """Contrast: the EGNN speed baseline is equivariant to rotations AND reflections."""
    x, mask = batch
    net = _build(torch.float64, EGNNBaseline, hidden_channels=16, num_layers=2, k_neighbors=8)
    assert_equivariant(_score(net, SIGMAS, mask), x, rtol=1e-9)
    assert_equivariant(_score(net, SIGMAS, mask), x, reflect=True, rtol=1e-9)
    assert reflection_error(_score(net, SIGMAS, mask), x) < 1e-9
    with torch.no_grad():
        assert net(x, SIGMAS.double(), {"mask": mask})[1, 50:].abs().max() == 0


def test_translation_invariance(batch, net64) -> None:
    x, mask = batch
    err = symmetry_error(_score(net64, SIGMAS, mask), x, q=torch.eye(3, dtype=torch.float64),
                         t=torch.tensor([100.0, -50.0, 25.0], dtype=torch.float64))
    assert err < 1e-9


@pytest.mark.parametrize("atom_pairs", [False, True])
def test_padding_does_not_leak(batch, net64, atom_pairs) -> None:
    """Extra padded residues (any values, even NaN) change nothing; padded outputs are exactly 0."""
    x, mask = batch
    if atom_pairs:
        net64 = _build(torch.float64, **SMALL, residue_invariants=True, atom_pair_features=True)
    s = SIGMAS.double()
    with torch.no_grad():
        out = net64(x, s, {"mask": mask})
        pad = torch.full((2, 9, 4, 3), float("nan"), dtype=torch.float64)
        x_long = torch.cat([x, pad], dim=1)
        mask_long = torch.cat([mask, torch.zeros(2, 9, dtype=torch.bool)], dim=1)
        out_long = net64(x_long, s, {"mask": mask_long})
        # chain 1 alone, unpadded, gives the same result as in the padded batch
        out_single = net64(x[1:, :50], s[1:], {"mask": mask[1:, :50]})
    assert torch.isfinite(out_long).all()
    assert torch.allclose(out_long[:, :76], out, rtol=0, atol=1e-10)
    assert torch.all(out_long[:, 76:] == 0) and torch.all(out[1, 50:] == 0)
    assert torch.allclose(out_single[0], out[1, :50], rtol=0, atol=1e-10)


def test_output_in_zero_ca_centroid_subspace(batch, net64) -> None:
    x, mask = batch
    with torch.no_grad():
        out = net64(x, SIGMAS.double(), {"mask": mask})
    for b, n in ((0, 76), (1, 50)):
        assert out[b, :n, CA_INDEX].mean(0).abs().max() < 1e-10
    assert torch.allclose(project_zero_ca_centroid(out, mask), out, rtol=0, atol=1e-12)


@pytest.mark.parametrize("sigma", [0.01, 100.0])
def test_gradients_finite(batch, sigma: float) -> None:
    x, mask = batch
    net = _build(torch.float32, **SMALL)
    x = x.float().requires_grad_(True)
    s = torch.full((2,), sigma)
    out = net(x, s, {"mask": mask})
    assert torch.isfinite(out).all()
    (out.pow(2).mean() * sigma**2).backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    assert torch.isfinite(x.grad).all() and torch.all(x.grad[1, 50:] == 0)


def test_residue_index_and_config_roundtrip(batch, net64) -> None:
    x, mask = batch
    s = SIGMAS.double()
    idx = torch.arange(76).expand(2, 76)
    with torch.no_grad():
        out = net64(x, s, {"mask": mask})
        assert torch.equal(net64(x, s, {"mask": mask, "residue_index": idx}), out)
        broken = idx.clone()
        broken[:, 30:] += 100  # a chain break changes the sequence edges / relative positions
        assert not torch.allclose(net64(x, s, {"mask": mask, "residue_index": broken}), out)
        rebuilt = _build(torch.float64, **net64.config)
        rebuilt.load_state_dict(net64.state_dict())
        assert torch.equal(rebuilt(x, s, {"mask": mask}), out)


def test_pruned_tensor_products_match_e3nn_reference(batch, net64, monkeypatch) -> None:
    """The dead-einsum pruning of e3nn's generated code (fast path) changes no result."""
    import proteindsm.protein.model.network as network_module

    x, mask = batch
    monkeypatch.setattr(network_module, "drop_dead_einsums", lambda module: None)  # looked up in network.py
    reference = _build(torch.float64, **net64.config)
    reference.load_state_dict(net64.state_dict())
    with torch.no_grad():
        out = net64(x, SIGMAS.double(), {"mask": mask})
        ref = reference(x, SIGMAS.double(), {"mask": mask})
    assert torch.allclose(out, ref, rtol=0, atol=1e-12)


def test_knn_sequence_graph_contains_union() -> None:
    gen = torch.Generator().manual_seed(0)
    ca = torch.cumsum(torch.randn(1, 40, 3, generator=gen), dim=1) * 2.2
    mask = torch.ones(1, 40, dtype=torch.bool)
    mask[0, 35:] = False
    idx = torch.arange(40)[None]
    nbr, emask = knn_sequence_graph(ca, mask, idx, k_neighbors=6, seq_neighbors=2)
    assert nbr.shape == (1, 40, 10)
    d = torch.cdist(ca[0, :35], ca[0, :35]) + torch.eye(35) * 1e9
    for i in range(35):
        got = set(nbr[0, i][emask[0, i]].tolist())
        knn = set(d[i].topk(6, largest=False).indices.tolist())
        seq = {j for j in range(max(0, i - 2), min(35, i + 3)) if j != i}
        assert knn | seq <= got and i not in got and max(got) < 35
    assert not emask[0, 35:].any()


def test_short_chains_and_bad_input() -> None:
    net = _build(torch.float32, **SMALL)
    gen = torch.Generator().manual_seed(0)
    for length in (1, 2, 5):
        x = torch.randn(1, length, 4, 3, generator=gen) * 3
        out = net(x, torch.tensor([1.0]))
        assert out.shape == x.shape and torch.isfinite(out).all()
    with pytest.raises(InputError):
        net(torch.zeros(1, 5, 3, 3), torch.tensor([1.0]))
    with pytest.raises(InputError):
        net(torch.zeros(2, 5, 4, 3), torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(InputError):
        net(torch.zeros(1, 5, 4, 3), torch.tensor([1.0]), {"mask": torch.ones(1, 4, dtype=torch.bool)})


def test_zero_ca_centroid_noise() -> None:
    like = torch.zeros(3, 20, 4, 3, dtype=torch.float64)
    mask = torch.ones(3, 20, dtype=torch.bool)
    mask[2, 12:] = False
    eps = zero_ca_centroid_noise(like, torch.tensor([1.0, 2.0, 3.0]), mask, torch.Generator().manual_seed(0))
    assert torch.all(eps[2, 12:] == 0)
    assert eps[0, :, CA_INDEX].mean(0).abs().max() < 1e-12
    assert eps[2, :12, CA_INDEX].mean(0).abs().max() < 1e-12
    v = torch.randn(3, 20, 4, 3, dtype=torch.float64)
    p = project_zero_ca_centroid(v, mask)
    assert torch.allclose(project_zero_ca_centroid(p, mask), p)  # idempotent
    assert torch.allclose(project_zero_ca_centroid(v + 7.0, mask), p)  # kills translations
