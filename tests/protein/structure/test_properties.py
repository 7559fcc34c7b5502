"""Tests for proteindsm.protein.structure.properties: exact labels of clean backbones."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from proteindsm.errors import InputError
from proteindsm.protein.structure import properties as P
from proteindsm.protein.analysis.reference_chains import load_corpus_chains
from proteindsm.protein.structure.geometry import backbone_from_dihedrals
from tests.equivariance import assert_equivariant


def build(phi: float, psi: float, L: int) -> np.ndarray:
    return backbone_from_dihedrals(torch.full((L,), phi, dtype=torch.float64),
                                   torch.full((L,), psi, dtype=torch.float64)).numpy()


@pytest.fixture(scope="module")
def val_chains(corpus_path):
    chains, ids = load_corpus_chains(corpus_path, "val")
    return chains[:6], ids[:6], corpus_path


def test_ideal_helix_is_helix():
    X = build(-57.0, -47.0, 30)
    ss = P.secondary_structure(X)
    assert len(ss) == 30 and set(ss) <= set("HEC")
    assert P.helix_fraction(X) >= 0.9
    assert P.strand_fraction(X) == 0.0
    assert P.fold_class(X) == 0
    # torch input gives the same answer
    assert P.helix_fraction(torch.from_numpy(X).float()) == P.helix_fraction(X)


def test_extended_strand_is_not_helix():
    X = build(-120.0, 130.0, 30)
    assert P.helix_fraction(X) == 0.0
    assert P.strand_fraction(X) == 0.0          # a lone strand has no ladder partner
    assert P.coil_fraction(X) == 1.0
    assert P.contact_order(X) == 0.0            # no CA pair within 8 Å at |i-j| >= 3
    assert P.fold_class(X) == 2
    assert P.rg_normalised(X) > 5.0             # extended, far above compact ≈ 2.2


def test_short_chain_is_coil():
    assert P.secondary_structure(build(-57.0, -47.0, 4)) == "CCCC"


def test_rg_of_known_shapes():
    L = 10
    X = np.zeros((L, 4, 3))
    X[:, 1, 0] = 3.8 * np.arange(L)             # CA on a line, 3.8 Å apart
    expected = 3.8 * math.sqrt((L * L - 1) / 12)
    assert P.radius_of_gyration(X) == pytest.approx(expected, abs=1e-9)
    assert P.rg_normalised(X) == pytest.approx(expected / L ** 0.4, abs=1e-9)


def test_contact_order_of_helix():
    # in an α-helix CA(i)-CA(i+3) ≈ 5.0 Å, (i+4) ≈ 6.2 Å, (i+5) ≈ 8.6 Å: contacts at |i-j| 3 and 4
    L = 20
    X = build(-57.0, -47.0, L)
    expected = (3 * (L - 3) + 4 * (L - 4)) / (L * ((L - 3) + (L - 4)))
    assert P.contact_order(X) == pytest.approx(expected, abs=1e-9)


def test_agrees_with_corpus_dssp(val_chains):
    chains, ids, path = val_chains
    with np.load(path, allow_pickle=False) as d:
        lengths, all_ids, dssp = d["lengths"], d["ids"], d["dssp"].astype(str)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    for X, cid in zip(chains, ids):
        k = int(np.flatnonzero(all_ids == cid)[0])
        ref = dssp[offsets[k]:offsets[k + 1]]
        ref3 = np.where(np.isin(ref, list("HGI")), "H",
                        np.where(np.isin(ref, list("EB")), "E", "C"))
        ours = np.array(list(P.secondary_structure(X)))
        assert (ours == ref3).mean() > 0.85, cid


def test_properties_rotation_invariant(val_chains):
    chains = val_chains[0][:3]
    assert set(P.compute_properties(chains)) == set(P.PROPERTIES) | {"length"}
    for k, X in enumerate(chains):
        def props(y):
            values = P.compute_properties([y.numpy()])
            return torch.tensor([float(np.asarray(values[name]).reshape(-1)[0]) for name in sorted(values)])
        assert_equivariant(props, torch.from_numpy(X.astype(np.float64)), kind="invariant", seed=k, rtol=1e-4)


def test_properties_table_and_ranges(val_chains):
    X = val_chains[0][0]
    table = P.compute_properties([X])
    for name, spec in P.PROPERTIES.items():
        fn, (lo, hi), desc = spec
        assert callable(fn) and lo < hi and isinstance(desc, str) and desc
        value = fn(X)
        assert lo <= value <= hi, name
        assert value == pytest.approx(table[name][0]), name
    fr = [table[k][0] for k in ("helix_fraction", "strand_fraction", "coil_fraction")]
    assert sum(fr) == pytest.approx(1.0)


def test_bad_input_raises_input_error():
    with pytest.raises(InputError, match=r"\(L, 4, 3\)"):
        P.helix_fraction(np.zeros((10, 3, 3)))
    bad = build(-57.0, -47.0, 10)
    bad[3, 1, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        P.radius_of_gyration(bad)
    with pytest.raises(InputError, match="unknown property"):
        P.compute_properties([build(-57.0, -47.0, 10)], names=["helicity"])
