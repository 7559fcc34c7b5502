"""Contigs of motif scaffolding (RFdiffusion's syntax) and the layouts drawn from them.

A **contig** lists the segments of the designed chain, N to C, separated by ``/``:

* ``A16-30`` copies residues 16–30 of chain A of the motif file (``A16``: residue 16 alone);
* ``5-15`` is a new segment of 5 to 15 residues, drawn per backbone (``0-5`` may be empty);
* ``10`` is a new segment of exactly 10 residues.

A :class:`Layout` is one backbone's concrete segment lengths (residues).  Each backbone draws its own
new-segment lengths from ``(seed, backbone index)`` (:func:`draw_layout`); with length bounds
``(lo, hi)`` the total is first drawn uniformly among the feasible totals and the segment lengths
are then drawn so they add up to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np

from proteindsm.errors import InputError

__all__ = ["Layout", "MotifSegment", "NewSegment", "Segment", "check_fit", "contig_span", "draw_layout",
           "parse_contig", "parse_length_bounds"]


@dataclass(frozen=True)
class MotifSegment:
    """Residues ``start``..``end`` (inclusive, author numbering) of ``chain`` of the motif file."""

    text: str
    chain: str
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    def labels(self) -> list[str]:
        return [f"{self.chain}{r}" for r in range(self.start, self.end + 1)]


@dataclass(frozen=True)
class NewSegment:
    """A new (scaffold) segment of ``lo``..``hi`` residues."""

    text: str
    lo: int
    hi: int


Segment = Union[MotifSegment, NewSegment]
_MOTIF = re.compile(r"([A-Za-z])(\d+)(?:-(\d+))?")
_NEW = re.compile(r"(\d+)(?:-(\d+))?")


def parse_contig(text: object) -> list[Segment]:
    """``"10-20/A16-30/5-15/A50-60/10-20"`` → segments, N to C.  One :class:`InputError` naming the
    segment for: an empty contig or segment, whitespace (several chains), a token that is not
    ``N``, ``LO-HI``, ``A16`` or ``A16-30``, a reversed range, a length-0 segment, a motif residue
    used twice, or no motif segment at all."""
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)                       # contig=10 arrives from Hydra as an int
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"contig must be a non-empty string like '10-20/A16-30/5-15', got {text!r}")
    if any(ch.isspace() for ch in text.strip()):
        raise InputError(f"contig {text!r}: contains whitespace; one chain only, segments separated by "
                         "'/' (multi-chain contigs are not supported)")
    parts = text.strip().split("/")
    segments: list[Segment] = []
    used: dict[tuple[str, int], str] = {}
    for k, part in enumerate(parts, start=1):
        where = f"contig {text!r}: segment {k}"
        if not part:
            raise InputError(f"{where} is empty (two '/' in a row, or a leading/trailing '/')")
        m = _MOTIF.fullmatch(part)
        if m:
            start = int(m.group(2))
            end = int(m.group(3)) if m.group(3) is not None else start
            if start > end:
                raise InputError(f"{where} '{part}': motif range starts after it ends ({start} > {end})")
            seg = MotifSegment(part, m.group(1), start, end)
            for label, r in zip(seg.labels(), range(start, end + 1)):
                if (seg.chain, r) in used:
                    raise InputError(f"{where} '{part}': motif residue {label} is already in segment "
                                     f"'{used[(seg.chain, r)]}' (each motif residue once)")
                used[(seg.chain, r)] = part
            segments.append(seg)
            continue
        m = _NEW.fullmatch(part)
        if m:
            lo = int(m.group(1))
            hi = int(m.group(2)) if m.group(2) is not None else lo
            if lo > hi:
                raise InputError(f"{where} '{part}': length range is reversed ({lo} > {hi})")
            if hi == 0:
                raise InputError(f"{where} '{part}': a segment of 0 residues (chain breaks '/0' are not "
                                 "supported; leave the segment out)")
            segments.append(NewSegment(part, lo, hi))
            continue
        raise InputError(f"{where} '{part}': not a new segment ('10' or '5-15') or a motif range "
                         "('A16-30': chain letter, first and last residue number)")
    if not any(isinstance(s, MotifSegment) for s in segments):
        raise InputError(f"contig {text!r} has no motif segment (like 'A16-30'): nothing to scaffold "
                         "(use proteindsm sample for unconditional backbones)")
    return segments


def parse_length_bounds(value: object) -> Optional[tuple[int, int]]:
    """``length=80-120`` | ``100`` | null → ``(lo, hi)`` or None."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "null", "none")):
        return None
    text = str(value).strip()
    m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", text)
    if isinstance(value, bool) or not m:
        raise InputError(f"length must be a total length range 'LO-HI' (e.g. 80-120) or one number, got {value!r}")
    lo = int(m.group(1))
    hi = int(m.group(2)) if m.group(2) is not None else lo
    if lo < 1 or lo > hi:
        raise InputError(f"length {text!r}: need 1 <= LO <= HI")
    return lo, hi


def contig_span(segments: Sequence[Segment]) -> tuple[int, int]:
    """The shortest and longest total length the contig allows ``(lo, hi)``."""
    fixed = sum(s.size for s in segments if isinstance(s, MotifSegment))
    return (fixed + sum(s.lo for s in segments if isinstance(s, NewSegment)),
            fixed + sum(s.hi for s in segments if isinstance(s, NewSegment)))


def _feasible(segments: Sequence[Segment], bounds: Optional[tuple[int, int]]) -> tuple[int, int]:
    lo, hi = contig_span(segments)
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return lo, hi


def check_fit(segments: Sequence[Segment], bounds: Optional[tuple[int, int]],
              max_length: Optional[int] = None) -> tuple[int, int]:
    """The feasible total lengths ``(lo, hi)``; :class:`InputError` naming the segments' span when
    the contig cannot meet the length bounds or the model's maximum length."""
    span = contig_span(segments)
    lo, hi = _feasible(segments, bounds)
    desc = "/".join(s.text for s in segments)
    if lo > hi:
        raise InputError(f"contig '{desc}' gives {span[0]}-{span[1]} residues, which cannot fit "
                         f"length={bounds[0]}-{bounds[1]}")
    if max_length is not None and lo > max_length:
        raise InputError(f"contig '{desc}' needs at least {lo} residues; the model supports at most {max_length}")
    if max_length is not None:
        hi = min(hi, max_length)
    return lo, hi


@dataclass(frozen=True)
class Layout:
    """One backbone's segment lengths (contig order) and where the motif residues land."""

    segments: tuple[Segment, ...]
    lengths: tuple[int, ...]

    @property
    def total(self) -> int:
        return int(sum(self.lengths))

    def motif_positions(self) -> np.ndarray:
        """0-based output index of each motif residue, in motif (contig) order ``(K,)``."""
        pos, k = [], 0
        for seg, n in zip(self.segments, self.lengths):
            if isinstance(seg, MotifSegment):
                pos.extend(range(k, k + n))
            k += n
        return np.asarray(pos, dtype=np.int64)

    def spans(self) -> list[tuple[Segment, int, int]]:
        """``(segment, first, last)`` output residue numbers (1-based, inclusive; last < first for
        an empty new segment)."""
        out, k = [], 0
        for seg, n in zip(self.segments, self.lengths):
            out.append((seg, k + 1, k + n))
            k += n
        return out

    def describe(self) -> str:
        """The concrete contig, e.g. ``12/A16-30/8``."""
        return "/".join(s.text if isinstance(s, MotifSegment) else str(n)
                        for s, n in zip(self.segments, self.lengths))

    def positions_text(self) -> str:
        """Output residue numbers of the motif, one range per motif segment: ``13-27;36-46``."""
        return ";".join(f"{a}-{b}" for s, a, b in self.spans() if isinstance(s, MotifSegment))


def draw_layout(segments: Sequence[Segment], bounds: Optional[tuple[int, int]], seed: int, index: int) -> Layout:
    """The layout of backbone ``index``, a function of ``(seed, index)``, the contig and the bounds:
    without bounds each new segment's length is uniform in its range; with bounds the total is
    uniform over the feasible totals, then the segments are filled in a random order, each uniform
    over the lengths that still let the others reach the total."""
    lo, hi = check_fit(segments, bounds)
    rng = np.random.default_rng([int(seed), int(index), 17])
    new = [i for i, s in enumerate(segments) if isinstance(s, NewSegment)]
    lengths = [s.size if isinstance(s, MotifSegment) else 0 for s in segments]
    if bounds is None:
        for i in new:
            lengths[i] = int(rng.integers(segments[i].lo, segments[i].hi + 1))
        return Layout(tuple(segments), tuple(lengths))
    fixed = sum(lengths)
    remaining = int(rng.integers(lo, hi + 1)) - fixed       # residues the new segments must hold
    order = list(rng.permutation(new))
    for j, i in enumerate(order):
        rest = order[j + 1:]
        a = max(segments[i].lo, remaining - sum(segments[r].hi for r in rest))
        b = min(segments[i].hi, remaining - sum(segments[r].lo for r in rest))
        lengths[i] = int(rng.integers(a, b + 1))
        remaining -= lengths[i]
    assert remaining == 0
    return Layout(tuple(segments), tuple(lengths))
