"""Secondary-structure layouts for ``ss=auto``: windows of real training chains' DSSP strings.

The package ships ``assets/ss_layouts_train.npz`` (made by ``scripts/build_ss_layouts.py`` from the
training split of the corpus; no validation chain is in it): the 3-state tokens of every training
chain (``tokens`` uint8, concatenated), their ``lengths`` and the chains' paired strand residues
(indices into ``tokens``, stored as the steps of the sorted first index and the sequence offset j − i;
:func:`proteindsm.protein.data.strand_pairing.paired_residues`).  For a backbone of L residues,
:func:`draw_layout` picks, with a generator seeded per backbone, one training chain whose length is
in ``[L, ⌈1.25 L⌉]`` (the nearest longer chains when none is, and the longest when L exceeds every
chain) and a random window of L residues of it — so each backbone gets the α/β/loop make-up and
segment lengths of a real chain of about its size, and that chain's strand pairing within the
window (which strand segments lie side by side; :class:`~proteindsm.protein.data.strand_pairing.PairedLayout`).
Windows cut at most the two end segments.

With a target make-up (``helix=`` / ``strand=`` fractions, e.g. from ``proteindsm design
property=strand_fraction target=0.4``), 64 such windows are drawn and the one closest to the targets
(sum of absolute differences) is kept: still a real chain's layout, now of the requested kind.
"""

from __future__ import annotations

import functools
import importlib.resources
from pathlib import Path

import numpy as np

from proteindsm.errors import InputError

from proteindsm.protein.data.secondary_structure import SS_HELIX, SS_LOOP, SS_STRAND
from proteindsm.protein.data.strand_pairing import PairedLayout, segment_adjacency, strand_segments

__all__ = ["LAYOUTS_FILE", "SSLayouts", "shipped_layouts", "draw_layout"]

LAYOUTS_FILE = "ss_layouts_train.npz"


class SSLayouts:
    """Training-chain secondary structure: ``tokens`` uint8 ``(R,)``, ``lengths`` int ``(C,)`` and
    optionally the paired strand residues ``pairs`` ``(P, 2)`` (global indices into ``tokens``, i < j;
    None: no pairing known, layouts are drawn without it)."""

    def __init__(self, tokens: np.ndarray, lengths: np.ndarray, source: str = "",
                 pairs: np.ndarray | None = None) -> None:
        self.tokens = np.asarray(tokens, dtype=np.uint8)
        self.lengths = np.asarray(lengths, dtype=np.int64)
        if self.lengths.sum() != self.tokens.size or (self.lengths < 1).any():
            raise InputError(f"{source or 'layouts'}: lengths do not add up to the number of tokens")
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        self.source = source
        self.pairs = None
        if pairs is not None:
            pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
            if pairs.size and (pairs.min() < 0 or pairs.max() >= self.tokens.size):
                raise InputError(f"{source or 'layouts'}: pairs index residues outside the tokens")
            self.pairs = pairs[np.argsort(pairs[:, 0], kind="stable")]

    @classmethod
    def load(cls, path: str | Path) -> "SSLayouts":
        with np.load(path, allow_pickle=False) as z:
            pairs = None
            if "pair_first_step" in z.files:  # stored as steps of the sorted first index + j − i
                first = np.cumsum(z["pair_first_step"].astype(np.int64))
                pairs = np.stack([first, first + z["pair_offset"].astype(np.int64)], axis=1)
            return cls(z["tokens"], z["lengths"], source=str(path), pairs=pairs)

    def save(self, path: str | Path) -> Path:
        from proteindsm.fileio import atomic_write_bytes
        import io

        buf = io.BytesIO()
        extra = {}
        if self.pairs is not None:
            offset = self.pairs[:, 1] - self.pairs[:, 0]
            if offset.size and (offset.min() < 1 or offset.max() > 65535):
                raise InputError("layouts: paired residues must be 1..65535 apart in sequence")
            extra = {"pair_first_step": np.diff(self.pairs[:, 0], prepend=0).astype(np.uint32),
                     "pair_offset": offset.astype(np.uint16)}
        np.savez_compressed(buf, tokens=self.tokens, lengths=self.lengths, **extra)
        return atomic_write_bytes(Path(path), buf.getvalue())

    def draw(self, length: int, rng: np.random.Generator, *, helix: float | None = None,
             strand: float | None = None, candidates: int = 64) -> PairedLayout:
        """A window of a training chain of similar length — tokens ``(length,)`` int64 and the
        chain's strand adjacency within it (None when the layouts carry no pairing) —, the closest of
        ``candidates`` windows to the target helix / strand fractions when any is given."""
        if helix is None and strand is None:
            return self._layout(*self._window(length, rng))
        best, best_err = None, float("inf")
        for _ in range(int(candidates)):
            span = self._window(length, rng)
            tok = span[0]
            err = sum(abs(float((tok == code).mean()) - want)
                      for code, want in ((SS_HELIX, helix), (SS_STRAND, strand)) if want is not None)
            if err < best_err:
                best, best_err = span, err
        return self._layout(*best)

    def _layout(self, tokens: np.ndarray, start: int, stop: int) -> PairedLayout:
        """Tokens of a window ``[start, stop)`` of the concatenated chains, with its pairing."""
        if self.pairs is None:
            return PairedLayout(tokens, None)
        lo, hi = np.searchsorted(self.pairs[:, 0], [start, stop])
        inside = self.pairs[lo:hi]
        inside = inside[(inside[:, 1] >= start) & (inside[:, 1] < stop)] - start
        return PairedLayout(tokens, tuple(segment_adjacency(strand_segments(tokens), inside)))

    def _window(self, length: int, rng: np.random.Generator) -> tuple[np.ndarray, int, int]:
        """``(tokens (length,), start, stop)``: the window's tokens and its span in ``self.tokens``."""
        if length < 1:
            raise InputError(f"layout length must be >= 1, got {length}")
        pool = np.flatnonzero((self.lengths >= length) & (self.lengths <= int(np.ceil(1.25 * length))))
        if pool.size == 0:
            longer = np.flatnonzero(self.lengths >= length)
            pool = longer[np.argsort(self.lengths[longer])[:50]] if longer.size else np.array([int(self.lengths.argmax())])
        i = int(rng.choice(pool))
        n = int(self.lengths[i])
        if n < length:  # longer than any chain: pad the longest with loop
            out = np.full(length, SS_LOOP, dtype=np.int64)
            out[:n] = self.tokens[self.offsets[i]: self.offsets[i] + n]
            return out, int(self.offsets[i]), int(self.offsets[i]) + n
        start = int(self.offsets[i]) + int(rng.integers(0, n - length + 1))
        return self.tokens[start: start + length].astype(np.int64), start, start + length


@functools.lru_cache(maxsize=1)
def shipped_layouts() -> SSLayouts:
    """The layouts shipped in the package."""
    return SSLayouts.load(Path(str(importlib.resources.files("proteindsm.protein") / "assets" / LAYOUTS_FILE)))


def draw_layout(length: int, seed: int, index: int, layouts: SSLayouts | None = None, *,
                helix: float | None = None, strand: float | None = None) -> PairedLayout:
    """The ``ss=auto`` layout (tokens and strand pairing) of backbone ``index`` of ``length``
    residues in a run seeded ``seed`` (a function of these numbers and the targets only)."""
    rng = np.random.default_rng([int(seed), int(length), int(index), 0x55])
    return (layouts or shipped_layouts()).draw(int(length), rng, helix=helix, strand=strand)
