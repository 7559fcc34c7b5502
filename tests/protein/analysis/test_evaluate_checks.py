"""The evaluation's bond check, clash rule, short N···O count and secondary-structure agreement.

Small synthetic backbones (ideal ones from backbone_from_dihedrals, or hand-placed atoms) and one
real chain (1ubi); no corpus, no checkpoint.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from proteindsm.cli import main
from proteindsm.cli.config import compose
from proteindsm.cli.evaluate import read_structure_dir, requested_ss_from_manifest
from proteindsm.errors import InputError
from proteindsm.protein.analysis import metrics as M
from proteindsm.protein.structure.backbone import C, N, O
from proteindsm.protein.analysis.evaluate import evaluate_backbones, geometry_summary
from proteindsm.protein.structure.geometry import backbone_from_dihedrals
from proteindsm.protein.data.io import write_structure
from tests.protein.structure.test_geometry import load_backbone_pdb


def ideal(L: int, phi: float, psi: float) -> np.ndarray:
    return backbone_from_dihedrals(torch.full((L,), phi, dtype=torch.float64),
                                   torch.full((L,), psi, dtype=torch.float64)).numpy()


def helix(L: int = 20) -> np.ndarray:
    return ideal(L, -57.0, -47.0)


def extended(L: int = 12) -> np.ndarray:
    return ideal(L, -120.0, 130.0)


def stretch_peptide_bond(X: np.ndarray, i: int, by: float) -> np.ndarray:
    """Move residues i+1.. along C(i)->N(i+1): only that bond changes length."""
    Y = X.copy()
    u = Y[i + 1, N] - Y[i, C]
    Y[i + 1:] += by * u / np.linalg.norm(u)
    return Y


# ----------------------------------------------------------------------------------------------
# bond check
def test_bond_check_ideal_and_real_pass_one_stretched_bond_fails(pdb_dir):
    X = helix()
    assert M.bond_check(X)["all_within"] and M.bond_check(X)["n_outliers"] == 0
    assert M.bond_check(load_backbone_pdb(pdb_dir / "1ubi.pdb")[0])["all_within"]
    assert M.bond_check(stretch_peptide_bond(X, 9, 0.08))["all_within"]         # within 0.1 Å
    bad = M.bond_check(stretch_peptide_bond(X, 9, 0.15))
    assert not bad["all_within"] and bad["n_outliers"] == 1
    assert (bad["worst_residue"], bad["worst_bond"], bad["worst_at_end"]) == (9, "C-N", False)
    assert bad["max_deviation_A"] == pytest.approx(0.15, abs=1e-9)
    assert M.bond_check(stretch_peptide_bond(X, 9, 0.15), tolerance=0.2)["all_within"]


def test_bond_check_locates_chain_end_outliers():
    X = helix()
    Y = X.copy()
    Y[-1, O] += 0.3 * (Y[-1, O] - Y[-1, C]) / np.linalg.norm(Y[-1, O] - Y[-1, C])   # last C=O
    end = M.bond_check(Y)
    assert (end["n_outliers"], end["n_outliers_at_ends"], end["worst_at_end"]) == (1, 1, True)
    assert end["worst_bond"] == "C-O" and end["worst_residue"] == len(X) - 1
    assert M.bond_check(stretch_peptide_bond(X, 0, 0.2))["worst_at_end"]          # C(0)-N(1)
    assert not M.bond_check(stretch_peptide_bond(X, 1, 0.2))["worst_at_end"]      # C(1)-N(2)
    middle = stretch_peptide_bond(X, 9, 0.2)

    s = geometry_summary([X, Y, middle])
    assert s["bonds_all_within_0.1A"] == pytest.approx(1 / 3)
    bc = s["bond_check"]
    assert bc["tolerance_A"] == 0.1 and bc["all_within_fraction"] == pytest.approx(1 / 3)
    assert bc["outliers_at_chain_ends_fraction"] == pytest.approx(0.5)   # 1 of the 2 outliers
    assert bc["worst_bond_at_chain_end_fraction"] == pytest.approx(0.5)
    assert bc["chain_end_share_of_bonds"] == pytest.approx(8 / 79)         # 4 + 3 + 1 of 4L - 1
    assert geometry_summary([X, Y, middle], bond_tolerance=0.35)["bonds_all_within_0.35A"] == 1.0


# ----------------------------------------------------------------------------------------------
# clash rule
_TEMPLATE = np.array([[0.0, 0.0, 0.0], [1.46, 0.0, 0.0], [2.0, 1.4, 0.0], [3.2, 1.5, 0.0]])


def no_contact(distance: float, separation: int, L: int = 10) -> np.ndarray:
    """Residues 10 Å apart except residue ``separation``, whose N sits ``distance`` Å from O(0)
    (every other inter-residue atom pair stays above 2.7 Å)."""
    X = np.stack([_TEMPLATE + [0.0, 0.0, 10.0 * k] for k in range(L)])
    X[separation] = _TEMPLATE - _TEMPLATE[N] + X[0, O] + [0.0, 0.0, distance]
    return X


def test_clash_rule_counts_short_n_o_pairs_three_or_more_apart():
    rule = (M.EVAL_CLASH_RULE["min_distance"], M.EVAL_CLASH_RULE["min_separation"])
    assert rule == (2.5, 3)
    assert M.clash_pair_count(no_contact(2.45, 5), *rule) == 1
    assert M.clash_pair_count(no_contact(2.6, 5), *rule) == 0
    assert M.clash_pair_count(no_contact(2.45, 3), *rule) == 1
    assert M.clash_pair_count(no_contact(2.45, 2), *rule) == 0                   # < 3 apart
    assert M.clash_pair_count(no_contact(2.45, 2), 2.5, 2) == 1
    assert M.clash_pair_count(no_contact(2.45, 5)) == 0      # the steric potential's rule: N···O 2.2 Å
    assert M.clash_pair_count(no_contact(2.15, 5)) >= 1     # (N···O and, at this spot, N···C)
    assert M.clash_pair_count(helix(), *rule) == 0                               # H-bonds ≈ 2.9 Å
    short_no = M.atom_pair_thresholds(2.6, [("N", "O")])
    assert M.clash_pair_count(no_contact(2.55, 5), short_no, 3) == 1
    assert M.clash_pair_count(no_contact(2.65, 5), short_no, 3) == 0
    with pytest.raises(InputError, match="atom names"):
        M.atom_pair_thresholds(2.6, [("N", "H")])


def test_evaluate_reports_clashes_for_both_sets_with_the_configured_rule():
    gen, ref = [no_contact(2.45, 5), no_contact(3.0, 5)], [no_contact(2.6, 5)]
    res = evaluate_backbones(gen, ref, max_diversity_pairs=1)
    g, r = res["generated"], res["reference"]
    assert (g["clash_free_fraction"], r["clash_free_fraction"]) == (0.5, 1.0)
    assert g["clash_pairs_mean"] == 0.5
    assert g["steric_rule_clashes"]["clash_free_fraction"] == 1.0
    assert g["short_no_pairs_per_100_residues"] == pytest.approx(100 * 1 / 20)
    assert r["short_no_pairs_per_100_residues"] == 0.0
    assert res["per_sample"]["generated"]["short_no_pairs"] == [1, 0]
    assert res["meta"]["clash_rule"]["min_distance"] == 2.5
    looser = evaluate_backbones(gen, ref, max_diversity_pairs=1, clash_min_distance=2.4,
                                short_no_distance=2.4)["generated"]
    assert looser["clash_free_fraction"] == 1.0 and looser["short_no_pairs_per_100_residues"] == 0.0
    cfg = compose("protein", "evaluate", ["samples=x"])
    assert (cfg.clash.min_distance, cfg.clash.min_separation) == (2.5, 3)
    assert cfg.bonds.tolerance == 0.1 and cfg.short_hbond.max_distance == 2.6


# ----------------------------------------------------------------------------------------------
# secondary-structure agreement
def test_ss_agreement_equals_hand_count():
    # DSSP (pydssp, 3-state) of the ideal helix is C + 18 H + C; of the extended chain all C (= L).
    gen = [helix(20), extended(12), helix(8)]
    requested = ["H" * 20, "LLLLHHHE----", None]
    res = evaluate_backbones(gen, gen[:1], max_diversity_pairs=1, requested_ss=requested)
    ss = res["ss_agreement"]
    assert ss["per_backbone"] == [pytest.approx(18 / 20), pytest.approx(4 / 8), None]
    assert ss["mean"] == pytest.approx((0.9 + 0.5) / 2)
    assert ss["pooled_fraction"] == pytest.approx((18 + 4) / 28)
    assert (ss["n_backbones"], ss["n_positions"]) == (2, 28)
    assert evaluate_backbones(gen, gen[:1], max_diversity_pairs=1)["ss_agreement"] is None


def test_ss_length_mismatch_is_one_clear_error():
    with pytest.raises(InputError, match=r"samples\[1\].* 11 letters but the backbone has 12"):
        evaluate_backbones([helix(20), extended(12)], [helix(20)], requested_ss=[None, "L" * 11])


def _samples_folder(tmp_path, ss_entries):
    folder = tmp_path / "samples"
    folder.mkdir()
    files = []
    for k, X in enumerate([helix(20), extended(12)]):
        name = f"len{len(X)}_{k:03d}.pdb"
        write_structure(folder / name, X.astype(np.float32))
        entry = {"file": name, "length": len(X)}
        if ss_entries[k] is not None:
            entry["ss"] = ss_entries[k]
        files.append(entry)
    (folder / "manifest.json").write_text(json.dumps({"seed": 0, "files": files}))
    return folder


def test_manifest_ss_is_read_and_checked_before_heavy_work(tmp_path, capsys):
    folder = _samples_folder(tmp_path, [None, "L" * 13])
    chains, names = read_structure_dir(folder, "samples")
    with pytest.raises(InputError) as err:
        requested_ss_from_manifest(folder, names, chains)
    msg = str(err.value)
    assert "len12_001.pdb" in msg and "13 letters" in msg and "12 residues" in msg
    # the CLI stops on it before looking at the reference (which does not exist here)
    assert main(["evaluate", f"samples={folder}", f"reference={tmp_path / 'missing'}",
                 f"out={tmp_path / 'e.json'}"]) != 0
    assert "13 letters" in capsys.readouterr().err


def test_manifest_without_ss_gives_no_figure(tmp_path):
    folder = _samples_folder(tmp_path, [None, None])
    chains, names = read_structure_dir(folder, "samples")
    assert requested_ss_from_manifest(folder, names, chains) is None
    (folder / "manifest.json").unlink()
    assert requested_ss_from_manifest(folder, names, chains) is None


def test_evaluate_cli_reports_ss_agreement(tmp_path):
    folder = _samples_folder(tmp_path, ["H" * 20, "LLLLHHHE----"])
    out = tmp_path / "e.json"
    assert main(["evaluate", f"samples={folder}", f"reference={folder}", "novelty_corpus=null",
                 "max_diversity_pairs=1", f"out={out}"]) == 0
    res = json.loads(out.read_text())
    # files are read in name order: len12_001.pdb, len20_000.pdb
    assert res["ss_agreement"]["per_backbone"] == [pytest.approx(0.5), pytest.approx(0.9)]
    assert res["generated"]["bonds_all_within_0.1A"] == 1.0
    assert res["reference"]["clash_free_fraction"] == 1.0
