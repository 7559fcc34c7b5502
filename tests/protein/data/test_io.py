"""Structure I/O: reading real PDB/mmCIF quirks, rejecting bad files, write -> read round trips."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from proteindsm.errors import InputError
from proteindsm.protein.structure import backbone as bb
from proteindsm.protein.data.io import (Chain, read_backbones, write_cif, write_pdb,
                                   write_structure)

GOOD = ["1ard.pdb", "1ejg.pdb", "1r19.pdb", "1ubi.pdb", "1zaa1.pdb", "2k39_nmr_truncated.pdb",
        "3hsy.pdb", "3mht.pdb", "6yfy.cif"]


def _atom_lines(path: Path, pred) -> str:
    return "".join(line for line in path.read_text().splitlines(keepends=True)
                   if line.startswith(("ATOM", "HETATM")) and pred(line))


@pytest.fixture(scope="module")
def parsed(pdb_dir: Path) -> dict[str, list[Chain]]:
    return {name: read_backbones(pdb_dir / name) for name in GOOD}


# --------------------------------------------------------------------------------- reading
def test_every_shared_file_reads(parsed, pdb_dir):
    assert sorted(p.name for p in pdb_dir.iterdir() if p.is_file()) == sorted(GOOD)
    for name, chains in parsed.items():
        assert chains, name
        for ch in chains:
            L = len(ch.seq)
            assert ch.coords.dtype == np.float32 and ch.coords.shape == (L, 4, 3)
            assert np.isfinite(ch.coords).all() and ch.source.endswith(name)
            # continuous: every peptide bond inside a segment is <= 2.0 Å
            cn = np.linalg.norm(ch.coords[:-1, bb.C] - ch.coords[1:, bb.N], axis=-1)
            assert (cn <= 2.0).all(), ch.id
        assert len({ch.id for ch in chains}) == len(chains)


def test_ubiquitin_one_chain_of_76(parsed):
    (ch,) = parsed["1ubi.pdb"]
    assert ch.id == "1UBI_A" and len(ch.seq) == 76
    assert ch.seq == "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG"
    np.testing.assert_allclose(ch.coords[0, bb.CA], [26.381, 25.361, 2.894], atol=1e-4)


def test_dna_is_ignored(parsed):
    chains = parsed["3mht.pdb"]
    assert [(c.id, len(c.seq)) for c in chains] == [("3MHT_A", 327)]


def test_hetatm_ignored_and_matches_shared_corpus(parsed, corpus_path):
    """3HSY chain A (HETATM sugars, sulfate, water around) splits at a gap; its longest
    segment is the shared corpus entry 3HSY_A (0.01 Å precision there)."""
    chains = {c.id: c for c in parsed["3hsy.pdb"]}
    assert {k: len(v.seq) for k, v in chains.items()} == {"3HSY_A_1": 160, "3HSY_A_2": 194,
                                                          "3HSY_B": 376}
    with np.load(corpus_path) as d:
        i = list(d["ids"]).index("3HSY_A")
        start = int(d["lengths"][:i].sum())
        ref = d["coords"][start:start + d["lengths"][i]]
        ref_seq = d["seq"][start:start + d["lengths"][i]].tobytes().decode()
    ch = chains["3HSY_A_2"]
    x = ch.coords - ch.coords[:, bb.CA].mean(0)
    assert ch.seq == ref_seq
    assert np.abs(x - ref).max() < 0.02


def test_nmr_first_model_only(parsed, pdb_dir):
    from biotite.structure.io import pdb

    (ch,) = parsed["2k39_nmr_truncated.pdb"]
    stack = pdb.PDBFile.read(pdb_dir / "2k39_nmr_truncated.pdb").get_structure()
    assert stack.stack_depth() == 3
    ca = stack.coord[:, stack.atom_name == "CA"]
    np.testing.assert_allclose(ch.coords[:, bb.CA], ca[0], atol=1e-4)
    assert np.abs(ch.coords[:, bb.CA] - ca[1]).max() > 0.1


def test_altlocs_resolved(parsed):
    (ch,) = parsed["1ejg.pdb"]
    assert len(ch.seq) == 46                                    # no duplicated altloc residues
    assert ch.seq == "TTCCPSIVARSNFNVCRLPGTPEALCATYTGCIIIPGATCPGDYAN"
    np.testing.assert_allclose(ch.coords[0, bb.N], [16.885, 14.078, 3.427], atol=1e-4)  # A
    np.testing.assert_allclose(ch.coords[7, bb.CA], [5.099, 2.259, 12.380], atol=1e-4)
    bonds = np.linalg.norm(ch.coords[:, bb.N] - ch.coords[:, bb.CA], axis=-1)
    assert np.abs(bonds - bb.BOND_N_CA).max() < 0.1             # altlocs not mixed


def test_mmcif_reads_and_drops_d_amino_acids(parsed):
    chains = parsed["6yfy.cif"]
    # teixobactin: ZAE(D) I S DAR(D) 28J(D) I S DTH(D) A L I  ->  IS | IS | ALI
    assert [(c.id, c.seq) for c in chains[:3]] == [("6YFY_A_1", "IS"), ("6YFY_A_2", "IS"),
                                                   ("6YFY_A_3", "ALI")]
    assert all(set(c.seq) <= set("ACDEFGHIKLMNPQRSTVWYX") for c in chains)


def test_gzip_and_bcif(tmp_path, pdb_dir, parsed):
    from biotite.structure.io import pdbx

    gz = tmp_path / "1ubi.pdb.gz"
    with open(pdb_dir / "1ubi.pdb", "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    (ch,) = read_backbones(gz)
    assert ch.id == "1UBI_A"
    np.testing.assert_array_equal(ch.coords, parsed["1ubi.pdb"][0].coords)

    cif = pdbx.CIFFile.read(str(pdb_dir / "6yfy.cif"))
    bcif = pdbx.BinaryCIFFile()
    pdbx.set_structure(bcif, pdbx.get_structure(cif, model=1))
    bcif.write(str(tmp_path / "6yfy.bcif"))
    got = read_backbones(tmp_path / "6yfy.bcif")
    assert [c.seq for c in got] == [c.seq for c in parsed["6yfy.cif"]]


def test_filters_and_chain_selection(pdb_dir):
    assert [c.id for c in read_backbones(pdb_dir / "3hsy.pdb", chain="B")] == ["3HSY_B"]
    got = read_backbones(pdb_dir / "3hsy.pdb", min_length=170, max_length=300)
    assert [c.id for c in got] == ["3HSY_A_2"]
    with pytest.raises(InputError, match=r"no protein chain \['Z'\].*\['A', 'B'\]"):
        read_backbones(pdb_dir / "3hsy.pdb", chain="Z")


# --------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("name, pattern", [
    ("1ubi_ca_only.pdb", r"only CA atoms \(76 residues\).*N, CA, C, O"),
    ("1ejg_one_atom.pdb", r"single atom .*N, CA, C, O"),
    ("2gb1_truncated.pdb", r"only CA atoms \(28 residues\).*N, CA, C, O"),
])
def test_bad_files_rejected(pdb_dir, name, pattern):
    path = pdb_dir / "bad" / name
    with pytest.raises(InputError, match=pattern) as err:
        read_backbones(path)
    assert str(path) in str(err.value)


def test_every_bad_file_is_covered(pdb_dir):
    for path in (pdb_dir / "bad").iterdir():
        with pytest.raises(InputError, match=str(path)):
            read_backbones(path)


def test_missing_path_and_directory(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_backbones(tmp_path / "nope.pdb")
    with pytest.raises(InputError, match="is a directory"):
        read_backbones(tmp_path)
    (tmp_path / "x.xyz").write_text("hello")
    with pytest.raises(InputError, match="unsupported file type"):
        read_backbones(tmp_path / "x.xyz")


def test_corrupt_files(tmp_path, pdb_dir):
    (tmp_path / "garbage.cif").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "empty.pdb").write_text("")
    data = gzip.compress((pdb_dir / "1ubi.pdb").read_bytes())
    (tmp_path / "cut.pdb.gz").write_bytes(data[: len(data) // 2])
    for name, pattern in [("garbage.cif", "not a readable mmCIF"), ("empty.pdb", "no ATOM"),
                          ("cut.pdb.gz", "cannot read file")]:
        with pytest.raises(InputError, match=pattern):
            read_backbones(tmp_path / name)


def test_no_protein(tmp_path, pdb_dir):
    dna = tmp_path / "dna.pdb"
    dna.write_text(_atom_lines(pdb_dir / "3mht.pdb", lambda l: l[21] in "CD"))
    with pytest.raises(InputError, match=r"no protein chain found .*nucleotides"):
        read_backbones(dna)
    het = tmp_path / "het.pdb"
    het.write_text(_atom_lines(pdb_dir / "3hsy.pdb", lambda l: l.startswith("HETATM")))
    with pytest.raises(InputError, match=r"no protein chain found .*water"):
        read_backbones(het)


def test_nan_coordinates_in_file(tmp_path, pdb_dir):
    lines = _atom_lines(pdb_dir / "1ubi.pdb", lambda l: True).splitlines(keepends=True)
    lines[1] = lines[1][:30] + f"{'nan':>8}" + lines[1][38:]          # CA of residue 1
    (tmp_path / "nan.pdb").write_text("".join(lines))
    with pytest.raises(InputError, match=r"non-finite .*residue 1"):
        read_backbones(tmp_path / "nan.pdb")


def test_too_short(pdb_dir):
    with pytest.raises(InputError, match=r"no protein segment with 100-256 .*found: 76"):
        read_backbones(pdb_dir / "1ubi.pdb", min_length=100, max_length=256)
    with pytest.raises(InputError, match=r"found: 76"):
        read_backbones(pdb_dir / "1ubi.pdb", max_length=50)


# --------------------------------------------------------------------------------- writing
@pytest.mark.parametrize("suffix", [".pdb", ".cif"])
def test_round_trip_every_file(parsed, tmp_path, suffix):
    import biotite.structure.io as strucio

    for name, chains in parsed.items():
        for ch in chains:
            out = tmp_path / f"{ch.id}{suffix}"
            write_structure(out, ch.coords, seq=ch.seq)
            assert strucio.load_structure(out).array_length() == 4 * len(ch.seq)
            (back,) = read_backbones(out)
            assert back.seq == ch.seq
            np.testing.assert_allclose(back.coords, ch.coords, atol=1e-3)


@pytest.mark.parametrize("writer", [write_pdb, write_cif])
def test_trajectory_and_annotations(parsed, tmp_path, writer):
    import biotite.structure.io as strucio

    X = parsed["1ubi.pdb"][0].coords
    frames = [torch.from_numpy(X) + i for i in range(3)]          # torch frames are accepted
    out = writer(tmp_path / ("traj" + (".pdb" if writer is write_pdb else ".cif")), frames,
                 b_factors=np.linspace(0, 50, len(X)), chain_id="B")
    stack = strucio.load_structure(out, extra_fields=["b_factor"])
    assert stack.stack_depth() == 3 and stack.array_length() == 4 * len(X)
    assert set(stack.res_name) == {"GLY"} and set(stack.chain_id) == {"B"}
    assert list(stack.element[:4]) == ["N", "C", "C", "O"]
    np.testing.assert_allclose(stack.coord[2], X.reshape(-1, 3) + 2, atol=1e-3)
    np.testing.assert_allclose(stack.b_factor[-1], 50.0, atol=0.01)
    (first,) = read_backbones(out)                                     # first model only
    np.testing.assert_allclose(first.coords, X, atol=1e-3)
    assert first.id == "traj_B" and first.seq == "G" * len(X)


def test_write_rejects_bad_input(tmp_path, parsed):
    X = parsed["1ubi.pdb"][0].coords
    bad = X.copy()
    bad[3, 1, 0] = np.nan
    with pytest.raises(InputError, match=r"x.pdb: .*non-finite .*residue 4"):
        write_pdb(tmp_path / "x.pdb", bad)
    assert not (tmp_path / "x.pdb").exists()
    with pytest.raises(InputError, match=r"shape \(L, 4, 3\).*\(76, 3, 3\)"):
        write_cif(tmp_path / "x.cif", X[:, :3])
    with pytest.raises(InputError, match="seq has 3 letters"):
        write_pdb(tmp_path / "x.pdb", X, seq="ACD")
    with pytest.raises(InputError, match="mmCIF"):
        write_pdb(tmp_path / "x.pdb", X * 100)
    with pytest.raises(InputError, match="use .pdb or .cif"):
        write_structure(tmp_path / "x.xyz", X)
    assert not list(tmp_path.iterdir())                                # nothing half-written


# --------------------------------------------------------------------------------- backbone.py
def test_ideal_geometry_matches_real_backbones(parsed):
    X = np.concatenate([c.coords for c in parsed["3hsy.pdb"]]).astype(np.float64)
    d = lambda a, b: np.median(np.linalg.norm(X[:, a] - X[:, b], axis=-1))  # noqa: E731
    assert abs(d(bb.N, bb.CA) - bb.BOND_N_CA) < 0.02
    assert abs(d(bb.CA, bb.C) - bb.BOND_CA_C) < 0.02
    assert abs(d(bb.C, bb.O) - bb.BOND_C_O) < 0.02
    assert abs(bb.ANGLE_CA_C_N + bb.ANGLE_CA_C_O + bb.ANGLE_O_C_N - 360.0) < 1e-9
    assert bb.ATOM_NAMES[bb.CA] == "CA"


def test_pad_batch_and_center():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 4, 3)), torch.randn(3, 4, 3)
    X, mask = bb.pad_batch([a, b])
    assert X.shape == (2, 5, 4, 3) and X.dtype == torch.float32
    assert mask.tolist() == [[True] * 5, [True] * 3 + [False] * 2]
    assert (X[1, 3:] == 0).all()
    Xc = bb.center(X + 7.0, mask)
    ca_mean = (Xc[..., bb.CA, :] * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    assert torch.allclose(ca_mean, torch.zeros(2, 3), atol=1e-5)
    assert (Xc[1, 3:] == 0).all()
    assert torch.allclose(bb.center(X[0]), Xc[0], atol=1e-5)             # unbatched
    with pytest.raises(ValueError):
        bb.pad_batch([np.zeros((4, 3))])
