"""The motif of a scaffolding problem: the residues a contig names, read from a PDB/mmCIF file.

:class:`Motif` holds them in contig order: coordinates float32 ``(K, 4, 3)`` in Å (N, CA, C, O,
the file's frame), residue names and labels like ``"A16"``; :func:`read_motif` reads and checks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from proteindsm.errors import InputError
from proteindsm.protein.generate.contig import MotifSegment, Segment
from proteindsm.protein.structure.backbone import ATOM_NAMES

__all__ = ["Motif", "read_motif"]


@dataclass(frozen=True)
class Motif:
    """The motif residues of a contig, in contig order: ``coords`` float32 ``(K, 4, 3)`` Å (file
    frame), ``res_names`` three-letter names as in the file, ``labels`` like ``"A16"``, ``segments``
    the motif segments."""

    coords: np.ndarray
    res_names: tuple[str, ...]
    labels: tuple[str, ...]
    segments: tuple[MotifSegment, ...]
    source: str

    def __len__(self) -> int:
        return len(self.labels)


def read_motif(path: str | Path, segments: Sequence[Segment]) -> Motif:
    """The residues the contig names, from a PDB/mmCIF file (first model, altlocs by occupancy,
    author chain ids and residue numbers; only L-amino acids, modified ones included, as
    :func:`proteindsm.protein.data.io.read_backbones`; residues with insertion codes are not addressable).
    :class:`InputError` naming the segment for a missing file, chain or residue, or a residue
    without all of N, CA, C, O."""
    import biotite.structure as struc

    from proteindsm.protein.data.atom_arrays import load_atoms, residue_kind

    path = Path(path)
    if not path.is_file():
        raise InputError(f"motif={path}: file not found")
    atoms = load_atoms(path)
    if atoms.array_length() == 0:
        raise InputError(f"motif={path}: contains no atoms")
    starts = struc.get_residue_starts(atoms)
    ends = np.append(starts[1:], atoms.array_length())
    ins = atoms.ins_code[starts].astype(str) if "ins_code" in atoms.get_annotation_categories() \
        else np.full(len(starts), "")
    index: dict[tuple[str, int], int] = {}
    amino = [residue_kind(str(r))[0] for r in atoms.res_name[starts]]   # L-amino acids (modified ones too)
    for k, (chain, rid, code) in enumerate(zip(atoms.chain_id[starts].astype(str), atoms.res_id[starts], ins)):
        if amino[k] and not code.strip():
            index.setdefault((chain, int(rid)), k)
    chains = sorted({c for c, _ in index})
    coords, names, labels = [], [], []
    for seg in (s for s in segments if isinstance(s, MotifSegment)):
        if seg.chain not in chains:
            raise InputError(f"contig segment '{seg.text}': chain {seg.chain} is not in {path.name} "
                             f"(chains: {', '.join(chains) or 'none'})")
        for r in range(seg.start, seg.end + 1):
            k = index.get((seg.chain, r))
            if k is None:
                have = sorted(rid for c, rid in index if c == seg.chain)
                raise InputError(f"contig segment '{seg.text}': residue {seg.chain}{r} is not in {path.name} "
                                 f"(chain {seg.chain} has residues {_ranges(have)})")
            res = atoms[starts[k]:ends[k]]
            X = np.zeros((4, 3))
            missing = []
            for a, name in enumerate(ATOM_NAMES):
                sel = np.flatnonzero(res.atom_name == name)
                if len(sel) == 0:
                    missing.append(name)
                else:
                    X[a] = res.coord[sel[0]]
            if missing:
                raise InputError(f"contig segment '{seg.text}': residue {seg.chain}{r} ({res.res_name[0]}) in "
                                 f"{path.name} lacks backbone atom(s) {', '.join(missing)}")
            if not np.isfinite(X).all():
                raise InputError(f"contig segment '{seg.text}': residue {seg.chain}{r} has non-finite coordinates")
            coords.append(X)
            names.append(str(res.res_name[0]))
            labels.append(f"{seg.chain}{r}")
    motif_segments = tuple(s for s in segments if isinstance(s, MotifSegment))
    return Motif(np.asarray(coords, dtype=np.float32), tuple(names), tuple(labels), motif_segments, str(path))


def _ranges(numbers: Sequence[int]) -> str:
    """[1, 2, 3, 7, 8] → '1-3, 7-8'."""
    if not numbers:
        return "none"
    out, lo, prev = [], numbers[0], numbers[0]
    for n in list(numbers[1:]) + [None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        out.append(f"{lo}-{prev}" if prev != lo else f"{lo}")
        if n is not None:
            lo = prev = n
    return ", ".join(out)
