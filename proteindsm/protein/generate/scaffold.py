"""Motif scaffolding: contigs, motif files, layouts, the SE(3)-invariant motif condition, output.

A **contig** (RFdiffusion's syntax) lists the segments of the designed chain, N to C, separated by
``/``:

* ``A16-30`` copies residues 16–30 of chain A of the motif file (``A16``: residue 16 alone);
* ``5-15`` is a new segment of 5 to 15 residues, drawn per backbone (``0-5`` may be empty);
* ``10`` is a new segment of exactly 10 residues.

Each backbone draws its own new-segment lengths from ``(seed, backbone index)``; with length bounds
``(lo, hi)`` the total is first drawn uniformly among the feasible totals and the segment lengths
are then drawn so they add up to it.

The motif is placed by the model, not fixed in space: the target is superposed onto the current
estimate before it is compared (:func:`superpose_onto`, the ``align`` hook of
:class:`proteindsm.core.KnownPart`), so the condition — and :func:`motif_rmsd` — are invariant to
rotations and translations of either.

Shapes: backbones ``(L, 4, 3)`` / ``(B, L, 4, 3)`` Å, atoms N, CA, C, O; masks bool ``(B, L)``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch

from proteindsm.errors import InputError
from proteindsm.protein.structure.backbone import ATOM_NAMES

__all__ = ["MotifSegment", "NewSegment", "parse_contig", "parse_length_bounds", "check_fit", "Motif",
           "read_motif", "contig_span", "Layout", "draw_layout", "superpose_onto", "known_part", "motif_rmsd",
           "conditioning", "ScaffoldSample", "scaffold_backbones", "scaffold_remarks", "write_scaffold_pdb",
           "MECHANISMS"]

#: The conditioning mechanisms of ``proteindsm scaffold mechanism=...``.
MECHANISMS = ("guidance", "replacement", "none")


# ------------------------------------------------------------------------------------ contigs
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


# ------------------------------------------------------------------------------------ motif file
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

    from proteindsm.protein.data.io import _load_atoms, _residue_kind

    path = Path(path)
    if not path.is_file():
        raise InputError(f"motif={path}: file not found")
    atoms = _load_atoms(path)
    if atoms.array_length() == 0:
        raise InputError(f"motif={path}: contains no atoms")
    starts = struc.get_residue_starts(atoms)
    ends = np.append(starts[1:], atoms.array_length())
    ins = atoms.ins_code[starts].astype(str) if "ins_code" in atoms.get_annotation_categories() \
        else np.full(len(starts), "")
    index: dict[tuple[str, int], int] = {}
    amino = [_residue_kind(str(r))[0] for r in atoms.res_name[starts]]   # L-amino acids (modified ones too)
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


# ------------------------------------------------------------------------------------ layouts
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


# ------------------------------------------------------------------------------------ condition
def superpose_onto(target: torch.Tensor, estimate: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``target`` ``(B, L, 4, 3)`` moved by the proper rigid motion that best fits its ``mask``ed
    residues (bool ``(B, L)``) onto ``estimate``'s (Kabsch on N, CA, C, O): the aligner of the motif
    condition."""
    from proteindsm.protein.structure.geometry import kabsch_align

    return kabsch_align(target, estimate, mask)[0]


def known_part(motif: Motif, layouts: Sequence[Layout], device: torch.device | str = "cpu",
               dtype: torch.dtype = torch.float32):
    """The core condition for a batch of layouts of one total length: values ``(B, L, 4, 3)`` (the
    motif, centred, at its positions), mask ``(B, L)``, aligned by :func:`superpose_onto`."""
    from proteindsm.core import KnownPart

    L = layouts[0].total
    if any(lay.total != L for lay in layouts):
        raise ValueError("known_part: every layout of a batch must have the same total length")
    motif_xyz = motif.coords - motif.coords[:, 1].mean(0)
    values = np.zeros((len(layouts), L, 4, 3), dtype=np.float32)
    mask = np.zeros((len(layouts), L), dtype=bool)
    for b, lay in enumerate(layouts):
        pos = lay.motif_positions()
        values[b, pos] = motif_xyz
        mask[b, pos] = True
    return KnownPart(torch.from_numpy(values).to(device=device, dtype=dtype),
                     torch.from_numpy(mask).to(device), align=superpose_onto)


def motif_rmsd(X: np.ndarray | torch.Tensor, motif: Motif, layout: Layout) -> float:
    """RMSD (Å) over N, CA, C, O of the motif residues of backbone ``X`` ``(L, 4, 3)`` and the motif,
    after optimal superposition."""
    from proteindsm.protein.structure.geometry import rmsd

    X = torch.as_tensor(np.asarray(X, dtype=np.float64))
    ref = torch.as_tensor(motif.coords.astype(np.float64))
    return float(rmsd(X[torch.as_tensor(layout.motif_positions())], ref))


def conditioning(name: str, known, *, scale: float = 1.0, tolerance: float = 0.0,
                 sigma_max: Optional[float] = None, sigma_data: Optional[float] = None,
                 through_model: bool = True):
    """The core mechanism for ``mechanism=name`` (:data:`MECHANISMS`); None for ``none``."""
    from proteindsm.core import ReconstructionGuidance, Replacement

    if name == "guidance":
        return ReconstructionGuidance(known, scale=scale, tolerance=tolerance, sigma_data=sigma_data,
                                      through_model=through_model, sigma_max=sigma_max)
    if name == "replacement":
        return Replacement(known)
    if name == "none":
        return None
    raise InputError(f"mechanism must be one of {', '.join(MECHANISMS)}, got {name!r}")


# ------------------------------------------------------------------------------------ sampling
@dataclass
class ScaffoldSample:
    """One scaffold: ``coords`` float32 ``(L, 4, 3)``, its ``layout``, ``motif_rmsd`` Å, and the wall
    time of its batch divided by the batch size."""

    index: int
    layout: Layout
    coords: np.ndarray
    motif_rmsd: float
    seconds: float


def scaffold_backbones(score_for: Callable[[object], object], motif: Motif, layouts: Sequence[Layout],
                       sampler, sigmas: torch.Tensor, *, seed: int = 0, batch_size: int = 8,
                       device: torch.device | str = "cpu", progress: bool = False,
                       ideal_output: bool = False) -> list[ScaffoldSample]:
    """Sample one backbone per layout (backbone ``i`` has ``layouts[i]``).

    ``score_for(known)`` returns the score function of one batch for its condition
    (:class:`proteindsm.core.KnownPart`), e.g. the model conditioned by :func:`conditioning` with
    the sampling potentials on top.  Backbones of the same total length are sampled together, in
    batches of ``batch_size``; batch ``b`` of length ``L`` starts from the noise of
    :func:`proteindsm.protein.generate.sampling.batch_generator` ``(seed, L, b)``, so the same seed and contig
    give the same starting noise whatever the mechanism.
    """
    from tqdm.auto import tqdm

    from proteindsm.core import prior_sample
    from proteindsm.protein.structure.domain import project_zero_ca_centroid
    from proteindsm.protein.generate.sampling import batch_generator

    device = torch.device(device)
    sigmas = sigmas.to(device)
    by_length: dict[int, list[int]] = {}
    for i, lay in enumerate(layouts):
        by_length.setdefault(lay.total, []).append(i)
    jobs = [(L, b, idx[b * batch_size:(b + 1) * batch_size])
            for L, idx in sorted(by_length.items()) for b in range((len(idx) + batch_size - 1) // batch_size)]
    out: dict[int, ScaffoldSample] = {}
    for L, b, rows in tqdm(jobs, desc="scaffolding", unit="batch", disable=not progress):
        n = len(rows)
        g = batch_generator(seed, L, b, device)
        mask = torch.ones(n, L, dtype=torch.bool, device=device)
        x0 = prior_sample((n, L, 4, 3), float(sigmas[0]), mask=mask, project=project_zero_ca_centroid,
                          generator=g, device=device)
        known = known_part(motif, [layouts[i] for i in rows], device=device)
        cond = {"mask": mask, "sample_index": torch.as_tensor(rows, device=device)}
        t0 = time.perf_counter()
        res = sampler.sample(score_for(known), x0, sigmas, mask=mask, cond=cond,
                             project=project_zero_ca_centroid, generator=g, progress=False)
        x = res.x.detach()
        if ideal_output:
            from proteindsm.protein.structure.ideal_geometry import idealise_backbone
            x = idealise_backbone(x, mask)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        per = (time.perf_counter() - t0) / n
        x = x.float().cpu().numpy()
        for j, i in enumerate(rows):
            out[i] = ScaffoldSample(i, layouts[i], x[j], motif_rmsd(x[j], motif, layouts[i]), per)
    return [out[i] for i in range(len(layouts))]


# ------------------------------------------------------------------------------------ output
def scaffold_remarks(motif: Motif, layout: Layout) -> list[str]:
    """``REMARK 999`` lines, one per segment: which output residues it occupies and, for a motif
    segment, which motif residues they are."""
    lines = [f"REMARK 999 SCAFFOLD CONTIG {layout.describe()} MOTIF {Path(motif.source).name}"]
    for k, (seg, a, b) in enumerate(layout.spans(), start=1):
        where = f"{a}-{b}" if b >= a else "none"
        if isinstance(seg, MotifSegment):
            lines.append(f"REMARK 999 SEGMENT {k} MOTIF {seg.chain}{seg.start}-{seg.end} -> OUTPUT {where}")
        else:
            lines.append(f"REMARK 999 SEGMENT {k} NEW {b - a + 1} -> OUTPUT {where}")
    return [line[:80] for line in lines]


def write_scaffold_pdb(path: str | Path, X: np.ndarray, motif: Motif, layout: Layout) -> Path:
    """Write a scaffold as PDB (atomically): GLY everywhere except the motif residues, which keep
    their names from the motif file; B-factor 1.00 on motif residues, 0 elsewhere (colour by
    B-factor to see the motif); :func:`scaffold_remarks` at the top."""
    from biotite.structure.io import pdb

    from proteindsm.fileio import atomic_write_with
    from proteindsm.protein.data.io import _atom_stack

    L = layout.total
    pos = layout.motif_positions()
    flag = np.zeros(L)
    flag[pos] = 1.0
    array = _atom_stack(path, X, None, "A", flag)
    names = np.array(["GLY"] * L, dtype=object)
    names[pos] = list(motif.res_names)
    array.res_name = np.repeat(names.astype(str), 4)
    if np.abs(array.coord).max() >= 1000:
        raise InputError(f"{path}: coordinates of magnitude >= 1000 Å do not fit the PDB format")
    f = pdb.PDBFile()
    f.set_structure(array)
    f.lines = scaffold_remarks(motif, layout) + list(f.lines)
    return atomic_write_with(path, f.write)
