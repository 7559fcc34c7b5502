"""Build a corpus .npz from a folder of PDB/mmCIF files (``proteindsm data build``).

Files are parsed in parallel with :func:`proteindsm.protein.data.io.read_backbones` rules; a bad file is
skipped and listed with its reason in ``<out>.report.json``, never aborting the build.  The output has
the arrays of :mod:`proteindsm.protein.data.corpus` (the shared corpus format).
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np

from proteindsm.errors import InputError
from proteindsm.fileio import atomic_write_text
from proteindsm.protein.structure.backbone import CA
from proteindsm.protein.data.corpus import Corpus, assign_split, save_corpus
from proteindsm.protein.data.atom_arrays import structure_format
from proteindsm.protein.data.io import entry_name, read_segments
from proteindsm.protein.structure.properties import secondary_structure

__all__ = ["build_corpus", "BuildReport", "report_path"]


# ---------------------------------------------------------------------------------------- build
@dataclass
class BuildReport:
    """What :func:`build_corpus` did; also written as JSON to ``<out>.report.json``."""

    out_path: str
    n_files: int
    n_chains: int
    n_residues: int
    skipped: list[tuple[str, str]]    # (file, reason) of files that gave no chain
    filtered: list[tuple[str, str]]   # (segment id, reason) of segments outside the length limits

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def report_path(out_path: str | os.PathLike) -> Path:
    """``corpus.npz`` -> ``corpus.report.json`` (next to the output)."""
    return Path(out_path).with_suffix(".report.json")


def _secondary_structure(coords: np.ndarray, seq: str) -> bytes:
    """3-state DSSP codes (H, E, C) of one chain ``(L, 4, 3)`` (:func:`proteindsm.protein.structure.properties.secondary_structure`
    with prolines as non-donors); ``-`` if pydssp is missing."""
    try:
        import pydssp  # noqa: F401
    except ImportError:
        return b"-" * len(seq)
    donor = np.array([s != "P" for s in seq])             # proline N has no H to donate
    return secondary_structure(coords, donor_mask=donor).encode("ascii")


def _parse_one(path: str, *, min_length: int, max_length: int | None, dssp: bool):
    """Worker: (chains as (id, centred coords, seq, dssp), filtered, error reason or None)."""
    try:
        chains, filtered = read_segments(Path(path), min_length, max_length, None, 2.0)
        out = []
        for ch in chains:
            x = ch.coords - ch.coords[:, CA].mean(axis=0, dtype=np.float64)
            ss = _secondary_structure(ch.coords, ch.seq) if dssp else b"-" * len(ch.seq)
            out.append((ch.id, x.astype(np.float32), ch.seq, ss))
        return out, filtered, None
    except InputError as e:
        return [], [], str(e)
    except Exception as e:  # never abort a build on one file
        return [], [], f"{path}: unexpected {type(e).__name__}: {e}"


def build_corpus(input_dir: str | os.PathLike, out_path: str | os.PathLike, *,
                 min_length: int = 40, max_length: int | None = 256, workers: int = 2,
                 dssp: bool = True, val_fraction: float = 0.05, seed: int = 0,
                 progress: bool = True) -> BuildReport:
    """Build a corpus .npz from every structure file under ``input_dir`` (recursively).

    Reads ``.pdb .ent .cif .mmcif .bcif`` (and ``.gz``) with :func:`read_backbones` rules, in
    ``workers`` processes (``<= 1``: in this process).  A file that fails is skipped and listed
    in the report with its reason.  Each continuous segment of ``min_length..max_length``
    residues becomes one chain, centred on its CA centroid; splits are assigned by entry
    (:func:`assign_split`).  Writes ``out_path`` and ``<out>.report.json``.

    Raises:
        InputError: ``input_dir`` missing or without structure files, or no usable chain at all.
    """
    from tqdm import tqdm

    root = Path(input_dir)
    if not root.is_dir():
        raise InputError(f"{root}: input directory not found")
    files = sorted(str(p) for p in root.rglob("*") if p.is_file() and structure_format(p))
    if not files:
        raise InputError(f"{root}: no structure files found (looked for "
                         ".pdb .ent .cif .mmcif .bcif, optionally .gz, recursively)")
    work = partial(_parse_one, min_length=min_length, max_length=max_length, dssp=dssp)
    bar = dict(total=len(files), desc="reading structures", unit="file", disable=not progress)
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as ex:
            results = list(tqdm(ex.map(work, files, chunksize=4), **bar))
    else:
        results = [work(f) for f in tqdm(files, **bar)]

    ids, coords, seqs, ss, groups = [], [], [], [], []
    skipped, filtered = [], []
    for path, (chains, filt, err) in zip(files, results):
        if err is not None:
            skipped.append((path, err))
        filtered.extend(filt)
        for cid, x, s, d in chains:
            ids.append(cid), coords.append(x), seqs.append(s), ss.append(d)
            groups.append(entry_name(Path(path)))
    report = BuildReport(str(out_path), len(files), len(ids), int(sum(map(len, seqs))),
                         skipped, filtered)
    if not ids:
        atomic_write_text(report_path(out_path), report.to_json())
        first = "; ".join(r for _, r in skipped[:3])
        limits = f"{min_length}-{max_length}" if max_length else f">= {min_length}"
        raise InputError(f"{root}: none of the {len(files)} structure files gave a chain of "
                         f"{limits} residues (see {report_path(out_path)}): {first}")
    _, cluster = np.unique(np.array(groups, dtype=str), return_inverse=True)
    corpus = Corpus(
        coords=np.concatenate(coords), lengths=np.array([len(s) for s in seqs], dtype=np.int32),
        ids=np.array(ids, dtype=str), seq=np.frombuffer("".join(seqs).encode("ascii"), "S1"),
        dssp=np.frombuffer(b"".join(ss), "S1"), cluster30=cluster.astype(np.int32),
        split=assign_split(ids, cluster, val_fraction=val_fraction, seed=seed),
        source=str(out_path))
    save_corpus(out_path, corpus)
    atomic_write_text(report_path(out_path), report.to_json())
    return report
