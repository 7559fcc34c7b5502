"""Motif scaffolding: the SE(3)-invariant motif condition, sampling one backbone per layout, output.

The contig syntax and layouts are in :mod:`proteindsm.protein.generate.contig`, the motif file in
:mod:`proteindsm.protein.generate.motif`.

The motif is placed by the model, not fixed in space: the target is superposed onto the current
estimate before it is compared (:func:`superpose_onto`, the ``align`` hook of
:class:`proteindsm.core.KnownPart`), so the condition — and :func:`motif_rmsd` — are invariant to
rotations and translations of either.

Shapes: backbones ``(L, 4, 3)`` / ``(B, L, 4, 3)`` Å, atoms N, CA, C, O; masks bool ``(B, L)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from proteindsm.errors import InputError
from proteindsm.protein.generate.contig import Layout, MotifSegment
from proteindsm.protein.generate.motif import Motif

__all__ = ["MECHANISMS", "ScaffoldSample", "conditioning", "known_part", "motif_rmsd", "scaffold_backbones",
           "scaffold_remarks", "superpose_onto", "write_scaffold_pdb"]

#: The conditioning mechanisms of ``proteindsm scaffold mechanism=...``.
MECHANISMS = ("guidance", "replacement", "none")


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


#: Weight of a motif residue's positional term in :func:`fit_ideal_scaffolds` (the rest have 1).
MOTIF_FIT_WEIGHT = 10.0
#: Peptide-restraint weight of :func:`fit_ideal_scaffolds` (``sample``'s fit: 100): torn junctions close.
SCAFFOLD_PEPTIDE_WEIGHT = 1000.0
#: C(i)–N(i+1) (Å) beyond which :func:`fit_ideal_scaffolds` leaves a scaffold broken (torn junctions of the
#: benchmark reach 3.2 Å; a wider gap is no tear a local fit should hide).
SCAFFOLD_BREAK_DISTANCE = 4.0


def fit_ideal_scaffolds(x: torch.Tensor, mask: torch.Tensor, layouts: Sequence[Layout]) -> torch.Tensor:
    """``ideal_output`` for scaffolds ``x`` ``(B, L, 4, 3)`` Å with ``layouts[b]`` each: the nearest
    ideal-geometry chain (:func:`proteindsm.protein.structure.ideal_fit.fit_ideal_backbone`), with
    two differences from ``sample``'s:

    * peptide bonds torn up to C–N :data:`SCAFFOLD_BREAK_DISTANCE` are closed, with restraints of
      weight :data:`SCAFFOLD_PEPTIDE_WEIGHT` (a scaffold is one continuous chain by construction, so a
      torn motif junction is a defect to repair, not a chain break);
    * the motif residues' positions weigh :data:`MOTIF_FIT_WEIGHT` × the others', so mostly the new
      segments give way.

    Measured on the 16-scaffold benchmark: every bond within 0.1 Å on all six problems, the motif
    moved ≤ 0.25 Å rms (docs/scaffold.md)."""
    from proteindsm.protein.structure.ideal_fit import fit_ideal_backbone

    weight = torch.ones(mask.shape, dtype=x.dtype, device=x.device)
    for b, lay in enumerate(layouts):
        weight[b, torch.as_tensor(lay.motif_positions(), dtype=torch.long, device=x.device)] = MOTIF_FIT_WEIGHT
    return fit_ideal_backbone(x, mask, break_distance=SCAFFOLD_BREAK_DISTANCE, position_weight=weight,
                              peptide_weight=SCAFFOLD_PEPTIDE_WEIGHT)


def scaffold_backbones(score_for: Callable[[object], object], motif: Motif, layouts: Sequence[Layout],
                       sampler, sigmas: torch.Tensor, *, seed: int = 0, batch_size: int = 8,
                       device: torch.device | str = "cpu", progress: bool = False,
                       ideal_output: bool = False,
                       ss_tokens: Optional[Sequence[np.ndarray]] = None,
                       skip: Optional[Callable[[list[int]], bool]] = None,
                       on_batch: Optional[Callable[[list[ScaffoldSample]], None]] = None) -> list[ScaffoldSample]:
    """Sample one backbone per layout (backbone ``i`` has ``layouts[i]``; ``ss_tokens[i]``, int64
    ``(L_i,)``, its secondary-structure condition for a conditioned model, e.g. from
    :func:`proteindsm.protein.generate.scaffold_ss.layout_ss_tokens`; None: unconditioned).

    ``score_for(known)`` returns the score function of one batch for its condition
    (:class:`proteindsm.core.KnownPart`), e.g. the model conditioned by :func:`conditioning` with
    the sampling potentials on top.  Backbones of the same total length are sampled together, in
    batches of ``batch_size``; batch ``b`` of length ``L`` starts from the noise of
    :func:`proteindsm.protein.generate.sampling.batch_generator` ``(seed, L, b)``, so the same seed and contig
    give the same starting noise whatever the mechanism.  ``skip(rows)``: batches (their backbone
    numbers) to leave out, e.g. written by an interrupted run; ``on_batch``: called with each batch's
    scaffolds as soon as they are done.  Returns the sampled scaffolds in index order.
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
    jobs = [job for job in jobs if skip is None or not skip(job[2])]
    out: dict[int, ScaffoldSample] = {}
    for L, b, rows in tqdm(jobs, desc="scaffolding", unit="batch", disable=not progress):
        n = len(rows)
        g = batch_generator(seed, L, b, device)
        mask = torch.ones(n, L, dtype=torch.bool, device=device)
        x0 = prior_sample((n, L, 4, 3), float(sigmas[0]), mask=mask, project=project_zero_ca_centroid,
                          generator=g, device=device)
        known = known_part(motif, [layouts[i] for i in rows], device=device)
        cond = {"mask": mask, "sample_index": torch.as_tensor(rows, device=device)}
        if ss_tokens is not None:
            cond["ss"] = torch.as_tensor(np.stack([ss_tokens[i] for i in rows]), device=device)
        t0 = time.perf_counter()
        res = sampler.sample(score_for(known), x0, sigmas, mask=mask, cond=cond,
                             project=project_zero_ca_centroid, generator=g, progress=False)
        x = res.x.detach()
        if ideal_output:
            x = fit_ideal_scaffolds(x, mask, [layouts[i] for i in rows])
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        per = (time.perf_counter() - t0) / n
        x = x.float().cpu().numpy()
        batch = [ScaffoldSample(i, layouts[i], x[j], motif_rmsd(x[j], motif, layouts[i]), per)
                 for j, i in enumerate(rows)]
        out.update((s.index, s) for s in batch)
        if on_batch is not None:
            on_batch(batch)
    return [out[i] for i in sorted(out)]


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
    from proteindsm.protein.data.atom_arrays import backbone_atom_stack

    L = layout.total
    pos = layout.motif_positions()
    flag = np.zeros(L)
    flag[pos] = 1.0
    array = backbone_atom_stack(path, X, None, "A", flag)
    names = np.array(["GLY"] * L, dtype=object)
    names[pos] = list(motif.res_names)
    array.res_name = np.repeat(names.astype(str), 4)
    if np.abs(array.coord).max() >= 1000:
        raise InputError(f"{path}: coordinates of magnitude >= 1000 Å do not fit the PDB format")
    f = pdb.PDBFile()
    f.set_structure(array)
    f.lines = scaffold_remarks(motif, layout) + list(f.lines)
    return atomic_write_with(path, f.write)


def backbone_geometry(X: np.ndarray, layout: Optional[Layout] = None) -> dict:
    """The evaluation's per-backbone geometry figures for one ``(L, 4, 3)`` backbone: mean absolute
    bond deviation from ideal (Å), all bonds within 0.1 Å, Ramachandran allowed fraction, clash
    pairs (any backbone atom pair < 2.5 Å at |i − j| ≥ 3: the evaluate rule), and with a layout
    the largest deviation of the peptide bonds C(i)–N(i+1) that join a motif segment to its
    neighbours (Å; where a motif that does not fit its scaffold tears)."""
    from proteindsm.protein.analysis import metrics as M
    from proteindsm.protein.analysis.ramachandran import ramachandran_allowed_fraction

    dev = M.bond_deviations(X)
    g = M.internal_geometry(X)
    row = {"bond_mad": round(float(np.nanmean(dev)), 4),
           "bonds_all_within_0.1A": bool(M.bond_check(X, 0.1)["all_within"]),
           "rama_allowed": round(ramachandran_allowed_fraction(g["phi"], g["psi"]), 4),
           "clash_pairs": M.clash_pair_count(X, M.EVAL_CLASH_RULE["min_distance"],
                                             int(M.EVAL_CLASH_RULE["min_separation"]))}
    if layout is not None:
        L = layout.total
        joins = set()
        for seg, first, last in layout.spans():
            if isinstance(seg, MotifSegment):
                if first > 1:
                    joins.add(first - 2)            # bond C(first-1)–N(first), 0-based residue first-2
                if last < L:
                    joins.add(last - 1)
        vals = [float(dev[i, 3]) for i in sorted(joins)]
        row["junction_bond_dev"] = round(max(vals), 4) if vals else ""
    return row
