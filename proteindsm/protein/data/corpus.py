"""Backbone corpus: many chains in flat arrays (.npz), loading, saving and splitting.

(Building a corpus from structure files is :mod:`proteindsm.protein.data.corpus_build`; this module
needs only numpy, so training does not import biotite.)

File format (the one of ``shared/data/backbones_pdb_nr40.npz``; ``R`` residues, ``C`` chains):

============  ===================  ========================================================
key           dtype, shape         meaning
============  ===================  ========================================================
coords        float32 (R, 4, 3)    N, CA, C, O in Å; each chain centred on its CA centroid
lengths       int32 (C,)           residues per chain; chain i is rows offsets[i]:offsets[i+1]
ids           <U (C,)              ``PDBID_CHAIN`` (or ``<stem>_<chain>[_<k>]``)
seq           S1 (R,)              one-letter amino-acid codes (``X`` unknown)
dssp          S1 (R,)              secondary structure codes (``-`` unknown); see below
cluster30     int32 (C,)           group id to split by (never split a group); optional
split         <U5 (C,)             ``train`` / ``val`` (/ ``test``); optional
============  ===================  ========================================================

The shared corpus has DSSP 8-state codes (H G I E B T S C) and 30%-identity clusters.  A corpus made
by :func:`build_corpus` has the 3-state subset H / E / C computed by ``pydssp`` (a DSSP
re-implementation: its H/E agree with real DSSP on ~96% of residues of the shared corpus after
collapsing 8 -> 3 states, against ~79% for biotite's CA-only P-SEA), and ``cluster30`` holds
*entry* groups (all chains of one PDB entry / file), because no sequence clustering is done.
"""

from __future__ import annotations

import hashlib
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from proteindsm.errors import InputError
from proteindsm.fileio import atomic_write_with

__all__ = ["Corpus", "load_corpus", "save_corpus", "assign_split"]

SPLITS = ("train", "val", "test")
_REQUIRED = ("coords", "lengths", "ids")
_OPTIONAL = ("seq", "dssp", "cluster30", "split")


@dataclass(eq=False)
class Corpus:
    """Chains stored back to back (see the module docstring for shapes and units).

    Construction validates shapes/dtypes and normalises them (float32 coords, int32 lengths, S1
    seq/dssp); ``source`` names the file in error messages and is not saved.
    """

    coords: np.ndarray
    lengths: np.ndarray
    ids: np.ndarray
    seq: np.ndarray | None = None
    dssp: np.ndarray | None = None
    cluster30: np.ndarray | None = None
    split: np.ndarray | None = None
    source: str = field(default="corpus", repr=False)

    def __post_init__(self) -> None:
        src = self.source

        def fail(key: str, expected: str, got: np.ndarray) -> InputError:
            return InputError(f"{src}: key '{key}' must be {expected}, "
                              f"got {got.dtype} array of shape {got.shape}")

        coords, lengths, ids = (np.asarray(a) for a in (self.coords, self.lengths, self.ids))
        if coords.ndim != 3 or coords.shape[1:] != (4, 3) or coords.dtype.kind != "f":
            raise fail("coords", "float (R, 4, 3)", coords)
        R = coords.shape[0]
        if lengths.ndim != 1 or lengths.dtype.kind not in "iu":
            raise fail("lengths", "integer (C,)", lengths)
        if (lengths <= 0).any() or int(lengths.sum()) != R:
            raise InputError(f"{src}: key 'lengths' must be positive and sum to the {R} rows of "
                             f"'coords', got sum {int(lengths.sum())}, "
                             f"min {lengths.min(initial=0)}")
        C = lengths.shape[0]
        if ids.shape != (C,) or ids.dtype.kind not in "US":
            raise fail("ids", f"strings ({C},)", ids)
        self.coords = coords.astype(np.float32, copy=False)
        if not np.isfinite(self.coords).all():
            raise InputError(f"{src}: key 'coords' contains NaN/inf")
        self.lengths = lengths.astype(np.int32, copy=False)
        self.ids = ids.astype(str, copy=False)
        for key, fill in (("seq", b"X"), ("dssp", b"-")):
            a = getattr(self, key)
            a = np.full(R, fill, dtype="S1") if a is None or np.size(a) == 0 else np.asarray(a)
            if a.shape != (R,) or a.dtype.kind not in "SU" or a.dtype.itemsize not in (1, 4):
                raise fail(key, f"one-letter codes S1 ({R},)", a)
            setattr(self, key, a.astype("S1", copy=False))
        if self.cluster30 is not None:
            a = np.asarray(self.cluster30)
            if a.shape != (C,) or a.dtype.kind not in "iu":
                raise fail("cluster30", f"integer ({C},)", a)
            self.cluster30 = a.astype(np.int32, copy=False)
        if self.split is not None:
            a = np.asarray(self.split).astype(str)
            if a.shape != (C,) or not np.isin(a, SPLITS).all():
                raise InputError(f"{src}: key 'split' must be ({C},) strings from {SPLITS}, got "
                                 f"shape {a.shape}, values {sorted(set(a.tolist()))[:5]}")
            self.split = a.astype("<U5")

    @property
    def offsets(self) -> np.ndarray:
        """int64 ``(C + 1,)``: chain ``i`` is rows ``offsets[i]:offsets[i + 1]``."""
        return np.concatenate([[0], np.cumsum(self.lengths, dtype=np.int64)])

    def __len__(self) -> int:
        return int(self.lengths.shape[0])

    @property
    def has_dssp(self) -> bool:
        """Whether any residue has a DSSP code (a corpus saved without ``dssp`` holds only ``-``)."""
        return bool((self.dssp != b"-").any())

    @property
    def n_residues(self) -> int:
        return int(self.coords.shape[0])

    def chain(self, i: int) -> np.ndarray:
        """Backbone of chain ``i``: float32 ``(L_i, 4, 3)`` Å (a view)."""
        i = range(len(self))[i]                           # IndexError, negative indices
        start = int(np.sum(self.lengths[:i], dtype=np.int64))
        return self.coords[start: start + int(self.lengths[i])]

    def indices(self, split: str) -> np.ndarray:
        """Chain indices (int64) of ``split`` (``train``/``val``/``test``; may be empty)."""
        if split not in SPLITS:
            raise InputError(f"unknown split {split!r}; expected one of {SPLITS}")
        if self.split is None:
            raise InputError(f"{self.source}: has no 'split' key; use assign_split() first")
        return np.flatnonzero(self.split == split)

    def chains(self, split: str | None = None) -> tuple[list[np.ndarray], np.ndarray]:
        """``(chains, ids)``: float32 ``(L_i, 4, 3)`` Å views of every chain of ``split`` (None: all
        chains), in file order, and their ids.  A split with no chains is an :class:`InputError`."""
        keep = np.arange(len(self))
        if split is not None:
            keep = self.indices(split)
            if len(keep) == 0:
                raise InputError(f"{self.source}: no chains with split {split!r}; "
                                 f"available: {sorted(set(self.split.tolist()))}")
        offsets = self.offsets
        return [self.coords[offsets[i]:offsets[i + 1]] for i in keep], self.ids[keep]

    def subset(self, idx: Sequence[int] | np.ndarray) -> "Corpus":
        """A new corpus with chains ``idx`` (int indices or a bool mask), in that order."""
        idx = np.asarray(idx)
        idx = np.flatnonzero(idx) if idx.dtype == bool else idx.astype(np.int64)
        lens = self.lengths[idx].astype(np.int64)
        starts = self.offsets[idx]
        rows = np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(int(lens.sum()))
        return Corpus(self.coords[rows], self.lengths[idx], self.ids[idx], self.seq[rows],
                      self.dssp[rows],
                      None if self.cluster30 is None else self.cluster30[idx],
                      None if self.split is None else self.split[idx], self.source)

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays as saved in the .npz (optional keys only when present)."""
        out = {k: getattr(self, k) for k in _REQUIRED + _OPTIONAL}
        return {k: v for k, v in out.items() if v is not None}


def load_corpus(path: str | os.PathLike) -> Corpus:
    """Load a corpus .npz (``allow_pickle=False``), validating keys, shapes and dtypes.

    Raises:
        InputError: missing/unreadable file, a missing key, or a key of the wrong shape/dtype
            (the message names the file and the key).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: corpus file not found")
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise InputError(f"{path}: not a readable .npz corpus ({e})") from None
    arrays = {}
    with npz:
        missing = [k for k in _REQUIRED if k not in npz.files]
        if missing:
            raise InputError(f"{path}: missing key(s) {missing}; a corpus needs "
                             f"{list(_REQUIRED)} (optional {list(_OPTIONAL)}), found {npz.files}")
        for k in _REQUIRED + _OPTIONAL:
            if k in npz.files:
                try:
                    arrays[k] = npz[k]
                except Exception as e:  # pickled object arrays, truncated members
                    raise InputError(f"{path}: key '{k}' cannot be read ({e})") from None
    return Corpus(**arrays, source=str(path))


def save_corpus(path: str | os.PathLike, corpus: Corpus) -> Path:
    """Write ``corpus`` to ``path`` with ``np.savez_compressed``, atomically."""
    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:       # a file object: numpy appends no ".npz" suffix
            np.savez_compressed(fh, **corpus.arrays())
    return atomic_write_with(path, write)


# ---------------------------------------------------------------------------------------- splits
def _group_key(chain_id: str) -> str:
    m = re.match(r"(?:pdb)?([0-9][A-Za-z0-9]{3})_", chain_id, flags=re.IGNORECASE)
    return m.group(1).upper() if m else chain_id


def assign_split(ids: Sequence[str], cluster: Sequence[int] | np.ndarray | None = None,
                 val_fraction: float = 0.05, seed: int = 0) -> np.ndarray:
    """Deterministic cluster-disjoint train/val split.

    Chains are grouped by ``cluster`` if given, else by PDB code (the 4 characters before ``_``
    of ids like ``1UBI_A``; other ids are groups of their own).  Groups are ranked by a hash of
    ``(seed, group)`` and the first ones go to ``val`` until it holds ``val_fraction`` of the
    chains (at least one group when there are two or more).  A group's split depends only on the
    seed and its rank, not on the order of ``ids``, so adding files moves few chains.

    Returns:
        ``<U5`` array ``(C,)`` of ``"train"`` / ``"val"``.
    """
    ids = [str(i) for i in ids]
    if not 0.0 <= val_fraction < 1.0:
        raise InputError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if cluster is not None:
        cluster = np.asarray(cluster)
        if cluster.shape != (len(ids),):
            raise InputError(f"cluster has shape {cluster.shape}, expected ({len(ids)},)")
        keys = [f"c{c}" for c in cluster.tolist()]
    else:
        keys = [_group_key(i) for i in ids]
    uniq, inverse, counts = np.unique(np.array(keys, dtype=str), return_inverse=True,
                                      return_counts=True)
    rank = np.argsort([hashlib.blake2b(f"{seed}:{k}".encode(), digest_size=8).hexdigest()
                       for k in uniq.tolist()], kind="stable")
    in_val = np.zeros(len(uniq), dtype=bool)
    target, n_val = val_fraction * len(ids), 0
    for g in rank[:-1]:                                   # never put every group in val
        if n_val >= target or (n_val > 0 and n_val + counts[g] > 1.5 * target):
            break
        if val_fraction > 0:
            in_val[g], n_val = True, n_val + counts[g]
    return np.where(in_val[inverse], "val", "train").astype("<U5")
