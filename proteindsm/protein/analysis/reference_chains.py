"""Real reference chains from a corpus ``.npz``: the baseline set that generated backbones are compared to.

:func:`load_corpus_chains` reads a split's chains, float32 ``(L_i, 4, 3)`` in Å (N, CA, C, O);
:func:`reference_from_corpus` picks (and crops) real chains with the generated set's lengths,
re-centred on their CA centroid.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from proteindsm.errors import InputError
from proteindsm.protein.data.corpus import load_corpus
from proteindsm.protein.structure.backbone import CA

__all__ = ["load_corpus_chains", "reference_from_corpus"]


def load_corpus_chains(npz_path: str | Path, split: str | None = None
                       ) -> tuple[list[np.ndarray], np.ndarray]:
    """Chains of a corpus ``.npz`` (read and validated by :func:`proteindsm.protein.data.corpus.load_corpus`).

    Args:
        npz_path: the corpus file, e.g. ``backbones_pdb_nr40.npz``.
        split: keep only chains whose ``split`` entry equals this (e.g. ``"val"``); None keeps all.

    Returns:
        ``(chains, ids)``: float32 ``(L_i, 4, 3)`` arrays in Å and their ids.
    """
    return load_corpus(npz_path).chains(split)


def reference_from_corpus(npz_path: str | Path, lengths: Sequence[int], split: str = "val",
                          n_per_length: int | None = None, seed: int = 0,
                          return_info: bool = False):
    """Real chains of the requested lengths, for a like-for-like reference set.

    For each distinct length ``L`` in ``lengths`` it takes ``n_per_length`` chains (default: as
    many as ``L`` occurs in ``lengths``, so the reference has the samples' length multiset) from
    ``split``: first, in random order, chains of length ``L .. L + max(8, 15 % of L)``; if those
    run out, the nearest longer chains, then the longest shorter ones (kept whole, so their length
    is below ``L``); chains are reused (with other crops) only if the split has too few.  A chain
    longer than ``L`` is cropped to a random contiguous window of ``L`` residues.  Every chain is
    re-centred on its CA centroid.

    Returns:
        list of float32 ``(L, 4, 3)`` arrays; with ``return_info`` also a list of dicts
        ``{"id", "source_length", "start", "length"}`` saying what was taken.
    """
    try:
        wanted = Counter(int(L) for L in lengths)
    except (TypeError, ValueError):
        raise InputError(f"reference_from_corpus: lengths must be integers, got {lengths!r}"
                         ) from None
    if not wanted or min(wanted) < 3:
        raise InputError(f"reference_from_corpus: lengths must be a non-empty list of integers "
                         f">= 3, got {sorted(wanted)}")
    if n_per_length is not None and n_per_length < 1:
        raise InputError(f"reference_from_corpus: n_per_length must be >= 1, got {n_per_length}")
    chains, ids = load_corpus_chains(npz_path, split)
    lens = np.array([len(c) for c in chains])
    rng = np.random.default_rng(seed)
    out, info = [], []
    for L in sorted(wanted):
        n = n_per_length or wanted[L]
        tol = max(8, int(round(0.15 * L)))
        near = rng.permutation(np.flatnonzero((lens >= L) & (lens <= L + tol)))
        rest = np.setdiff1d(np.arange(len(chains)), near)
        key = np.where(lens[rest] >= L, lens[rest] - L, 100_000 + (L - lens[rest]))
        order = np.concatenate([near, rest[np.lexsort((rng.random(len(rest)), key))]])
        for k in np.resize(order, n):
            src = chains[k]
            start = int(rng.integers(0, len(src) - L + 1)) if len(src) > L else 0
            X = np.array(src[start:start + L], dtype=np.float32)
            X -= X[:, CA].mean(0)
            out.append(X)
            info.append({"id": str(ids[k]), "source_length": int(len(src)), "start": start,
                         "length": int(len(X))})
    return (out, info) if return_info else out
