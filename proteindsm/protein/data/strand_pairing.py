"""Which β-strands pair: residue pairs, strand segments and their block adjacency.

The secondary-structure string says *where* the strands are; a sheet also needs to know *which*
strands lie side by side (RFdiffusion's "block adjacency").  Here:

* :func:`strand_segments` — the maximal runs of strand tokens (E) of a 3-state string, numbered
  1, 2, … in sequence order (the numbers a designer writes in ``pairs=1:2/2:3``);
* :func:`paired_residues` — residue pairs (i, j), i < j, of a real chain that sit side by side in a
  sheet: both strand, ``|i − j| ≥ 3``, CA–CA ≤ :data:`PAIR_CA_DISTANCE` (bridge partners in DSSP's
  sense sit at 4.4–5.5 Å; the next residue along a strand is ~6.5 Å away);
* :func:`segment_adjacency` — the strand-segment pairs (s, t), s < t, that share a paired residue;
* :func:`pair_tokens` — the per-residue-pair input of the score network, ``(L, L)`` int64:
  :data:`PAIR_UNKNOWN` (no adjacency given), :data:`PAIR_APART` (given: the two residues are not in
  a pair of adjacent strands) or :data:`PAIR_ADJACENT` (their strands pair);
* :func:`parse_pairs` — a user's ``"1:2/2:3"`` checked against the segments of the string;
* :class:`PairedLayout` — a backbone's secondary-structure tokens with its strand adjacency (None:
  not given), what ``ss=auto`` draws from a real chain and what ``ss=STRING pairs=...`` gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from proteindsm.errors import InputError
from proteindsm.protein.data.secondary_structure import SS_STRAND

__all__ = ["PairedLayout", "as_layout", "chain_layout", "PAIR_UNKNOWN", "PAIR_APART", "PAIR_ADJACENT", "NUM_PAIR_TOKENS", "PAIR_CA_DISTANCE",
           "strand_segments", "paired_residues", "segment_adjacency", "pair_tokens", "parse_pairs",
           "format_pairs"]

PAIR_UNKNOWN, PAIR_APART, PAIR_ADJACENT = 0, 1, 2
NUM_PAIR_TOKENS = 3
#: Å: two strand residues at most this far apart (CA–CA), 3 or more apart in sequence, are paired.
PAIR_CA_DISTANCE = 5.5
_MIN_SEPARATION = 3


def strand_segments(tokens: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of :data:`SS_STRAND` in ``tokens`` ``(L,)``: ``[(start, end), ...]`` with ``end``
    exclusive, in sequence order (segment k of the docs is ``segments[k - 1]``)."""
    t = np.asarray(tokens)
    strand = np.concatenate([[False], t == SS_STRAND, [False]])
    edges = np.flatnonzero(strand[1:] != strand[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[0::2], edges[1::2])]


def paired_residues(ca: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Paired residues of a chain: CA ``(L, 3)`` Å and 3-state tokens ``(L,)`` → int ``(P, 2)``, i < j."""
    ca = np.asarray(ca, dtype=np.float64)
    strand = np.flatnonzero(np.asarray(tokens) == SS_STRAND)
    if strand.size < 2:
        return np.zeros((0, 2), dtype=np.int64)
    d = np.linalg.norm(ca[strand][:, None] - ca[strand][None], axis=-1)
    i, j = np.nonzero((d <= PAIR_CA_DISTANCE) & (strand[None, :] - strand[:, None] >= _MIN_SEPARATION))
    return np.stack([strand[i], strand[j]], axis=1).astype(np.int64)


def segment_adjacency(segments: Sequence[tuple[int, int]], pairs: np.ndarray) -> list[tuple[int, int]]:
    """Strand-segment pairs ``(s, t)`` (0-based indices into ``segments``, s < t) with at least one
    paired residue between them; residue pairs outside any segment are ignored."""
    seg_of = {}
    for k, (a, b) in enumerate(segments):
        for r in range(a, b):
            seg_of[r] = k
    out = set()
    for i, j in np.asarray(pairs, dtype=np.int64).reshape(-1, 2):
        s, t = seg_of.get(int(i)), seg_of.get(int(j))
        if s is not None and t is not None and s != t:
            out.add((min(s, t), max(s, t)))
    return sorted(out)


def pair_tokens(length: int, segments: Sequence[tuple[int, int]],
                adjacency: Sequence[tuple[int, int]] | None) -> np.ndarray:
    """The network's pair input ``(length, length)`` int64: all :data:`PAIR_UNKNOWN` when
    ``adjacency`` is None, else :data:`PAIR_ADJACENT` between the residues of adjacent segments (both
    directions) and :data:`PAIR_APART` everywhere else."""
    if adjacency is None:
        return np.full((length, length), PAIR_UNKNOWN, dtype=np.int64)
    out = np.full((length, length), PAIR_APART, dtype=np.int64)
    for s, t in adjacency:
        (a, b), (c, d) = segments[s], segments[t]
        out[a:b, c:d] = PAIR_ADJACENT
        out[c:d, a:b] = PAIR_ADJACENT
    return out


def parse_pairs(text: str, segments: Sequence[tuple[int, int]], *, source: str = "pairs") -> list[tuple[int, int]]:
    """``"1:2/2:3"`` (1-based strand segment numbers; ``/`` or ``,`` between entries — ``/`` on the
    command line, where Hydra reads a comma as a sweep) → 0-based adjacency ``[(0, 1), (1, 2)]``.

    One clear :class:`InputError` naming the entry for malformed text, a segment number that the
    string does not have (with how many strand segments it has), or a strand paired with itself."""
    text = str(text).strip()
    if not text:
        raise InputError(f"{source}: empty; give strand pairs as 'S:T/S:T...' (strand segments numbered from 1)")
    out = set()
    for entry in text.replace("/", ",").split(","):
        parts = entry.strip().split(":")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise InputError(f"{source}: entry {entry.strip()!r} is not 'S:T' with two strand numbers (e.g. 1:2)")
        s, t = (int(p) for p in parts)
        for k in (s, t):
            if not 1 <= k <= len(segments):
                raise InputError(f"{source}: entry {entry.strip()!r} names strand {k}, but the ss string has "
                                 f"{len(segments)} strand segment(s) (runs of E), numbered 1..{len(segments)}")
        if s == t:
            raise InputError(f"{source}: entry {entry.strip()!r} pairs strand {s} with itself")
        out.add((min(s, t) - 1, max(s, t) - 1))
    return sorted(out)


def format_pairs(adjacency: Sequence[tuple[int, int]]) -> str:
    """0-based adjacency → the 1-based ``"1:2/2:3"`` text ('' when empty)."""
    return "/".join(f"{s + 1}:{t + 1}" for s, t in adjacency)


@dataclass(frozen=True)
class PairedLayout:
    """Secondary-structure tokens ``(L,)`` int64 and the strand adjacency (0-based segment pairs of
    :func:`strand_segments`; None = not given, the model decides which strands pair)."""

    tokens: np.ndarray
    pairs: Optional[tuple[tuple[int, int], ...]] = None

    @property
    def segments(self) -> list[tuple[int, int]]:
        return strand_segments(self.tokens)

    def pair_tokens(self) -> np.ndarray:
        """The network's ``(L, L)`` pair input (:func:`pair_tokens`)."""
        return pair_tokens(len(self.tokens), self.segments, None if self.pairs is None else list(self.pairs))

    @property
    def pairs_text(self) -> Optional[str]:
        """``"1:2/2:3"`` (1-based), ``""`` for "no strands pair", None when not given."""
        return None if self.pairs is None else format_pairs(self.pairs)


def chain_layout(ca: np.ndarray, tokens: np.ndarray) -> PairedLayout:
    """A real chain's layout with its own strand pairing: CA ``(L, 3)`` Å and 3-state tokens ``(L,)``
    → tokens and the adjacency of its strand segments (:func:`paired_residues`, :func:`segment_adjacency`)."""
    return PairedLayout(tokens, tuple(segment_adjacency(strand_segments(tokens), paired_residues(ca, tokens))))


def as_layout(value: Any) -> Optional[PairedLayout]:
    """A layout callable's result as a :class:`PairedLayout`: tokens alone → no pairs; None → None."""
    if value is None or isinstance(value, PairedLayout):
        return value
    return PairedLayout(np.asarray(value, dtype=np.int64), None)
