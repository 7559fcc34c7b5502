"""Corpus: the shared npz loads and validates; save/load; splits; building from structure files."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from proteindsm.errors import InputError
from proteindsm.protein.structure.backbone import CA
from proteindsm.protein.data.corpus_build import build_corpus
from proteindsm.protein.data.corpus import (Corpus, assign_split, load_corpus,
                                       save_corpus)


@pytest.fixture(scope="module")
def shared(corpus_path: Path) -> Corpus:
    return load_corpus(corpus_path)


def _small(shared: Corpus, n: int = 30) -> Corpus:
    return shared.subset(np.arange(n))


def test_shared_corpus_loads(shared):
    assert len(shared) == 10_543 and shared.n_residues == 1_570_051
    assert len(shared.indices("train")) == 10_002 and len(shared.indices("val")) == 541
    assert len(shared.indices("test")) == 0
    assert shared.coords.dtype == np.float32 and shared.lengths.dtype == np.int32
    assert shared.lengths.min() >= 40 and shared.lengths.max() <= 256
    off = shared.offsets
    for i in (0, 1234, len(shared) - 1):
        np.testing.assert_array_equal(shared.chain(i), shared.coords[off[i]:off[i + 1]])
        assert np.abs(shared.chain(i)[:, CA].mean(0)).max() < 1e-3        # centred
    tr, va = shared.indices("train"), shared.indices("val")
    assert not set(shared.cluster30[tr]) & set(shared.cluster30[va])   # cluster-disjoint
    with pytest.raises(InputError, match="unknown split"):
        shared.indices("training")


def test_chains_of_a_split_are_the_corpus_rows(shared):
    """Corpus.chains (the one corpus reader behind reference_chains.load_corpus_chains): views of the rows
    of each chain of a split, in file order, with their ids; an empty split is an input error."""
    from proteindsm.protein.analysis.reference_chains import load_corpus_chains

    chains, ids = shared.chains("val")
    va = shared.indices("val")
    assert len(chains) == len(va) == 541 and ids.tolist() == shared.ids[va].tolist()
    for k in (0, 17, len(va) - 1):
        assert chains[k].dtype == np.float32 and np.shares_memory(chains[k], shared.coords)
        np.testing.assert_array_equal(chains[k], shared.chain(int(va[k])))
    assert len(shared.chains()[0]) == len(shared)
    with pytest.raises(InputError, match="no chains with split 'test'"):
        shared.chains("test")
    small, small_ids = load_corpus_chains(shared.source, "val")
    assert small_ids.tolist() == ids.tolist() and all(np.array_equal(a, b) for a, b in zip(small, chains))


def test_subset_and_save_load_round_trip(shared, tmp_path):
    idx = np.array([5, 2, 9000])
    sub = shared.subset(idx)
    assert sub.ids.tolist() == shared.ids[idx].tolist()
    for k, i in enumerate(idx):
        np.testing.assert_array_equal(sub.chain(k), shared.chain(i))
        np.testing.assert_array_equal(sub.seq[sub.offsets[k]:sub.offsets[k + 1]],
                                      shared.seq[shared.offsets[i]:shared.offsets[i + 1]])
    assert len(shared.subset(np.zeros(len(shared), bool))) == 0
    out = save_corpus(tmp_path / "small.npz", sub)
    back = load_corpus(out)
    for k, v in sub.arrays().items():
        np.testing.assert_array_equal(getattr(back, k), v)
        assert getattr(back, k).dtype == v.dtype


def _write_npz(path: Path, **arrays) -> Path:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def test_load_errors_name_file_and_key(shared, tmp_path):
    good = _small(shared).arrays()
    with pytest.raises(InputError, match="not found"):
        load_corpus(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(InputError, match="junk.npz: not a readable"):
        load_corpus(tmp_path / "junk.npz")
    cases = {
        "nokey": ({k: v for k, v in good.items() if k != "lengths"}, "missing key.*lengths"),
        "shape": ({**good, "coords": good["coords"][:, :3]}, "key 'coords'"),
        "sum": ({**good, "lengths": good["lengths"] + 1}, "key 'lengths'.*sum"),
        "dtype": ({**good, "cluster30": good["cluster30"].astype(float)}, "key 'cluster30'"),
        "split": ({**good, "split": np.full(len(good["ids"]), "other")}, "key 'split'"),
        "nan": ({**good, "coords": good["coords"] * np.nan}, "key 'coords'.*NaN"),
        "pickle": ({**good, "ids": good["ids"].astype(object)}, "key 'ids'"),
    }
    for name, (arrays, pattern) in cases.items():
        path = _write_npz(tmp_path / f"{name}.npz", **arrays)
        with pytest.raises(InputError, match=f"{name}.npz.*{pattern}"):
            load_corpus(path)


def test_optional_keys_default(shared, tmp_path):
    g = _small(shared).arrays()
    c = load_corpus(_write_npz(tmp_path / "min.npz", coords=g["coords"], lengths=g["lengths"],
                               ids=g["ids"]))
    assert c.split is None and c.cluster30 is None
    assert set(c.dssp.tolist()) == {b"-"} and set(c.seq.tolist()) == {b"X"}
    with pytest.raises(InputError, match="no 'split'"):
        c.indices("train")


def test_assign_split(shared):
    s = assign_split(shared.ids, shared.cluster30, val_fraction=0.05, seed=0)
    assert s.dtype == np.dtype("<U5") and set(s) == {"train", "val"}
    assert 0.04 < (s == "val").mean() < 0.06
    assert not set(shared.cluster30[s == "val"]) & set(shared.cluster30[s == "train"])
    np.testing.assert_array_equal(s, assign_split(shared.ids, shared.cluster30, 0.05, seed=0))
    perm = np.random.default_rng(0).permutation(len(shared))            # order-independent
    np.testing.assert_array_equal(assign_split(shared.ids[perm], shared.cluster30[perm])[
        np.argsort(perm)], s)
    assert (assign_split(shared.ids, shared.cluster30, seed=1) != s).any()
    # without clusters: by PDB code, so two chains of one entry share a split
    ids = ["1ABC_A", "1ABC_B", "2XYZ_A", "3DEF_A", "4GHI_A", "my_design_A"]
    s2 = assign_split(ids, val_fraction=0.3)
    assert s2[0] == s2[1] and (s2 == "val").any() and (s2 == "train").any()
    with pytest.raises(InputError, match="val_fraction"):
        assign_split(ids, val_fraction=1.5)


def test_build_corpus(tmp_path, pdb_dir, corpus_path):
    src = tmp_path / "structures"
    (src / "sub").mkdir(parents=True)
    for name in ("1ubi.pdb", "3hsy.pdb", "3mht.pdb"):
        shutil.copy(pdb_dir / name, src / name)
    with open(pdb_dir / "1r19.pdb", "rb") as f, gzip.open(src / "sub" / "1r19.pdb.gz", "wb") as g:
        shutil.copyfileobj(f, g)
    shutil.copy(pdb_dir / "bad" / "1ubi_ca_only.pdb", src / "sub" / "ca_only.pdb")
    (src / "notes.txt").write_text("ignored")
    out = tmp_path / "out" / "corpus.npz"

    report = build_corpus(src, out, min_length=40, max_length=256, workers=2, progress=False)

    assert report.n_files == 5
    skipped = dict(report.skipped)
    assert set(skipped) == {str(src / "sub" / "ca_only.pdb"), str(src / "3mht.pdb")}
    assert "only CA atoms" in skipped[str(src / "sub" / "ca_only.pdb")]
    assert "327" in skipped[str(src / "3mht.pdb")]                      # > max_length
    assert ("3HSY_B", "376 residues > max_length 256") in report.filtered
    saved = json.loads((tmp_path / "out" / "corpus.report.json").read_text())
    assert saved["n_chains"] == report.n_chains and len(saved["skipped"]) == 2

    corpus = load_corpus(out)
    assert len(corpus) == report.n_chains and corpus.n_residues == report.n_residues
    assert {"1UBI_A", "3HSY_A_1", "3HSY_A_2", "1R19_B_3"} <= set(corpus.ids)
    with np.load(corpus_path) as ref, np.load(out) as new:
        assert sorted(ref.files) == sorted(new.files)
        for k in ref.files:
            assert ref[k].dtype.kind == new[k].dtype.kind and ref[k].ndim == new[k].ndim, k
        i = list(ref["ids"]).index("3HSY_A")
        r0 = int(ref["lengths"][:i].sum())
        ref_x = ref["coords"][r0:r0 + ref["lengths"][i]]
        ref_ss = ref["dssp"][r0:r0 + ref["lengths"][i]]
    x = corpus.chain(list(corpus.ids).index("3HSY_A_2"))
    assert np.abs(x - ref_x).max() < 0.02                                # same centring
    j = list(corpus.ids).index("3HSY_A_2")
    ss = corpus.dssp[corpus.offsets[j]:corpus.offsets[j + 1]]
    three = {b"H": b"H", b"G": b"H", b"I": b"H", b"E": b"E", b"B": b"E"}
    agree = np.mean([three.get(a, b"C") == b for a, b in zip(ref_ss.tolist(), ss.tolist())])
    assert set(corpus.dssp.tolist()) <= {b"H", b"E", b"C"} and agree > 0.9
    # all chains of one entry share a split and a group id
    for entry in ("1R19", "3HSY"):
        sel = np.char.startswith(corpus.ids, entry)
        assert len(set(corpus.split[sel])) == 1 and len(set(corpus.cluster30[sel])) == 1


def test_build_corpus_errors(tmp_path, pdb_dir):
    with pytest.raises(InputError, match="input directory not found"):
        build_corpus(tmp_path / "missing", tmp_path / "c.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no structure files"):
        build_corpus(tmp_path / "empty", tmp_path / "c.npz")
    bad = tmp_path / "bad"
    shutil.copytree(pdb_dir / "bad", bad)
    with pytest.raises(InputError, match="none of the 3 structure files"):
        build_corpus(bad, tmp_path / "c.npz", workers=1, dssp=False, progress=False)
    assert (tmp_path / "c.report.json").exists() and not (tmp_path / "c.npz").exists()
