"""Motif-scaffolding runs (``proteindsm scaffold``, :func:`proteindsm.protein.scaffold`): a motif file
and a contig → checked layouts → backbones that hold the motif → PDB files, ``report.csv`` and
``manifest.json``.

Every setting is checked before the model loads and nothing is written until the problem checks
out (:func:`load_scaffold`); :func:`run_scaffold` samples (:func:`.scaffold.scaffold_backbones`)
with the motif condition, optional design targets (guidance terms per length) and the sampling
potentials, and measures each scaffold.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from proteindsm.errors import InputError

from . import contig as C
from . import scaffold_sampling as S
from .plan import SamplingPlan

REPORT_COLUMNS = ("file", "index", "length", "layout", "motif_positions", "motif_rmsd", "junction_bond_dev",
                  "bond_mad", "bonds_all_within_0.1A", "rama_allowed", "clash_pairs", "seconds")
GUIDANCE_DEFAULTS = {"scale": 1.0, "tolerance": 0.0, "sigma_data": None, "sigma_max": None, "through_model": True}
"""Reconstruction-guidance settings of ``mechanism=guidance`` (``guidance`` in configs/protein/scaffold.yaml)."""


def guidance_settings(g: Optional[Mapping[str, Any]]) -> dict:
    """Validated reconstruction-guidance settings (missing keys: :data:`GUIDANCE_DEFAULTS`)."""
    g = dict(g or {})
    out: dict[str, Any] = {}
    for key, allow_none in (("scale", False), ("tolerance", False), ("sigma_data", True), ("sigma_max", True)):
        v = g.get(key, GUIDANCE_DEFAULTS[key])
        if v is None and allow_none:
            out[key] = None
            continue
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise InputError(f"guidance.{key} must be a number{' or null' if allow_none else ''}, got {v!r}") from None
        if not math.isfinite(v) or v < 0 or (allow_none and v == 0):
            raise InputError(f"guidance.{key} must be {'> 0' if allow_none else '>= 0'}, got {v:g}")
        out[key] = v
    through = g.get("through_model", True)
    if not isinstance(through, bool):
        raise InputError(f"guidance.through_model must be true or false, got {through!r}")
    out["through_model"] = through
    return out


def checkpoint_max_length(checkpoint: Any) -> Optional[int]:
    """The checkpoint's maximum length from its metadata (no weights loaded); None if unreadable
    (loading the checkpoint then reports the problem)."""
    from proteindsm.core import read_metadata
    from proteindsm.resources import checkpoint_path

    try:
        value = read_metadata(checkpoint_path(checkpoint)).get("max_length")
    except (InputError, OSError, ValueError, KeyError):
        return None
    return int(value) if value is not None else None


@dataclass
class ScaffoldRun:
    """A checked scaffolding problem with its loaded sampling plan: the motif, one layout per
    backbone, the mechanism and its settings, the ss tokens per backbone (None: unconditioned) and
    the resolved design targets."""

    motif_path: Path
    segments: list
    bounds: Optional[tuple[int, int]]
    motif: Any
    layouts: list
    mechanism: str
    guidance: dict
    ss_spec: Optional[tuple[str, ...]]
    ss_tokens: Optional[list]
    targets: list
    plan: SamplingPlan


def load_scaffold(motif: str | Path, contig: str, *, num: Any = 16, length: Any = None, seed: Any = 0,
                  mechanism: str = "guidance", guidance: Optional[Mapping[str, Any]] = None, ss: Any = None,
                  requests: Sequence = (), predictor_dir: Optional[str | Path] = None,
                  **options: Any) -> ScaffoldRun:
    """Check the problem (contig, bounds, motif file, mechanism, ss, targets: one :class:`InputError`
    naming the segment or setting, before the model loads), draw the layouts and load the plan.
    ``options``: the sampling keys of :func:`proteindsm.protein.sample` (sampler, steps,
    checkpoint, steric, compactness, device, batch_size, ...)."""
    from .guided import check_compactness_allows
    from .motif import read_motif
    from .options import positive_int, seed_value
    from .plan import load_plan, sample_options
    from .scaffold_ss import layout_ss_tokens, motif_ss_tokens, parse_scaffold_ss
    from .targets import resolve_targets

    motif_path = Path(motif)
    segments = C.parse_contig(contig)
    bounds = C.parse_length_bounds(length)
    mechanism = str(mechanism).lower()
    if mechanism not in S.MECHANISMS:
        raise InputError(f"mechanism must be one of {', '.join(S.MECHANISMS)}, got {mechanism!r}")
    settings = guidance_settings(guidance)
    num = positive_int("num", num)
    seed = seed_value(seed)
    max_length = checkpoint_max_length(options.get("checkpoint"))
    lo, hi = C.check_fit(segments, bounds, max_length)
    if max_length is not None and bounds is None and C.contig_span(segments)[1] > hi:
        bounds = (lo, hi)                         # keep every drawn layout within the model's reach
    motif_obj = read_motif(motif_path, segments)
    ss_spec = parse_scaffold_ss(ss, segments)
    layouts = [C.draw_layout(segments, bounds, seed, i) for i in range(num)]
    # ideal_output on unless turned off (as `proteindsm scaffold`): fit_ideal_scaffolds closes torn junctions
    options = {"ideal_output": True, **options, "ss": "none", "ss_file": None, "format": "pdb"}
    plan = load_plan(sample_options(length=max(lay.total for lay in layouts), num=num, seed=seed, **options))
    if settings["sigma_data"] is None:
        settings["sigma_data"] = getattr(plan.loaded.schedule, "sigma_data", None) or 10.0
    ss_tokens = None
    if ss_spec is not None:
        if not bool(getattr(plan.loaded.model, "config", {}).get("ss_conditioning", False)):
            raise InputError(f"ss={ss} needs a checkpoint with secondary-structure conditioning; "
                             f"{plan.checkpoint.name} has none (use ss=none)")
        motif_tokens = motif_ss_tokens(motif_obj)
        ss_tokens = [layout_ss_tokens(ss_spec, lay, motif_tokens) for lay in layouts]
    targets = []
    if requests:                              # design targets steer the scaffold too (guidance terms)
        targets = resolve_targets(list(requests), sigma_range=(float(plan.sigmas[-1]), float(plan.sigmas[0])),
                                  predictor_dir=None if predictor_dir is None else Path(predictor_dir),
                                  device=plan.device)
        check_compactness_allows(targets, plan.options.compactness, sorted({lay.total for lay in layouts}))
    return ScaffoldRun(motif_path, segments, bounds, motif_obj, layouts, mechanism, settings, ss_spec, ss_tokens,
                       targets, plan)


class Scaffolds(list):
    """The scaffolds of a run (:class:`~proteindsm.protein.generate.scaffold_sampling.ScaffoldSample`:
    ``.coords`` float32 ``(L, 4, 3)`` Å, ``.layout``, ``.motif_rmsd`` Å), with ``report`` (the rows of
    ``report.csv``) and ``manifest``."""

    def __init__(self, samples, report: list[dict], manifest: dict) -> None:
        super().__init__(samples)
        self.report, self.manifest = report, manifest


def _score_for(run: ScaffoldRun):
    from proteindsm.core import with_conditioning, with_guidance

    from .options import model_score_fn, with_potentials
    from .targets import guidance_terms

    g, plan = run.guidance, run.plan

    def score_for(known):
        term = S.conditioning(run.mechanism, known, scale=g["scale"], tolerance=g["tolerance"],
                              sigma_max=g["sigma_max"], sigma_data=g["sigma_data"], through_model=g["through_model"])
        # the model (fresh, for self-conditioning's per-run state), conditioned, guided toward the
        # design targets of this length (if any), then the potentials
        score = with_conditioning(model_score_fn(plan.loaded.model, plan.options.ss_guidance), term)
        if run.targets:
            score = with_guidance(score, guidance_terms(run.targets, int(known.values.shape[1])))
        return with_potentials(score, **plan.potentials)

    return score_for


def _settings(run: ScaffoldRun) -> dict:
    """What determines the scaffolds (JSON-able): compared when a partial run is continued."""
    plan, o = run.plan, run.plan.options
    return json.loads(json.dumps({
        "motif": str(run.motif_path), "contig": "/".join(seg.text for seg in run.segments),
        "length_bounds": run.bounds, "num": len(run.layouts), "mechanism": run.mechanism,
        "guidance": run.guidance, "ss": None if run.ss_spec is None else "/".join(run.ss_spec),
        "targets": [[t.name, t.target, t.scale, t.tolerance] for t in run.targets],
        "checkpoint": str(plan.checkpoint), "sampler": {"class": type(o.sampler).__name__, **vars(o.sampler)},
        "levels": o.levels, "sigma": [float(plan.sigmas[0]), float(plan.sigmas[-1])], **plan.potentials,
        "seed": o.seed, "batch_size": o.batch_size, "ideal_output": o.ideal_output, **o.ss_guidance_entry()}))


def _row(run: ScaffoldRun, s) -> dict:
    return {"file": f"scaffold_{s.index:03d}.pdb", "index": s.index, "length": s.layout.total,
            "layout": s.layout.describe(), "motif_positions": s.layout.positions_text(),
            "motif_rmsd": round(s.motif_rmsd, 4), **S.backbone_geometry(s.coords, s.layout),
            **{t.name: round(t.measure(s.coords), 4) for t in run.targets}, "seconds": round(s.seconds, 3)}


def run_scaffold(run: ScaffoldRun, out: Optional[str | Path] = None, *, view: bool = False) -> Scaffolds:
    """Sample one scaffold per layout; with ``out``, write each batch as it finishes
    (``scaffold_<i>.pdb``: motif residue names and B-factor 1, REMARK 999 segment map; the manifest
    says ``complete: false`` until the end), then ``report.csv``, the final ``manifest.json`` and
    (``view``) ``view.html`` with the motif highlighted.  A partial run in ``out`` with the same
    settings is continued (its batches are not sampled again)."""
    from proteindsm.fileio import atomic_write_csv, atomic_write_text
    from proteindsm.protein.data.io import read_backbones
    from proteindsm.protein.data.secondary_structure import tokens_to_string

    from .resume import previous_rows, write_partial_manifest

    plan, o = run.plan, run.plan.options
    settings = _settings(run)
    out = None if out is None else Path(out)
    done, before = ({}, 0.0) if out is None else previous_rows(out, settings, "scaffold")
    t0 = time.perf_counter()

    def write_partial() -> None:
        write_partial_manifest(out, "scaffold", settings, done, before + time.perf_counter() - t0)

    def on_batch(batch) -> None:
        for s in batch:
            S.write_scaffold_pdb(out / f"scaffold_{s.index:03d}.pdb", s.coords, run.motif, s.layout)
            done[s.index] = _row(run, s)
        write_partial()

    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_partial()
    new = S.scaffold_backbones(_score_for(run), run.motif, run.layouts, o.sampler, plan.sigmas, seed=o.seed,
                               batch_size=o.batch_size, device=o.device, progress=o.progress,
                               ideal_output=o.ideal_output, ss_tokens=run.ss_tokens,
                               skip=(lambda rows: all(i in done for i in rows)) if done else None,
                               on_batch=on_batch if out is not None else None)
    by_index = {s.index: s for s in new}
    for i, r in done.items():                 # scaffolds of the continued run, read back
        if i not in by_index:
            (chain,) = read_backbones(out / r["file"], max_peptide_bond=float("inf"))[:1]
            by_index[i] = S.ScaffoldSample(i, run.layouts[i], chain.coords, float(r["motif_rmsd"]), float(r["seconds"]))
    samples = [by_index[i] for i in range(len(run.layouts))]
    rows = [done[s.index] if s.index in done else _row(run, s) for s in samples]
    rmsds = [s.motif_rmsd for s in samples]     # rounded (from the report) for scaffolds of a continued run
    manifest = {
        "command": "scaffold", "complete": True, "motif": str(run.motif_path),
        "contig": "/".join(seg.text for seg in run.segments),
        "length_bounds": list(run.bounds) if run.bounds is not None else None,
        "motif_residues": list(run.motif.labels), "mechanism": run.mechanism,
        "guidance": dict(run.guidance) if run.mechanism == "guidance" else None,
        "checkpoint": str(plan.checkpoint), "checkpoint_step": plan.loaded.metadata.get("step"),
        "sampler": {"class": type(o.sampler).__name__, **vars(o.sampler)},
        "sigma_grid": {"levels": o.levels, "sigma_max": float(plan.sigmas[0]), "sigma_min": float(plan.sigmas[-1])},
        **plan.potentials, "seed": o.seed, "device": str(o.device), "batch_size": o.batch_size,
        "ideal_output": o.ideal_output,
        "summary": {"num": len(samples), "motif_rmsd_median": statistics.median(rmsds),
                    "fraction_motif_rmsd_below_1A": sum(r < 1.0 for r in rmsds) / len(rmsds)},
        "ss": None if run.ss_spec is None else "/".join(run.ss_spec),
        "targets": [{"property": t.name, "target": t.target, "scale": t.scale, "tolerance": t.tolerance,
                     "kind": t.kind} for t in run.targets],
        "files": [{"file": r["file"], "length": s.layout.total, "layout": s.layout.describe(),
                   "motif_positions": s.layout.positions_text(), "motif_rmsd": r["motif_rmsd"],
                   **({} if run.ss_tokens is None else {"ss": tokens_to_string(run.ss_tokens[s.index])})}
                  for r, s in zip(rows, samples)],
        "report": "report.csv", "settings": settings,
        "seconds_total": round(before + time.perf_counter() - t0, 2),
    }
    if out is not None:
        atomic_write_csv(out / "report.csv", REPORT_COLUMNS + tuple(t.name for t in run.targets), rows)
        if view:
            from proteindsm.protein.analysis.view import write_view
            page = write_view(out / "view.html", [(r["file"], (out / r["file"]).read_text()) for r in rows],
                              highlight=[(s.layout.motif_positions() + 1).tolist() for s in samples])
            manifest["view"] = page.name
        atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2))
    return Scaffolds(samples, rows, manifest)


def scaffold(motif: str | Path, contig: str, *, num: Any = 16, length: Any = None, seed: Any = 0,
             mechanism: str = "guidance", guidance: Optional[Mapping[str, Any]] = None, ss: Any = None,
             properties: Optional[Sequence[Any]] = None, property: Any = None, target: Any = None,
             scale: Any = None, tolerance: Any = None, predictor: Any = None, function: Any = None,
             predictor_dir: Optional[str | Path] = None, out: Optional[str | Path] = None, view: bool = False,
             batch_size: Any = 8, **options: Any) -> Scaffolds:
    """Backbones that hold a motif: ``scaffold("site.pdb", "10-20/A16-30/5-15", num=16)``.

    Args:
        motif, contig: the motif file (PDB/mmCIF) and the contig in RFdiffusion's syntax
            (docs/scaffold.md); ``length``: optional ``"LO-HI"`` bounds on the total.
        mechanism: ``guidance`` (default; reconstruction guidance, ``guidance=``
            its settings), ``replacement`` (RePaint-style) or ``none`` (the unconditioned baseline of the same layouts).
        ss: ``None``/``"none"``, ``"motif"`` or one entry per segment (``"L/motif/H"``).
        property, target, ...: optional design targets as :func:`proteindsm.protein.design`.
        out, view: write the files (and ``view.html``) there.
        **options: the sampling keys of :func:`proteindsm.protein.sample`; ``ideal_output`` (default
            True) applies :func:`~proteindsm.protein.generate.scaffold_sampling.fit_ideal_scaffolds`
            (torn junctions closed, the motif moved by hundredths of an Å; False: the motif exact).

    Returns:
        :class:`Scaffolds`: samples with ``.coords``, ``.layout``, ``.motif_rmsd``; ``.report``, ``.manifest``.
    """
    from .guided import property_requests

    requests = property_requests(property, target, scale=scale, tolerance=tolerance, predictor=predictor,
                                 function=function, properties=properties)      # [] when none is given
    run = load_scaffold(motif, contig, num=num, length=length, seed=seed, mechanism=mechanism, guidance=guidance,
                        ss=ss, requests=requests, predictor_dir=predictor_dir, batch_size=batch_size, **options)
    return run_scaffold(run, out, view=view)
