"""Secondary structure for scaffolds (``proteindsm scaffold ... ss=``): what the score model is
conditioned on, per output residue, for a secondary-structure-conditioned checkpoint.

``ss`` is one of

* ``none`` (default): no conditioning (every residue unspecified);
* ``motif``: the motif residues carry their own DSSP state (helix / strand / loop, from the motif's
  coordinates), the new segments are unspecified;
* one entry per contig segment, ``/``-separated like the contig: for a new segment a letter
  ``H`` (helix), ``E`` (strand), ``L`` (loop) or ``-`` (unspecified) that fills the whole segment,
  whatever length it draws; for a motif segment ``motif`` (its DSSP state) or ``-``.  E.g. with
  ``contig="10-20/A16-30/5-15"``, ``ss="L/motif/H"`` asks for a helix after the motif.

The DSSP states of the motif come from its residues alone (segments concatenated in contig order):
H-bonds inside a segment and between segments count, the first residue of each segment has no
donor from its real predecessor, so a state at a segment's first residue can differ from the full
chain's.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from proteindsm.errors import InputError
from proteindsm.protein.data.secondary_structure import SS_UNKNOWN, dssp_to_tokens, parse_ss_string

from .contig import Layout, MotifSegment, Segment
from .motif import Motif

__all__ = ["parse_scaffold_ss", "motif_ss_tokens", "layout_ss_tokens"]

_OFF = (None, False, "", "none", "null")


def parse_scaffold_ss(value: Any, segments: Sequence[Segment]) -> Optional[tuple[str, ...]]:
    """The per-segment spec of ``ss`` (one entry per contig segment: ``"motif"``, ``"-"`` or a
    letter of H/E/L for a new segment), or None for ``none``.  One :class:`InputError` naming the
    entry for anything else."""
    if value in _OFF or (isinstance(value, str) and value.strip().lower() in _OFF):
        return None
    if not isinstance(value, str):
        raise InputError(f"ss must be none, motif or one entry per contig segment like 'L/motif/H', got {value!r}")
    text = value.strip()
    if text.lower() == "motif":
        return tuple("motif" if isinstance(s, MotifSegment) else "-" for s in segments)
    parts = [p.strip() for p in text.split("/")]
    if len(parts) != len(segments):
        raise InputError(f"ss={value!r} has {len(parts)} entries but the contig has {len(segments)} segments "
                         "(one entry per segment, '/'-separated, e.g. 'L/motif/H')")
    out = []
    for part, seg in zip(parts, segments):
        if isinstance(seg, MotifSegment):
            if part.lower() not in ("motif", "-"):
                raise InputError(f"ss entry {part!r} for motif segment '{seg.text}' must be 'motif' or '-'")
            out.append(part.lower())
        else:
            if len(part) != 1 or part.upper() not in "HEL-":
                raise InputError(f"ss entry {part!r} for new segment '{seg.text}' must be one letter: "
                                 "H (helix), E (strand), L (loop) or - (unspecified)")
            out.append(part.upper())
    return tuple(out)


def motif_ss_tokens(motif: Motif) -> np.ndarray:
    """DSSP state tokens ``(K,)`` of the motif residues, from their coordinates (contig order)."""
    from proteindsm.protein.structure.properties import secondary_structure

    return dssp_to_tokens(secondary_structure(motif.coords))


def layout_ss_tokens(spec: Sequence[str], layout: Layout, motif_tokens: np.ndarray) -> np.ndarray:
    """The conditioning tokens ``(L,)`` of one backbone with ``layout`` (int64, unknown where the
    spec says ``-``)."""
    out = np.full(layout.total, SS_UNKNOWN, dtype=np.int64)
    k = 0                                  # motif residues seen so far
    for (seg, first, last), entry in zip(layout.spans(), spec):
        n = last - first + 1
        if isinstance(seg, MotifSegment):
            if entry == "motif":
                out[first - 1:last] = motif_tokens[k:k + n]
            k += n
        elif entry != "-" and n > 0:
            out[first - 1:last] = parse_ss_string(entry * n, "ss")
    return out
