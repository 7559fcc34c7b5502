"""Motif scaffolding: contig syntax, motif I/O, layouts, the SE(3)-invariant motif condition, the
PDB REMARKs and report, bad-input errors, and a tiny end-to-end `proteindsm scaffold` run."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from proteindsm.cli import main
from proteindsm.core import ReconstructionGuidance, Replacement
from proteindsm.errors import InputError
from proteindsm.protein.structure.geometry import apply_transform, random_rotation
from proteindsm.protein.data.io import read_backbones, write_cif
from proteindsm.protein.generate.contig import (Layout, MotifSegment, NewSegment, check_fit, draw_layout, parse_contig,
                                               parse_length_bounds)
from proteindsm.protein.generate import contig
from proteindsm.protein.generate.motif import read_motif
from proteindsm.resources import shipped_checkpoint
from proteindsm.protein.generate.scaffold_sampling import (fit_ideal_scaffolds, known_part, motif_rmsd, scaffold_remarks,
                                                          write_scaffold_pdb)
from tests.interrupt import CallCounter
from tests.equivariance import assert_equivariant

EXAMPLE = "10-20/A16-30/5-15/A50-60/10-20"


# ------------------------------------------------------------------------------------ contigs
def test_parse_contig_example():
    segs = parse_contig(EXAMPLE)
    assert segs == [NewSegment("10-20", 10, 20), MotifSegment("A16-30", "A", 16, 30), NewSegment("5-15", 5, 15),
                    MotifSegment("A50-60", "A", 50, 60), NewSegment("10-20", 10, 20)]
    assert segs[1].size == 15 and segs[1].labels()[:2] == ["A16", "A17"]


def test_parse_contig_single_numbers_and_residues():
    assert parse_contig("7/A5/0-3/B9-10") == [NewSegment("7", 7, 7), MotifSegment("A5", "A", 5, 5),
                                              NewSegment("0-3", 0, 3), MotifSegment("B9-10", "B", 9, 10)]
    assert parse_contig("A1-4") == [MotifSegment("A1-4", "A", 1, 4)]


@pytest.mark.parametrize("contig,match", [
    ("", "non-empty"),
    ("   ", "non-empty"),
    (None, "non-empty"),
    ("10//A1-5", "segment 2 is empty"),
    ("/A1-5", "segment 1 is empty"),
    ("A1-5/", "segment 2 is empty"),
    ("A16-", "segment 1 'A16-': not a new segment"),
    ("16-A", "segment 1 '16-A': not a new segment"),
    ("AB1-5", "segment 1 'AB1-5': not a new segment"),
    ("A1.5", "not a new segment"),
    ("-5/A1-3", "segment 1 '-5': not a new segment"),
    ("A1-3/x", "segment 2 'x': not a new segment"),
    ("A30-16", "segment 1 'A30-16': motif range starts after it ends"),
    ("15-5/A1-3", "segment 1 '15-5': length range is reversed"),
    ("A1-3/0/A5-6", "segment 2 '0': a segment of 0 residues"),
    ("A1-5/3/A3-8", "segment 3 'A3-8': motif residue A3 is already in segment 'A1-5'"),
    ("A1-5 B1-5", "whitespace"),
    ("10-20/5", "no motif segment"),
    (12, "no motif segment"),
])
def test_parse_contig_rejects_every_syntax_error(contig, match):
    with pytest.raises(InputError, match=match):
        parse_contig(contig)


def test_length_bounds_and_fit():
    assert parse_length_bounds(None) is None and parse_length_bounds("80-120") == (80, 120)
    assert parse_length_bounds(100) == (100, 100) and parse_length_bounds("90 - 95") == (90, 95)
    for bad in ("120-80", "0-5", "abc", "-5", True, "80:120"):
        with pytest.raises(InputError, match="length"):
            parse_length_bounds(bad)
    segs = parse_contig(EXAMPLE)                 # 51-81 residues
    assert check_fit(segs, None) == (51, 81) and check_fit(segs, (80, 120)) == (80, 81)
    with pytest.raises(InputError, match=r"gives 51-81 residues, which cannot fit length=90-120"):
        check_fit(segs, (90, 120))
    with pytest.raises(InputError, match="cannot fit length=10-40"):
        check_fit(segs, (10, 40))
    with pytest.raises(InputError, match="at most 40"):
        check_fit(segs, None, max_length=40)


def test_layouts_are_seeded_and_within_bounds():
    segs = parse_contig(EXAMPLE)
    for bounds in (None, (70, 75)):
        lays = [draw_layout(segs, bounds, 3, i) for i in range(40)]
        assert lays == [draw_layout(segs, bounds, 3, i) for i in range(40)]          # same seed, same layouts
        assert lays != [draw_layout(segs, bounds, 4, i) for i in range(40)]
        assert len({lay.lengths for lay in lays}) > 10                               # each backbone its own
        for lay in lays:
            assert lay.lengths[1] == 15 and lay.lengths[3] == 11
            assert all(s.lo <= n <= s.hi for s, n in zip(segs, lay.lengths) if isinstance(s, NewSegment))
            if bounds:
                assert bounds[0] <= lay.total <= bounds[1]
    lay = Layout(tuple(segs), (12, 15, 8, 11, 14))
    assert lay.describe() == "12/A16-30/8/A50-60/14" and lay.total == 60
    assert lay.positions_text() == "13-27;36-46"
    assert lay.motif_positions().tolist() == list(range(12, 27)) + list(range(35, 46))


# ------------------------------------------------------------------------------------ motif I/O
def test_read_motif_from_pdb_and_mmcif(pdb_dir, tmp_path):
    segs = parse_contig(EXAMPLE)
    motif = read_motif(pdb_dir / "1ubi.pdb", segs)
    (chain,) = read_backbones(pdb_dir / "1ubi.pdb")        # residues 1..76, no gaps
    want = np.concatenate([chain.coords[15:30], chain.coords[49:60]])
    assert motif.coords.shape == (26, 4, 3) and np.allclose(motif.coords, want, atol=1e-4)
    assert motif.labels[0] == "A16" and motif.labels[-1] == "A60"
    # ubiquitin: residues 16-19 are E, V, E, P; 50-52 L, E, D
    assert motif.res_names[:4] == ("GLU", "VAL", "GLU", "PRO") and motif.res_names[15:18] == ("LEU", "GLU", "ASP")
    cif = write_cif(tmp_path / "ubq.cif", chain.coords, seq=chain.seq)
    from_cif = read_motif(cif, segs)
    assert np.allclose(from_cif.coords, motif.coords, atol=1e-3) and from_cif.res_names == motif.res_names


def _without_atom(src, dst, res_id: int, atom: str):
    lines = [ln for ln in src.read_text().splitlines()
             if not (ln.startswith("ATOM") and int(ln[22:26]) == res_id and ln[12:16].strip() == atom)]
    dst.write_text("\n".join(lines) + "\n")
    return dst


def test_read_motif_errors_name_the_segment(pdb_dir, tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_motif(tmp_path / "nope.pdb", parse_contig("A1-5"))
    with pytest.raises(InputError, match=r"contig segment 'B1-5': chain B is not in 1ubi.pdb \(chains: A\)"):
        read_motif(pdb_dir / "1ubi.pdb", parse_contig("5/A1-3/B1-5"))
    with pytest.raises(InputError, match=r"contig segment 'A70-80': residue A77 is not in 1ubi.pdb \(chain A has residues 1-76"):
        read_motif(pdb_dir / "1ubi.pdb", parse_contig("A70-80"))
    broken = _without_atom(pdb_dir / "1ubi.pdb", tmp_path / "broken.pdb", 20, "O")
    with pytest.raises(InputError, match=r"contig segment 'A16-30': residue A20 \(SER\) in broken.pdb lacks backbone atom\(s\) O"):
        read_motif(broken, parse_contig("A16-30"))


# ------------------------------------------------------------------------------------ the condition
def _equivariant_score(x, sigma, cond=None):
    """A rotation- and translation-equivariant toy score: pulls every atom toward the CA centroid
    and each residue's atoms toward its CA (so J = ∂x̂₀/∂x is not I)."""
    c = x[:, :, 1:2].mean(1, keepdim=True)
    s2 = sigma.reshape(-1, 1, 1, 1) ** 2
    return -(x - c) / (4.0 + s2) - 0.3 * (x - x[:, :, 1:2]) / (1.0 + s2)


@pytest.mark.parametrize("make", [lambda k: Replacement(k), lambda k: ReconstructionGuidance(k, sigma_data=10.0)],
                         ids=["replacement", "guidance"])
def test_motif_condition_is_se3_invariant(pdb_dir, make):
    """Rotating + translating the state rotates the conditioned score; rotating the motif target
    changes nothing (the motif is superposed, not fixed in space)."""
    torch.manual_seed(0)
    segs = parse_contig("4/A23-30/3/A40-45/4")
    motif = read_motif(pdb_dir / "1ubi.pdb", segs)
    lays = [draw_layout(segs, None, 0, i) for i in range(2)]
    lays = [Layout(lays[0].segments, lays[0].lengths)] * 2
    kp = known_part(motif, lays, dtype=torch.float64)
    x = torch.randn(2, lays[0].total, 4, 3, dtype=torch.float64) * 6.0
    sigma = torch.tensor([0.5, 3.0], dtype=torch.float64)
    R = random_rotation(torch.Generator().manual_seed(1), dtype=torch.float64, shape=(2,))
    t = torch.randn(2, 3, dtype=torch.float64) * 20
    score = make(kp).wrap(_equivariant_score)
    got = score(apply_transform(x, R, t), sigma)
    want = apply_transform(score(x, sigma), R, torch.zeros_like(t))
    assert torch.allclose(got, want, atol=1e-8), (got - want).abs().max()
    moved = known_part(motif, lays, dtype=torch.float64)
    moved.values = apply_transform(moved.values, R, t)
    assert torch.allclose(make(moved).wrap(_equivariant_score)(x, sigma), score(x, sigma), atol=1e-8)
    # without the superposition the condition depends on where the target happens to sit
    fixed = known_part(motif, lays, dtype=torch.float64)
    fixed.align = None
    assert not torch.allclose(make(fixed).wrap(_equivariant_score)(apply_transform(x, R, t), sigma), want, atol=1e-3)


def test_motif_rmsd_is_invariant_and_zero_on_the_motif(pdb_dir):
    segs = parse_contig("3/A23-34/2")
    motif = read_motif(pdb_dir / "1ubi.pdb", segs)
    lay = Layout(tuple(segs), (3, 12, 2))
    X = np.random.default_rng(0).normal(size=(17, 4, 3)) * 3
    X[3:15] = motif.coords
    assert motif_rmsd(X, motif, lay) < 1e-3
    Y = X.copy()
    Y[3:15] = motif.coords + np.random.default_rng(1).normal(size=(12, 4, 3)) * 0.5
    assert_equivariant(lambda y: torch.tensor(motif_rmsd(y.numpy(), motif, lay)), torch.from_numpy(Y),
                       kind="invariant", seed=2, rtol=1e-6)
    # noise 0.5 Å per coordinate: 0.87 Å per atom as placed; the superposition can only lower it
    from proteindsm.protein.structure.geometry import rmsd
    as_placed = float(rmsd(torch.as_tensor(Y[3:15]), torch.as_tensor(motif.coords, dtype=torch.float64), align=False))
    assert 0.7 < as_placed < 0.95 and 0.5 < motif_rmsd(Y, motif, lay) < as_placed


def test_ideal_output_closes_a_torn_junction_and_keeps_the_motif(pdb_dir):
    """The scaffold fit closes a junction torn by ~2.5 Å (``sample``'s fit would leave it as a chain
    break) and moves mostly the new segment, not the motif."""
    from proteindsm.protein.structure.backbone import BOND_C_N
    from proteindsm.protein.structure.geometry import bond_lengths
    from proteindsm.protein.structure.ideal_fit import fit_ideal_backbone

    segs = parse_contig("3/A23-34/6")
    motif = read_motif(pdb_dir / "1ubi.pdb", segs)
    lay = Layout(tuple(segs), (3, 12, 6))
    chain = read_backbones(pdb_dir / "1ubi.pdb")[0]
    X = torch.tensor(chain.coords[19:40], dtype=torch.float64)[None]    # residues 20-40 (1ubi numbers from 1)
    assert motif_rmsd(X[0].numpy(), motif, lay) < 1e-3
    torn = X.clone()
    torn[0, 15:] += torch.tensor([1.5, 1.5, 1.0], dtype=X.dtype)      # C(15)–N(16) torn open
    gap = float((torn[0, 14, 2] - torn[0, 15, 0]).norm())
    assert gap > 2.2
    mask = torch.ones(1, 21, dtype=torch.bool)
    assert float(bond_lengths(fit_ideal_backbone(torn, mask))[0, 14, 3]) > 2.0   # sample's fit: a break
    fit = fit_ideal_scaffolds(torn, mask, [lay])
    assert (bond_lengths(fit)[0, :-1, 3] - BOND_C_N).abs().max() < 0.1
    assert motif_rmsd(fit[0].numpy(), motif, lay) < 0.3
    moved = (fit - torn).norm(dim=-1)[0]
    assert float(moved[3:15].mean()) < float(moved[15:].mean())


# ------------------------------------------------------------------------------------ output files
def test_remarks_and_pdb_residue_names(pdb_dir, tmp_path):
    segs = parse_contig("3/A16-18/0-2/A50-51/2")
    motif = read_motif(pdb_dir / "1ubi.pdb", segs)
    lay = Layout(tuple(segs), (3, 3, 0, 2, 2))
    assert scaffold_remarks(motif, lay) == [
        "REMARK 999 SCAFFOLD CONTIG 3/A16-18/0/A50-51/2 MOTIF 1ubi.pdb",
        "REMARK 999 SEGMENT 1 NEW 3 -> OUTPUT 1-3",
        "REMARK 999 SEGMENT 2 MOTIF A16-18 -> OUTPUT 4-6",
        "REMARK 999 SEGMENT 3 NEW 0 -> OUTPUT none",
        "REMARK 999 SEGMENT 4 MOTIF A50-51 -> OUTPUT 7-8",
        "REMARK 999 SEGMENT 5 NEW 2 -> OUTPUT 9-10",
    ]
    X = np.random.default_rng(0).normal(size=(10, 4, 3)).astype(np.float32) * 5
    path = write_scaffold_pdb(tmp_path / "s.pdb", X, motif, lay)
    lines = path.read_text().splitlines()
    assert lines[:6] == scaffold_remarks(motif, lay)
    atoms = [ln for ln in lines if ln.startswith("ATOM")]
    names = [atoms[4 * i][17:20] for i in range(10)]
    assert names == ["GLY"] * 3 + ["GLU", "VAL", "GLU", "LEU", "GLU"] + ["GLY"] * 2
    assert [float(atoms[4 * i][60:66]) for i in range(10)] == [0.0] * 3 + [1.0] * 5 + [0.0] * 2
    (back,) = read_backbones(path, max_peptide_bond=1e9)
    assert np.allclose(back.coords, X, atol=1e-3)


# ------------------------------------------------------------------------------------ CLI
FAST = ["steps=3", "sampler=langevin_fast", "progress=false", "device=cpu"]


@pytest.fixture(scope="module", params=[None, "replacement"], ids=["default_guidance", "replacement"])
def cli_run(pdb_dir, tmp_path_factory, request):
    out = tmp_path_factory.mktemp("scaffold")
    extra = [] if request.param is None else [f"mechanism={request.param}"]
    rc = main(["scaffold", f"motif={pdb_dir / '1ubi.pdb'}", "contig=2-4/A23-30/3/A40-43/2-4", "num=3",
               "length=20-22", f"out={out}", *FAST, *extra])
    return rc, out, request.param or "guidance"


def test_cli_writes_pdbs_report_and_manifest(cli_run):
    rc, out, mechanism = cli_run
    assert rc == 0
    rows = list(csv.DictReader((out / "report.csv").open()))
    assert [r["file"] for r in rows] == ["scaffold_000.pdb", "scaffold_001.pdb", "scaffold_002.pdb"]
    assert list(rows[0]) == ["file", "index", "length", "layout", "motif_positions", "motif_rmsd",
                             "junction_bond_dev", "bond_mad", "bonds_all_within_0.1A", "rama_allowed",
                             "clash_pairs", "seconds"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["mechanism"] == mechanism and manifest["contig"] == "2-4/A23-30/3/A40-43/2-4"
    assert (manifest["guidance"] is not None) == (mechanism == "guidance")
    assert manifest["sampler"]["class"] == "AnnealedLangevin" and manifest["sigma_grid"]["levels"] == 3
    assert manifest["motif_residues"][0] == "A23" and len(manifest["motif_residues"]) == 12
    for r in rows:
        L = int(r["length"])
        assert 20 <= L <= 22
        a, b = r["motif_positions"].split(";")
        first, last = map(int, a.split("-"))
        assert last - first == 7 and r["layout"].startswith(f"{first - 1}/A23-30/3/A40-43/")
        lines = (out / r["file"]).read_text().splitlines()
        assert f"REMARK 999 SEGMENT 2 MOTIF A23-30 -> OUTPUT {a}" in lines
        assert f"REMARK 999 SEGMENT 4 MOTIF A40-43 -> OUTPUT {b}" in lines
        (back,) = read_backbones(out / r["file"], max_peptide_bond=1e9)
        assert len(back) == L
        assert back.seq[first - 1:last] == "IENVKAKI"           # ubiquitin 23-30 keeps its residue names
        assert set(back.seq[:first - 1]) == {"G"}
        assert float(r["motif_rmsd"]) >= 0 and int(r["clash_pairs"]) >= 0 and 0 <= float(r["rama_allowed"]) <= 1
        entry = next(f for f in manifest["files"] if f["file"] == r["file"])
        assert abs(entry["motif_rmsd"] - float(r["motif_rmsd"])) < 1e-9


@pytest.mark.parametrize("args,match", [
    (["motif=MISSING.pdb", "contig=5/A1-5/5"], "file not found"),
    (["contig=5/B1-5/5"], "segment 'B1-5': chain B is not in 1ubi.pdb"),
    (["contig=5/A70-80/5"], "segment 'A70-80': residue A77 is not in 1ubi.pdb"),
    (["motif=BROKEN", "contig=5/A16-30/5"], "segment 'A16-30': residue A20 \\(SER\\) in broken.pdb lacks backbone atom"),
    (["contig=5/A1-5/5", "length=100-120"], "cannot fit length=100-120"),
    (["contig=5//A1-5"], "segment 2 is empty"),
    (["contig=5/A1-5/5-x"], "segment 3 '5-x': not a new segment"),
    (["contig=5/A1-5/5", "mechanism=magic"], "mechanism must be one of"),
    (["contig=5/A1-5/5", "guidance.scale=-1"], "guidance.scale"),
    (["contig=5/A1-5/5", "ss=L/H"], "has 2 entries but the contig has 3 segments"),
    (["contig=5/A1-5/5", "ss=L/H/L"], "for motif segment 'A1-5' must be 'motif' or '-'"),
    (["contig=5/A1-5/5", "ss=HH/motif/L"], "for new segment '5' must be one letter"),
    (["contig=5/A1-5/5", "ss=motif", "checkpoint=LOCAL"], "needs a checkpoint with secondary-structure conditioning"),
    (["contig=5/A1-5/5", "view=yes"], "view must be true or false"),
    (["contig=5/A1-5/5", "property=helix_fraction", "target=1.5"], "outside what the property can take"),
    (["contig=5/A1-5/5", "target=0.5"], "target given without property"),
])
def test_cli_bad_input_one_line_exit_2_nothing_written(pdb_dir, tmp_path, capsys, args, match):
    broken = _without_atom(pdb_dir / "1ubi.pdb", tmp_path / "broken.pdb", 20, "O")
    motif = f"motif={pdb_dir / '1ubi.pdb'}"
    local = str(shipped_checkpoint("backbone_score_local.safetensors"))
    args = [a.replace("MISSING.pdb", str(tmp_path / "missing.pdb")).replace("BROKEN", str(broken))
            .replace("LOCAL", local) for a in args]
    if not any(a.startswith("motif=") for a in args):
        args = [motif, *args]
    out = tmp_path / "out"
    rc = main(["scaffold", *args, f"out={out}", *FAST])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("proteindsm: error: ")
    assert __import__("re").search(match, err[0]), err[0]
    assert not out.exists()


# ------------------------------------------------------------------------- secondary structure
def test_scaffold_ss_spec_and_tokens():
    from proteindsm.protein.data.secondary_structure import SS_HELIX, SS_LOOP, SS_UNKNOWN, tokens_to_string
    from proteindsm.protein.generate.scaffold_ss import layout_ss_tokens, parse_scaffold_ss

    segments = contig.parse_contig("2-4/A23-30/3/A40-43/2")
    assert parse_scaffold_ss("none", segments) is None and parse_scaffold_ss(None, segments) is None
    assert parse_scaffold_ss("motif", segments) == ("-", "motif", "-", "motif", "-")
    assert parse_scaffold_ss("l/motif/H/-/E", segments) == ("L", "motif", "H", "-", "E")
    layout = contig.Layout(tuple(segments), (3, 8, 3, 4, 2))
    motif_tokens = np.array([SS_HELIX] * 8 + [SS_LOOP] * 4)
    tok = layout_ss_tokens(("L", "motif", "H", "-", "E"), layout, motif_tokens)
    assert tokens_to_string(tok) == "LLL" + "HHHHHHHH" + "HHH" + "----" + "EE"
    tok = layout_ss_tokens(("-", "motif", "-", "motif", "-"), layout, motif_tokens)
    assert tokens_to_string(tok) == "---" + "HHHHHHHH" + "---" + "LLLL" + "--"
    assert (tok == SS_UNKNOWN).sum() == 8


def test_motif_ss_tokens_read_the_ubiquitin_helix(pdb_dir):
    from proteindsm.protein.data.secondary_structure import tokens_to_string
    from proteindsm.protein.generate.scaffold_ss import motif_ss_tokens

    segments = contig.parse_contig("5/A23-34/5")              # ubiquitin's α-helix, residues 23-34
    s = tokens_to_string(motif_ss_tokens(read_motif(pdb_dir / "1ubi.pdb", segments)))
    assert len(s) == 12 and s.count("H") >= 8, s


def test_scaffold_ss_tokens_reach_the_score_function(pdb_dir):
    """The per-backbone tokens go into cond["ss"] of each batch, rows in layout order."""
    from proteindsm.core import AnnealedLangevin
    from proteindsm.protein.generate.scaffold_sampling import scaffold_backbones

    segments = contig.parse_contig("3/A23-26/3")
    motif = read_motif(pdb_dir / "1ubi.pdb", segments)
    layouts = [contig.draw_layout(segments, None, 0, i) for i in range(3)]
    tokens = [np.full(lay.total, k % 3, dtype=np.int64) for k, lay in enumerate(layouts)]
    seen = []

    def score_for(known):
        def score(x, sigma, cond=None):
            seen.append(cond["ss"].clone())
            return -x / (1.0 + sigma[:, None, None, None] ** 2)
        return score

    sigmas = torch.tensor([1.0, 0.5])
    scaffold_backbones(score_for, motif, layouts, AnnealedLangevin(eps=1e-4, steps_per_level=1), sigmas,
                       batch_size=2, ss_tokens=tokens)
    rows = {tuple(r.tolist()) for batch in seen for r in batch}
    assert rows == {tuple(t.tolist()) for t in tokens}


def test_cli_ss_and_view(pdb_dir, tmp_path):
    out = tmp_path / "ss"
    rc = main(["scaffold", f"motif={pdb_dir / '1ubi.pdb'}", "contig=2-4/A23-30/3/A40-43/2-4", "num=2",
               "ss=L/motif/H/-/L", "view=true", f"out={out}", *FAST])
    assert rc == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["ss"] == "L/motif/H/-/L" and manifest["view"] == "view.html"
    for f in manifest["files"]:
        first, last = map(int, f["motif_positions"].split(";")[0].split("-"))
        ss = f["ss"]
        assert len(ss) == f["length"] and set(ss[:first - 1]) == {"L"}
        assert ss[last:last + 3] == "HHH" and "-" not in ss[first - 1:last]
    page = (out / "view.html").read_text()
    assert "orange" in page and (out / "3Dmol-min.js").is_file()


def test_cli_scaffold_with_a_design_target(pdb_dir, tmp_path):
    """A design target steers the scaffold too; report.csv measures it exactly on each scaffold."""
    from proteindsm.protein.structure import properties as P

    out = tmp_path / "guided"
    rc = main(["scaffold", f"motif={pdb_dir / '1ubi.pdb'}", "contig=2-4/A23-30/3/A40-43/2-4", "num=2",
               "property=rg_normalised", "target=2.2", "scale=2", f"out={out}", *FAST])
    assert rc == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["targets"][0]["property"] == "rg_normalised" and manifest["targets"][0]["scale"] == 2.0
    rows = list(csv.DictReader((out / "report.csv").open()))
    assert list(rows[0])[-1] == "rg_normalised"
    for r in rows:
        (back,) = read_backbones(out / r["file"], max_peptide_bond=1e9)
        assert float(r["rg_normalised"]) == pytest.approx(P.rg_normalised(back.coords), abs=2e-3)


def test_api_scaffold_equals_the_cli(pdb_dir, tmp_path):
    import proteindsm.protein as p

    args = dict(num=2, length="20-22", sampler="langevin_fast", steps=3, progress=False, device="cpu")
    out = tmp_path / "cli"
    assert main(["scaffold", f"motif={pdb_dir / '1ubi.pdb'}", "contig=2-4/A23-30/3/A40-43/2-4", "num=2",
                 "length=20-22", f"out={out}", *FAST]) == 0
    res = p.scaffold(pdb_dir / "1ubi.pdb", "2-4/A23-30/3/A40-43/2-4", **{k: v for k, v in args.items() if k != "num"},
                     num=2)
    assert len(res) == 2 and res[0].coords.shape == (res[0].layout.total, 4, 3)
    rows = list(csv.DictReader((out / "report.csv").open()))
    for s, r in zip(res, rows):
        (back,) = read_backbones(out / r["file"], max_peptide_bond=1e9)
        np.testing.assert_allclose(s.coords, back.coords, atol=5.1e-4, rtol=0)        # PDB: 3 decimals
        assert res.report[s.index]["layout"] == r["layout"] and float(r["motif_rmsd"]) == res.report[s.index]["motif_rmsd"]


def test_interrupted_scaffold_run_is_continued(pdb_dir, tmp_path, monkeypatch, capsys):
    """Scaffolds are written batch by batch (manifest complete: false); the same command into the
    same folder samples only the missing batches and ends with the uninterrupted run's files."""
    import proteindsm.protein.generate.scaffold_sampling as scaffold_module

    args = ["scaffold", f"motif={pdb_dir / '1ubi.pdb'}", "contig=2-4/A23-30/3/A40-43/2-4", "num=3", "batch_size=1",
            "length=20-22", *FAST]
    full = tmp_path / "full"
    assert main([*args, f"out={full}"]) == 0
    out = tmp_path / "part"
    real = scaffold_module.known_part
    monkeypatch.setattr(scaffold_module, "known_part", CallCounter(real, die_after=1))
    assert main([*args, f"out={out}"]) == 130
    m = json.loads((out / "manifest.json").read_text())
    assert m["complete"] is False and len(m["rows"]) == 1 and not (out / "report.csv").exists()
    monkeypatch.setattr(scaffold_module, "known_part", real)
    capsys.readouterr()
    assert main([*args[:-len(FAST)], "seed=5", *FAST, f"out={out}"]) == 2
    assert "partial scaffold run made with other settings" in capsys.readouterr().err
    counting = CallCounter(real)
    monkeypatch.setattr(scaffold_module, "known_part", counting)
    assert main([*args, f"out={out}"]) == 0
    assert counting.calls == 2
    assert json.loads((out / "manifest.json").read_text())["complete"] is True
    for name in ("scaffold_000.pdb", "scaffold_001.pdb", "scaffold_002.pdb"):
        assert (out / name).read_text() == (full / name).read_text()
    strip = lambda p: [line.rsplit(",", 1)[0] for line in p.read_text().splitlines()]   # noqa: E731 (seconds differ)
    assert strip(out / "report.csv") == strip(full / "report.csv")
