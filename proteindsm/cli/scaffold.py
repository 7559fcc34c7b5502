"""``proteindsm scaffold``: backbones that hold a motif (RFdiffusion contig syntax), PDB + report."""

from __future__ import annotations

import json
import math
import statistics
import time
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf

from proteindsm.errors import InputError
from proteindsm.fileio import atomic_write_csv, atomic_write_text
from proteindsm.protein.generate.options import positive_int
from proteindsm.resources import checkpoint_path

from .config import prepare_out_dir, require, resolve_path

REPORT_COLUMNS = ("file", "index", "length", "layout", "motif_positions", "motif_rmsd", "junction_bond_dev",
                  "bond_mad", "bonds_all_within_0.1A", "rama_allowed", "clash_pairs", "seconds")


def _max_length(cfg: DictConfig) -> Optional[int]:
    """The checkpoint's maximum length from its metadata (no weights loaded); None if unreadable
    (loading the checkpoint then reports the problem)."""
    from proteindsm.core import read_metadata

    try:
        value = read_metadata(checkpoint_path(cfg.checkpoint)).get("max_length")
    except (InputError, OSError, ValueError, KeyError):
        return None
    return int(value) if value is not None else None


def _guidance_settings(cfg: DictConfig) -> dict:
    g = cfg.get("guidance") or {}
    out: dict[str, Any] = {}
    for key, default, allow_none in (("scale", 1.0, False), ("tolerance", 0.0, False),
                                     ("sigma_data", None, True), ("sigma_max", None, True)):
        v = g.get(key, default)
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


def run(cfg: DictConfig) -> int:
    from proteindsm.protein.generate import contig
    from proteindsm.protein.generate import scaffold as S
    from proteindsm.protein.data.secondary_structure import tokens_to_string
    from proteindsm.protein.generate.motif import read_motif
    # Everything about the input first: no model work, nothing written, until it all checks out.
    motif_path = resolve_path(str(require(cfg, "motif")))
    segments = contig.parse_contig(require(cfg, "contig"))
    bounds = contig.parse_length_bounds(cfg.get("length"))
    mechanism = str(cfg.get("mechanism", "replacement")).lower()
    if mechanism not in S.MECHANISMS:
        raise InputError(f"mechanism must be one of {', '.join(S.MECHANISMS)}, got {cfg.get('mechanism')!r}")
    guidance = _guidance_settings(cfg)
    num = positive_int("num", cfg.num)
    max_length = _max_length(cfg)
    lo, hi = contig.check_fit(segments, bounds, max_length)
    if max_length is not None and bounds is None and contig.contig_span(segments)[1] > hi:
        bounds = (lo, hi)                         # keep every drawn layout within the model's reach
    motif = read_motif(motif_path, segments)
    from .design import parse_requests
    wanted = [cfg.get(k) for k in ("property", "function", "target")] + list(cfg.get("properties") or [])
    requests = parse_requests(cfg) if any(v is not None for v in wanted) else []
    from proteindsm.protein.generate.scaffold_ss import layout_ss_tokens, motif_ss_tokens, parse_scaffold_ss
    ss_spec = parse_scaffold_ss(cfg.get("ss"), segments)
    if "view" in cfg and not isinstance(cfg.get("view"), bool):
        raise InputError(f"view must be true or false, got {cfg.get('view')!r}")
    seed = int(cfg.seed)
    layouts = [contig.draw_layout(segments, bounds, seed, i) for i in range(num)]

    from proteindsm.protein.generate.options import model_score_fn, with_potentials

    from .protein_common import prepare_sampling

    sampling = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    sampling.length = max(lay.total for lay in layouts)   # checked against the model by prepare_sampling
    sampling.ss, sampling.ss_file, sampling.format = "none", None, "pdb"
    setup = prepare_sampling(sampling, "scaffold")
    sigma_data = guidance["sigma_data"]
    if sigma_data is None:
        sigma_data = getattr(setup.loaded.schedule, "sigma_data", None) or 10.0
    ss_tokens = None
    if ss_spec is not None:
        if not bool(getattr(setup.loaded.model, "config", {}).get("ss_conditioning", False)):
            raise InputError(f"ss={cfg.get('ss')} needs a checkpoint with secondary-structure conditioning; "
                             f"{setup.checkpoint.name} has none (use ss=none)")
        motif_tokens = motif_ss_tokens(motif)
        ss_tokens = [layout_ss_tokens(ss_spec, lay, motif_tokens) for lay in layouts]
    targets = []
    if requests:                              # design targets steer the scaffold too (guidance terms)
        from proteindsm.protein.generate.guided import check_compactness_allows
        from proteindsm.protein.generate.targets import resolve_targets
        targets = resolve_targets(requests, sigma_range=(float(setup.sigmas[-1]), float(setup.sigmas[0])),
                                  predictor_dir=resolve_path(cfg.predictor_dir) if cfg.get("predictor_dir") else None,
                                  device=setup.device)
        check_compactness_allows(targets, setup.potentials["compactness"], sorted({lay.total for lay in layouts}))
    out = prepare_out_dir(cfg.out)

    def score_for(known):
        term = S.conditioning(mechanism, known, scale=guidance["scale"], tolerance=guidance["tolerance"],
                              sigma_max=guidance["sigma_max"], sigma_data=sigma_data,
                              through_model=guidance["through_model"])
        from proteindsm.core import with_conditioning, with_guidance
        from proteindsm.protein.generate.targets import guidance_terms
        # the model (fresh, for self-conditioning's per-run state), conditioned, guided toward the
        # design targets of this length (if any), then the potentials
        score = with_conditioning(model_score_fn(setup.loaded.model), term)
        if targets:
            score = with_guidance(score, guidance_terms(targets, int(known.values.shape[1])))
        return with_potentials(score, **setup.potentials)

    t0 = time.perf_counter()
    samples = S.scaffold_backbones(score_for, motif, layouts, setup.sampler, setup.sigmas, seed=seed,
                                   batch_size=setup.batch_size, device=setup.device,
                                   progress=bool(cfg.progress), ideal_output=bool(cfg.get("ideal_output", False)),
                                   ss_tokens=ss_tokens)
    rows = []
    files = []
    for s in samples:
        path = S.write_scaffold_pdb(out / f"scaffold_{s.index:03d}.pdb", s.coords, motif, s.layout)
        files.append(path)
        rows.append({"file": path.name, "index": s.index, "length": s.layout.total,
                     "layout": s.layout.describe(), "motif_positions": s.layout.positions_text(),
                     "motif_rmsd": round(s.motif_rmsd, 4), **S.backbone_geometry(s.coords, s.layout),
                     **{t.name: round(t.measure(s.coords), 4) for t in targets},
                     "seconds": round(s.seconds, 3)})
    atomic_write_csv(out / "report.csv", REPORT_COLUMNS + tuple(t.name for t in targets), rows)
    rmsds = [s.motif_rmsd for s in samples]
    manifest = {
        "command": "scaffold", "motif": str(motif_path), "contig": "/".join(seg.text for seg in segments),
        "length_bounds": list(bounds) if bounds is not None else None,
        "motif_residues": list(motif.labels), "mechanism": mechanism,
        "guidance": {**guidance, "sigma_data": sigma_data} if mechanism == "guidance" else None,
        "checkpoint": str(setup.checkpoint), "checkpoint_step": setup.loaded.metadata.get("step"),
        "sampler": {"class": type(setup.sampler).__name__, **vars(setup.sampler)},
        "sigma_grid": {"levels": setup.levels, "sigma_max": float(setup.sigmas[0]),
                       "sigma_min": float(setup.sigmas[-1])},
        **setup.potentials, "seed": seed, "device": str(setup.device), "batch_size": setup.batch_size,
        "ideal_output": bool(cfg.get("ideal_output", False)),
        "summary": {"num": len(samples), "motif_rmsd_median": statistics.median(rmsds),
                    "fraction_motif_rmsd_below_1A": sum(r < 1.0 for r in rmsds) / len(rmsds)},
        "ss": None if ss_spec is None else "/".join(ss_spec),
        "targets": [{"property": t.name, "target": t.target, "scale": t.scale, "tolerance": t.tolerance,
                     "kind": t.kind} for t in targets],
        "files": [{"file": f.name, "length": s.layout.total, "layout": s.layout.describe(),
                   "motif_positions": s.layout.positions_text(), "motif_rmsd": round(s.motif_rmsd, 4),
                   **({} if ss_tokens is None else {"ss": tokens_to_string(ss_tokens[s.index])})}
                  for f, s in zip(files, samples)],
        "report": "report.csv",
        "seconds_total": round(time.perf_counter() - t0, 2),
    }
    if cfg.get("view"):
        from proteindsm.protein.analysis.view import write_view
        page = write_view(out / "view.html", [(f.name, f.read_text()) for f in files],
                          highlight=[(s.layout.motif_positions() + 1).tolist() for s in samples])
        manifest["view"] = page.name
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2))
    print(f"wrote {len(files)} scaffolds to {out}: motif RMSD median {manifest['summary']['motif_rmsd_median']:.2f} Å, "
          f"{manifest['summary']['fraction_motif_rmsd_below_1A']:.0%} below 1 Å ({manifest['seconds_total']} s)")
    return 0
