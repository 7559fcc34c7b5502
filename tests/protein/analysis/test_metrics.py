"""Tests for proteindsm.protein.analysis.metrics and proteindsm.protein.analysis.evaluate.

Real chains must look real (near-ideal geometry, allowed Ramachandran, right-handed helices, no
clashes) and deliberately broken backbones must be flagged by the metric meant to catch them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from proteindsm.errors import InputError
from proteindsm.protein.analysis import metrics as M
from proteindsm.protein.analysis import ramachandran as rama
from proteindsm.protein.analysis.evaluate import evaluate_backbones, geometry_summary, write_evaluation
from proteindsm.protein.analysis.reference_chains import load_corpus_chains, reference_from_corpus
from proteindsm.protein.structure.geometry import backbone_from_dihedrals
from tests.protein.structure.test_geometry import load_backbone_pdb


@pytest.fixture(scope="module")
def val_chains(corpus_path):
    chains, _ = load_corpus_chains(corpus_path, "val")
    lengths = np.array([len(c) for c in chains])
    pick = np.flatnonzero(lengths <= 120)[:8]     # small chains keep the test fast
    return [chains[i] for i in pick]


def ideal_helix(L: int = 30) -> np.ndarray:
    return backbone_from_dihedrals(torch.full((L,), -57.0, dtype=torch.float64),
                                   torch.full((L,), -47.0, dtype=torch.float64)).numpy()


def evaluate_alone(chains, reference):
    """Generated-set summary of ``chains`` (no TM work beyond a couple of pairs)."""
    return evaluate_backbones(chains, reference, max_diversity_pairs=2, seed=0)["generated"]


def test_real_chains_look_real(val_chains, pdb_dir):
    ubiquitin = load_backbone_pdb(pdb_dir / "1ubi.pdb")[0]
    result = evaluate_backbones(val_chains + [ubiquitin], val_chains[:2], max_diversity_pairs=2)
    s = result["generated"]
    assert s["bond_length_mad_mean_A"] < 0.03
    assert all(v < 0.03 for v in s["bond_length_mad_A"].values())
    assert s["bond_angle_mad_mean_deg"] < 3.0
    assert abs(s["ca_ca_consecutive_mean_A"] - 3.80) < 0.03
    assert s["ramachandran_allowed_fraction"] >= 0.95
    assert min(result["per_sample"]["generated"]["ramachandran_allowed_fraction"]) >= 0.9
    assert s["helix_handedness"]["n_helix_residues"] > 50
    assert s["helix_handedness"]["right_handed_fraction"] >= 0.95
    assert s["clash_free_fraction"] == 1.0


def test_geometry_summary_is_the_per_set_block_of_evaluate(val_chains):
    summary = geometry_summary(val_chains)
    full = evaluate_alone(val_chains, val_chains[:2])
    for key in ("bond_length_mad_mean_A", "bond_angle_mad_mean_deg", "ramachandran_allowed_fraction",
                "clash_pairs_mean", "helix_fraction_mean", "rg_normalised_mean"):
        assert summary[key] == pytest.approx(full[key]), key
    assert summary["bond_length_mad_mean_A"] < 0.05
    with pytest.raises(InputError, match=r"sweep\[0\]"):
        geometry_summary([np.zeros((10, 3))], name="sweep")


def test_ideal_helix_hbonds_are_not_clashes():
    X = ideal_helix()
    n, o = X[:, 0], X[:, 3]
    d_no = np.linalg.norm(n[4:] - o[:-4], axis=-1)          # N(i+4)···O(i) hydrogen bonds
    assert 2.8 < d_no.min() < 3.1
    assert M.clash_pair_count(X) == 0


def test_stretched_bonds_give_large_mad(val_chains):
    stretched = [c * np.float32(1.3) for c in val_chains[:3]]
    s = evaluate_alone(stretched, val_chains[:2])
    assert s["bond_length_mad_mean_A"] > 0.3
    assert abs(s["ca_ca_consecutive_mean_A"] - 3.8) > 1.0


def test_mirror_image_has_left_handed_helices(val_chains):
    mirrored = [c * np.array([1.0, 1.0, -1.0], dtype=np.float32) for c in val_chains]
    s = evaluate_alone(mirrored, val_chains[:2])
    hand = s["helix_handedness"]
    assert hand["n_helix_residues"] > 50                   # DSSP still finds the helices
    assert hand["right_handed_fraction"] < 0.05
    assert s["bond_length_mad_mean_A"] < 0.03              # geometry alone cannot tell
    assert s["clash_free_fraction"] == 1.0


def test_collapsed_backbone_clashes(val_chains):
    collapsed = [c * np.float32(0.3) for c in val_chains[:3]]
    assert all(M.clash_pair_count(c) > 0 for c in collapsed)
    assert evaluate_alone(collapsed, val_chains[:2])["clash_free_fraction"] == 0.0


def test_random_coordinates_fail_ramachandran():
    rng = np.random.default_rng(0)
    random = [rng.uniform(-15, 15, size=(80, 4, 3)) for _ in range(4)]
    s = evaluate_alone(random, random[:2])
    assert s["ramachandran_allowed_fraction"] < 0.5
    assert s["bond_length_mad_mean_A"] > 1.0
    assert s["clash_free_fraction"] == 0.0


def test_ramachandran_map_regions_and_round_trip(val_chains):
    rmap = rama.default_ramachandran_map()
    assert rmap.n_bins == 36 and 0.97 <= rmap.coverage <= 0.99
    inside = rmap.contains(np.array([-57.0, -120.0, -75.0, 57.0]),
                           np.array([-47.0, 130.0, 145.0, 47.0]))
    assert inside.all()                                     # αR, β, PPII, αL
    assert not rmap.contains(np.array([0.0, 90.0, 150.0]), np.array([-90.0, -90.0, 0.0])).any()
    assert not rmap.contains(np.array([np.nan]), np.array([0.0])).any()
    again = rama.RamachandranMap.from_json(rmap.to_json())
    assert np.array_equal(again.allowed, rmap.allowed)
    built = rama.build_ramachandran_map(val_chains, coverage=0.9)
    assert built.coverage >= 0.9 and built.allowed.mean() < rmap.allowed.mean()


def test_tm_score_self_is_one(val_chains):
    X = val_chains[0]
    a, b = M.tm_score(X, X)
    assert a == pytest.approx(1.0) and b == pytest.approx(1.0)
    assert M.pairwise_tm_scores([X, X]) == pytest.approx([1.0])
    assert M.novelty_max_tm([X], [val_chains[1], X]) == pytest.approx([1.0])
    assert M.tm_score(X, val_chains[1])[0] < 0.7


def test_evaluate_end_to_end_and_write(val_chains, tmp_path):
    samples, reference = val_chains[:3], val_chains[3:6]
    result = evaluate_backbones(samples, reference, train_set_for_novelty=val_chains,
                                novelty_subset_size=3, seed=1)
    text = json.dumps(result, allow_nan=False)              # JSON-serialisable, no NaN
    assert json.loads(text) == result
    for key in ("meta", "generated", "reference", "distribution_distances", "per_length",
                "per_sample", "histograms"):
        assert key in result
    assert set(result["generated"]) == set(result["reference"])
    assert result["meta"]["novelty_train_subset_size"] == 3
    assert result["generated"]["novelty"]["train_subset_size"] == 3
    assert result["generated"]["diversity"]["n_pairs"] == 3
    assert all(v is not None and v >= 0 for v in result["distribution_distances"].values())
    assert sum(v["n"] for v in result["per_length"]["generated"].values()) == 3
    assert result == evaluate_backbones(samples, reference, train_set_for_novelty=val_chains,
                                        novelty_subset_size=3, seed=1)   # seeded
    paths = write_evaluation(result, tmp_path / "eval.json", tmp_path / "plots")
    assert json.loads((tmp_path / "eval.json").read_text()) == result
    pngs = sorted(p.name for p in paths if p.suffix == ".png")
    assert pngs == sorted(["ramachandran.png", "rg_vs_length.png", "sse_fractions.png",
                           "bond_lengths.png", "bond_angles.png", "ca_pair_distances.png"])
    assert all(p.stat().st_size > 1000 for p in paths)


def test_evaluate_rejects_bad_input(val_chains):
    with pytest.raises(InputError, match="samples"):
        evaluate_backbones([], val_chains[:2])
    bad = val_chains[0].copy()
    bad[5, 2, 1] = np.nan
    with pytest.raises(InputError, match=r"samples\[1\].*NaN"):
        evaluate_backbones([val_chains[0], bad], val_chains[:2])


def test_reference_from_corpus(corpus_path):
    lengths = [50, 50, 80]
    ref, info = reference_from_corpus(corpus_path, lengths, seed=3, return_info=True)
    assert [len(x) for x in ref] == [50, 50, 80]
    assert all(x.shape[1:] == (4, 3) and x.dtype == np.float32 for x in ref)
    assert all(i["source_length"] >= i["length"] and i["start"] + i["length"] <= i["source_length"]
               for i in info)
    assert all(abs(x[:, 1].mean(0)).max() < 1e-3 for x in ref)      # CA-centred
    again = reference_from_corpus(corpus_path, lengths, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(ref, again))
    assert len(reference_from_corpus(corpus_path, [64], n_per_length=4)) == 4
    with pytest.raises(InputError, match="split"):
        reference_from_corpus(corpus_path, [50], split="test")
    with pytest.raises(InputError, match="corpus file not found"):
        reference_from_corpus(corpus_path.parent / "missing.npz", [50])
