"""β-sheet blueprints: a layout of strands and their pairing as distance restraints, for β-rich design.

The shipped score model makes almost no β-sheet on its own and, at σ ≈ 0.3–1 Å, pulls even real
sheets apart (docs/protein.md, "Where β-strands are lost"), so property guidance alone cannot reach a
strand fraction of 0.4 without straining φ/ψ (docs/design.md).  A blueprint tells the sampler *which*
residues pair, the way fold-conditioning does in RFdiffusion (secondary structure + block adjacency):

* :func:`meander_blueprint` lays out ``k`` antiparallel strands of ``m`` residues (m even) joined by
  2-residue β-turns (2:2 hairpins), centred in the chain (:func:`varied_meanders`: one layout per
  backbone, placed anywhere), so that about ``fraction · L`` residues are strand;
* each hairpin's residue pairs alternate between hydrogen-bonded pairs (the last residue of one strand
  and the first of the next, then every second pair) — CA···CA 4.9–5.8 Å and both N···O 2.7–3.2 Å —
  and non-bonded pairs, CA···CA 4.2–4.9 Å; within a strand CA(i)···CA(i+2) 6.1–7.0 Å (extended).
  Checked on the 304 real 2:2 hairpins of the corpus's validation chains (test): 93 % of the
  bonded CA···CA, 82 % of the N···O, 73 % of the non-bonded CA···CA and 73 % of the CA(i)···CA(i+2)
  distances lie inside these ranges (medians 5.31, 2.97, 4.51, 6.62 Å);
* :func:`blueprint_energy` is the flat-bottom energy Σ relu(lower − d)² + relu(d − upper)² (Å²), zero
  on any backbone that satisfies the layout; the design CLI applies it to the denoised estimate with
  :class:`proteindsm.core.ProjectionGuidance` (``proteindsm design ... sheet.fraction=0.4``).

Everything else — turns, loops, any helices, the local geometry — comes from the score model
(and the strand-fraction guidance term that builds the hydrogen bonds).  Tensor conventions: ``x`` ``(B, L, 4, 3)`` in Å (N, CA, C, O); energies ``(B,)`` in Å².

:func:`sheet_blueprints` turns ``design``'s ``sheet.*`` settings (:data:`SHEET_DEFAULTS`) into the
layouts per length (none under ``sheet.fraction=auto`` when an ``ss=`` string or file gives the
layout: the designer's layout goes alone).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from proteindsm.core import ProjectionGuidance
from proteindsm.errors import InputError

from proteindsm.protein.structure.backbone import CA, N, O

if TYPE_CHECKING:
    from .targets import ResolvedTarget

__all__ = ["SheetBlueprint", "BlueprintTable", "meander_blueprint", "varied_meanders", "blueprint_energy",
           "blueprint_distances", "blueprint_guidance", "check_strand_length", "HAIRPIN_LOOP", "BLUEPRINT_STEP", "BLUEPRINT_ITERATIONS"]

HAIRPIN_LOOP = 2
"""Residues in each β-turn between two strands (2:2 hairpin)."""

BLUEPRINT_STEP = 0.05
"""Gradient-descent step for projecting onto a blueprint (Å² per Å of force): a CA takes part in at
most 4 restraints of curvature 4 (relative coordinate), so 0.05 is below the divergence bound."""

BLUEPRINT_ITERATIONS = 50
"""Descent iterations per projection (each costs one cheap energy gradient, no network call): a
sheet moved 0.3 Å per coordinate lands within 0.05 Å of every range (test; 0.5 Å: within 0.07 Å,
100 iterations: 0.007 Å); a random coil needs ~200, so at the first levels x̂₀ approaches the
blueprint over several steps — each step repeats the projection."""

HBONDED_CA = (4.9, 5.8)
NONBONDED_CA = (4.2, 4.9)
HBOND_N_O = (2.7, 3.2)
STRAND_CA_I_I2 = (6.1, 7.0)


@dataclass(frozen=True)
class SheetBlueprint:
    """A strand layout of a chain of ``length`` residues and its distance restraints.

    ``strands``: ``(start, stop)`` residue ranges (0-based, stop exclusive), in chain order, each
    paired antiparallel with the next.  Restraint ``k`` bounds the distance between atom
    ``atom_i[k]`` of residue ``res_i[k]`` and atom ``atom_j[k]`` of residue ``res_j[k]`` (atom indices
    0 N, 1 CA, 2 C, 3 O) to ``[lower[k], upper[k]]`` Å.
    """

    length: int
    strands: tuple[tuple[int, int], ...]
    res_i: np.ndarray
    atom_i: np.ndarray
    res_j: np.ndarray
    atom_j: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @property
    def strand_residues(self) -> int:
        return sum(b - a for a, b in self.strands)

    def describe(self) -> dict:
        """JSON-ready summary for manifests."""
        return {"length": self.length, "strands": [list(s) for s in self.strands],
                "strand_residues": self.strand_residues, "restraints": int(len(self.lower)),
                "topology": "antiparallel meander, 2-residue β-turns"}


def _strand_count_and_length(length: int, fraction: float, strand_length: int) -> tuple[int, int]:
    """(k strands, m residues each, m even) for about ``fraction · length`` strand residues;
    InputError if they cannot fit with 2-residue turns or would be shorter than 4 residues.

    m is even because every turn is a 2:2 hairpin, whose closing pair is hydrogen-bonded: a strand's
    residues then alternate between bonding to the previous and to the next strand only when its
    length is even (with an odd length the same residues would be asked to bond to both sides —
    measured: 6 × 7 layouts gave bond MAD 0.030–0.034 Å and Ramachandran 0.82–0.86)."""
    wanted = fraction * length
    k = max(2, round(wanted / strand_length))
    m = 2 * round(wanted / (2 * k))
    span = k * m + (k - 1) * HAIRPIN_LOOP
    if m < 4 or span > length:
        raise InputError(f"sheet.fraction={fraction} with sheet.strand_length={strand_length} does not fit "
                         f"{length} residues: {k} strands of {m} need {span} residues with 2-residue turns "
                         f"and at least 4 residues per strand (lower the fraction or raise the length)")
    return k, m


def check_strand_length(strand_length: Any) -> None:
    """One clear error unless ``strand_length`` (``sheet.strand_length``) is an int >= 3."""
    if not (isinstance(strand_length, (int, np.integer)) and not isinstance(strand_length, bool)
            and strand_length >= 3):
        raise InputError(f"sheet.strand_length must be an int >= 3 (residues), got {strand_length!r}")


def _check_layout_args(length: Any, fraction: Any, strand_length: Any) -> None:
    if not (isinstance(length, (int, np.integer)) and length >= 1):
        raise InputError(f"sheet blueprint: length must be a positive int, got {length!r}")
    if not (isinstance(fraction, (int, float)) and math.isfinite(fraction) and 0 < fraction < 1):
        raise InputError(f"sheet.fraction must be in (0, 1) (strand residues / length), got {fraction!r}")
    check_strand_length(strand_length)


def meander_blueprint(length: int, fraction: float, strand_length: int = 8,
                      start: Optional[int] = None) -> SheetBlueprint:
    """An antiparallel meander with about ``fraction · length`` strand residues.

    ``k = max(2, round(fraction·L / strand_length))`` strands of ``m = 2·round(fraction·L / 2k)``
    residues each (even: see :func:`_strand_count_and_length`), 2-residue turns between them; the sheet's first residue is ``start`` (0-based;
    None: the sheet is centred in the chain).  Raises :class:`InputError` naming ``sheet.fraction`` /
    ``sheet.strand_length`` when the layout cannot fit (or has fewer than 3 residues per strand).
    """
    _check_layout_args(length, fraction, strand_length)
    k, m = _strand_count_and_length(length, fraction, strand_length)
    return _meander(int(length), k, m, start)


def varied_meanders(length: int, fraction: float, num: int, seed: int, strand_length: int = 8
                    ) -> list[SheetBlueprint]:
    """``num`` meanders of about ``fraction · length`` strand residues, one per backbone: each draws
    its strand count from those that ``strand_length … strand_length + 2`` give (strand lengths
    even, ≥ 4; those that fit — not shorter ones: 6 × 6 layouts at L = 100 strained bonds and φ/ψ
    more than 5 × 8 or 4 × 10, docs/design.md) and its
    first residue uniformly from every position where the sheet fits, with a generator seeded by
    ``(seed, length, index)`` — so backbone ``i`` gets the same layout whatever ``num`` is."""
    _check_layout_args(length, fraction, strand_length)
    _strand_count_and_length(length, fraction, strand_length)      # the nominal layout must fit: one clear error
    options = set()
    for s in range(strand_length, strand_length + 3):
        try:
            options.add(_strand_count_and_length(length, fraction, s))
        except InputError:
            continue
    options = sorted(options)
    out = []
    for i in range(num):
        rng = np.random.default_rng([int(seed), int(length), i])
        k, m = options[int(rng.integers(len(options)))]
        span = k * m + (k - 1) * HAIRPIN_LOOP
        out.append(_meander(int(length), k, m, int(rng.integers(length - span + 1))))
    return out


def _meander(length: int, k: int, m: int, start: Optional[int]) -> SheetBlueprint:
    """k antiparallel strands of m residues from ``start`` (None: centred), 2-residue turns."""
    span = k * m + (k - 1) * HAIRPIN_LOOP
    if start is None:
        start = (length - span) // 2
    elif not (isinstance(start, (int, np.integer)) and 0 <= start <= length - span):
        raise InputError(f"sheet blueprint: start must be an int in [0, {length - span}] for {k} strands of {m} "
                         f"in {length} residues, got {start!r}")
    strands = tuple((start + s * (m + HAIRPIN_LOOP), start + s * (m + HAIRPIN_LOOP) + m) for s in range(k))
    rows: list[tuple[int, int, int, int, float, float]] = []
    for (a0, a1), (b0, _) in zip(strands[:-1], strands[1:]):
        for t in range(m):
            i, j = a1 - 1 - t, b0 + t           # antiparallel partners, the turn's neighbours first
            if t % 2 == 0:                       # hydrogen-bonded pair: N–H(i)···O(j) and N–H(j)···O(i)
                rows.append((i, CA, j, CA, *HBONDED_CA))
                rows.append((i, N, j, O, *HBOND_N_O))
                rows.append((j, N, i, O, *HBOND_N_O))
            else:
                rows.append((i, CA, j, CA, *NONBONDED_CA))
    for a0, a1 in strands:
        for i in range(a0, a1 - 2):
            rows.append((i, CA, i + 2, CA, *STRAND_CA_I_I2))
    cols = list(zip(*rows))
    return SheetBlueprint(length=length, strands=strands,
                          res_i=np.array(cols[0], dtype=np.int64), atom_i=np.array(cols[1], dtype=np.int64),
                          res_j=np.array(cols[2], dtype=np.int64), atom_j=np.array(cols[3], dtype=np.int64),
                          lower=np.array(cols[4], dtype=np.float64), upper=np.array(cols[5], dtype=np.float64))


class BlueprintTable:
    """The restraints of one blueprint, or of one blueprint per backbone, as padded tensors.

    With several blueprints, row ``n`` holds the restraints of backbone ``n`` (the ``index`` of
    :func:`proteindsm.protein.generate.sampling.sample_backbones`, passed as ``cond["sample_index"]``); padding
    restraints have the range [0, ∞) and add nothing.  Built once per sampling run.
    """

    def __init__(self, blueprints: SheetBlueprint | Sequence[SheetBlueprint]):
        bps = [blueprints] if isinstance(blueprints, SheetBlueprint) else list(blueprints)
        if not bps:
            raise InputError("a blueprint table needs at least one blueprint")
        lengths = {bp.length for bp in bps}
        if len(lengths) != 1:
            raise InputError(f"blueprints of one table must share a chain length, got {sorted(lengths)}")
        self.length = lengths.pop()
        self.blueprints = bps
        K = max(len(bp.lower) for bp in bps)

        def pad(name: str, fill: float, dtype) -> Tensor:
            rows = [np.concatenate([getattr(bp, name), np.full(K - len(bp.lower), fill)]) for bp in bps]
            return torch.as_tensor(np.stack(rows), dtype=dtype)

        self.res_i, self.atom_i = pad("res_i", 0, torch.long), pad("atom_i", CA, torch.long)
        self.res_j, self.atom_j = pad("res_j", 0, torch.long), pad("atom_j", CA, torch.long)
        self.lower, self.upper = pad("lower", 0.0, torch.float64), pad("upper", math.inf, torch.float64)
        self._copies: dict[tuple[torch.device, torch.dtype], tuple[Tensor, ...]] = {}

    def _on(self, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, ...]:
        """The tables on ``device`` (ranges in ``dtype``), copied once — the projection calls the
        energy ~50 times per sampler step."""
        key = (device, dtype)
        if key not in self._copies:
            self._copies[key] = (self.res_i.to(device), self.atom_i.to(device), self.res_j.to(device),
                                 self.atom_j.to(device), self.lower.to(device, dtype), self.upper.to(device, dtype))
        return self._copies[key]

    def _rows(self, batch: int, cond: Optional[Mapping[str, Any]], device: torch.device) -> Tensor:
        if len(self.blueprints) == 1:
            return torch.zeros(batch, dtype=torch.long, device=device)
        index = cond.get("sample_index") if isinstance(cond, Mapping) else None
        if index is None:
            raise InputError("per-backbone blueprints need cond['sample_index'] (which backbone each batch row is)")
        index = torch.as_tensor(index, device=device).long()
        if index.shape != (batch,) or int(index.min()) < 0 or int(index.max()) >= len(self.blueprints):
            raise InputError(f"cond['sample_index'] must be {batch} indices in [0, {len(self.blueprints)}), "
                             f"got {index.tolist()}")
        return index

    def _distances(self, x: Tensor, cond: Optional[Mapping[str, Any]]) -> tuple[Tensor, Tensor]:
        """(distances ``(B, K)`` Å, the table rows ``(B,)`` they were taken from)."""
        if x.ndim != 4 or x.shape[-2:] != (4, 3):
            raise InputError(f"blueprint_energy: x must be (B, L, 4, 3) Å, got shape {tuple(x.shape)}")
        if x.shape[1] != self.length:
            raise InputError(f"blueprint_energy: the blueprint is for {self.length} residues, x has {x.shape[1]}")
        rows = self._rows(x.shape[0], cond, x.device)
        res_i, atom_i, res_j, atom_j, _, _ = self._on(x.device, x.dtype)
        b = torch.arange(x.shape[0], device=x.device)[:, None]
        a = x[b, res_i[rows], atom_i[rows]]                         # (B, K, 3)
        c = x[b, res_j[rows], atom_j[rows]]
        return ((a - c).pow(2).sum(-1) + 1e-12).sqrt(), rows

    def distances(self, x: Tensor, cond: Optional[Mapping[str, Any]] = None) -> Tensor:
        """The restrained distances of ``x`` ``(B, L, 4, 3)`` Å: ``(B, K)`` Å (padding: 0)."""
        return self._distances(x, cond)[0]

    def energy(self, x: Tensor, cond: Optional[Mapping[str, Any]] = None) -> Tensor:
        """Σ_k relu(lower_k − d_k)² + relu(d_k − upper_k)² per backbone (Å², ``(B,)``)."""
        d, rows = self._distances(x, cond)
        _, _, _, _, lower, upper = self._on(x.device, x.dtype)
        lo, hi = lower[rows], upper[rows]
        return (torch.relu(lo - d).pow(2) + torch.relu(d - hi).pow(2)).sum(-1)


def blueprint_distances(x: Tensor, blueprint: SheetBlueprint) -> Tensor:
    """The restrained distances of ``x`` ``(B, L, 4, 3)`` Å: ``(B, K)`` Å, in the blueprint's order."""
    return BlueprintTable(blueprint).distances(x)


def blueprint_energy(x: Tensor, cond: Optional[Mapping[str, Any]] = None, *,
                     blueprint: SheetBlueprint) -> Tensor:
    """Σ_k relu(lower_k − d_k)² + relu(d_k − upper_k)² over the blueprint's restraints (Å², ``(B,)``).

    Zero exactly when every restrained distance is inside its range; invariant to rotations and
    translations (distances only).  ``cond`` is accepted for the guidance-term signature; masked
    (padding) residues are never restrained because a blueprint only names residues < its length.
    """
    return BlueprintTable(blueprint).energy(x, cond)


def blueprint_guidance(blueprints: SheetBlueprint | Sequence[SheetBlueprint], scale: float = 1.0,
                       sigma_max: Optional[float] = 10.0, sigma_min: float = 0.0) -> ProjectionGuidance:
    """The guidance term that holds the denoised estimate on its blueprint at ``sigma_min`` ≤ σ ≤
    ``sigma_max`` Å: :class:`proteindsm.core.ProjectionGuidance` of the blueprint energy
    (``scale`` w in [0, 1]).  One blueprint for every backbone, or one per backbone index
    (:func:`varied_meanders`; the sampler passes ``cond["sample_index"]``)."""
    table = BlueprintTable(blueprints)
    return ProjectionGuidance(table.energy, scale=scale, sigma_max=sigma_max, sigma_min=sigma_min,
                              iterations=BLUEPRINT_ITERATIONS, step=BLUEPRINT_STEP)


# ------------------------------------------------------------------ design settings (`sheet.*`)
SHEET_DEFAULTS: dict[str, Any] = {"fraction": "auto", "strand_length": 8, "vary": True, "scale": 1.0,
                                  "sigma_max": 10.0}
"""The β-sheet blueprint settings of ``design`` (``sheet`` in ``configs/protein/design.yaml``; a test
keeps them equal)."""


SHEET_AUTO_NOTE = ("sheet.fraction=auto: no β-sheet blueprint for L = {L} (strand_fraction target {t:g}: "
                   "{why}); guidance alone")


SHEET_LAYOUT_NOTE = ("sheet.fraction=auto: no β-sheet blueprint — the ss= layout says where the strands go "
                     "(sheet.fraction=F adds one anyway)")


def sheet_blueprints(sheet: Optional[Mapping[str, Any]], targets: Sequence[ResolvedTarget], lengths: Sequence[int],
                     num: int, seed: int, note: Callable[[str], None] = print, layout_given: bool = False
                     ) -> tuple[dict, Optional[dict]]:
    """The β-sheet blueprints per length (docs/design.md "β-rich designs") — a list of ``num`` (one
    per backbone, ``vary``) or one for all — and the validated settings (None when off).

    ``sheet``: ``{fraction, strand_length, vary, scale, sigma_max}`` (missing keys:
    :data:`SHEET_DEFAULTS`; None: off).  ``fraction``: ``auto`` lays out the target of a property
    whose ``ss_state`` is ``strand`` when one is requested — lengths too short for it get none, with
    a ``note`` — unless ``layout_given`` (an ``ss=`` string or file: the designer's own layout, which
    a meander placed elsewhere would contradict; a ``note`` says so); a number in (0, 1) lays out that
    fraction at every length (one clear error if it does not fit), None / 0 is off."""
    st = {**SHEET_DEFAULTS, **(dict(sheet) if sheet is not None else {"fraction": None})}
    frac = st.get("fraction")
    auto = isinstance(frac, str) and frac.strip().lower() == "auto"
    if auto:
        strand = [t for t in targets if t.spec.ss_state == "strand"]
        frac = strand[-1].target if strand else None
        if frac is not None and layout_given:
            note(SHEET_LAYOUT_NOTE)
            frac = None
    elif isinstance(frac, str):
        try:
            frac = float(frac)
        except ValueError:
            raise InputError(f"sheet.fraction must be auto, null or a number in (0, 1), got {frac!r}") from None
    if frac is None or frac == 0:
        return {L: None for L in lengths}, None
    settings: dict[str, Any] = {}
    for key, ok, want in (("scale", lambda v: 0 < v <= 1, "in (0, 1] (1: land on the blueprint each step)"),
                          ("sigma_max", lambda v: v > 0, "> 0 Å")):
        try:
            v = float(st.get(key))
        except (TypeError, ValueError):
            raise InputError(f"sheet.{key} must be a number {want}, got {st.get(key)!r}") from None
        if not (math.isfinite(v) and ok(v)):
            raise InputError(f"sheet.{key} must be {want}, got {v:g}")
        settings[key] = v
    strand_length = st.get("strand_length")
    if isinstance(strand_length, float) and strand_length.is_integer():
        strand_length = int(strand_length)
    check_strand_length(strand_length)          # before the layouts: under auto a layout error is only a note
    vary = st.get("vary", True)
    if not isinstance(vary, bool):
        raise InputError(f"sheet.vary must be true or false, got {vary!r}")
    out = {}
    for L in lengths:
        try:
            out[L] = (varied_meanders(L, float(frac), num, seed, strand_length) if vary
                      else meander_blueprint(L, float(frac), strand_length))
        except InputError as exc:
            if not auto:
                raise InputError(f"{exc} (L = {L})") from None
            out[L] = None
            note(SHEET_AUTO_NOTE.format(L=L, t=float(frac), why=str(exc).split(": ", 1)[-1]))
    settings.update(fraction=float(frac), fraction_from="strand_fraction target" if auto else "sheet.fraction",
                    strand_length=strand_length, vary=vary,
                    blueprints={str(L): (None if b is None else [x.describe() for x in b] if vary else b.describe())
                                for L, b in out.items()})
    return out, settings
