"""``proteindsm diversify``: variants of a given backbone by partial diffusion, PDB + report.

config → input backbone, σ, kept residues (all checked first) → the sampling plan of ``proteindsm
sample`` → :func:`proteindsm.protein.generate.diversify.diversify_backbone` → ``variant_000.pdb …``,
``report.csv`` (TM-score and RMSD to the input, geometry) and ``manifest.json``."""

from __future__ import annotations

import json
import math
import statistics
import time

from omegaconf import DictConfig, OmegaConf

from proteindsm.errors import InputError
from proteindsm.fileio import atomic_write_csv, atomic_write_text

from . import config
from .config import prepare_out_dir, require, resolve_path
from .protein_common import options_from_config

REPORT_COLUMNS = ("file", "index", "tm_to_input", "ca_rmsd_to_input", "kept_rmsd", "bond_mad",
                  "bonds_all_within_0.1A", "rama_allowed", "clash_pairs", "seconds")


def _read_input(cfg: DictConfig):
    from proteindsm.protein.data.io import read_backbones

    path = resolve_path(str(require(cfg, "input")))
    if not path.is_file():
        raise InputError(f"input={cfg.input}: file not found")
    chain = cfg.get("chain")
    chains = read_backbones(path, chain=None if chain in (None, "", "null") else str(chain), min_length=3)
    return path, chains[0]


def _sigma(value) -> float:
    try:
        sigma = float(value)
    except (TypeError, ValueError):
        raise InputError(f"sigma must be a number of Å, got {value!r}") from None
    if not (math.isfinite(sigma) and sigma > 0):
        raise InputError(f"sigma must be a positive number of Å, got {value!r}")
    return sigma


def _ss(cfg: DictConfig, X) -> str | None:
    """``ss``: none | input (the input's own DSSP string) | a string of the input's length."""
    value = cfg.get("ss", "none")
    if value is None or str(value).strip().lower() in ("none", "null", "off"):
        return None
    if str(value).strip().lower() == "input":
        from proteindsm.protein.structure.properties import secondary_structure
        return secondary_structure(X)
    if str(value).strip().lower() == "auto":
        raise InputError("ss=auto draws a layout per backbone; for diversify use ss=input (the input's own "
                         "string), ss=none or a string of the input's length")
    return str(value).strip()


def run(cfg: DictConfig) -> int:
    from proteindsm.protein.generate import diversify as D
    from proteindsm.protein.generate.scaffold import MECHANISMS, backbone_geometry

    # Everything about the input first: no model work, nothing written, until it all checks out.
    path, chain = _read_input(cfg)
    X = chain.coords
    L = X.shape[0]
    sigma = _sigma(cfg.get("sigma"))
    keep = D.keep_mask(cfg.get("keep"), L)
    mechanism = str(cfg.get("mechanism", "replacement")).lower()
    if mechanism not in MECHANISMS or mechanism == "none":
        raise InputError(f"mechanism must be replacement or guidance, got {cfg.get('mechanism')!r}")
    ss = _ss(cfg, X)
    sampling = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    sampling.length, sampling.ss, sampling.ss_file, sampling.format = L, ss or "none", None, "pdb"
    options = options_from_config(sampling, "diversify")
    out = prepare_out_dir(cfg.out)

    from proteindsm.core import with_conditioning
    from proteindsm.protein.generate import load_plan, model_score_fn, with_potentials
    from proteindsm.protein.generate.scaffold import conditioning

    plan = load_plan(options)
    D.partial_sigmas(plan.sigmas, sigma)          # σ within the model's range, before any sampling
    o = plan.options
    sigma_data = getattr(plan.loaded.schedule, "sigma_data", None) or 10.0

    def score_for(known):
        if known is None:
            return plan.score_fn
        term = conditioning(mechanism, known, sigma_data=sigma_data)
        return with_potentials(with_conditioning(model_score_fn(plan.loaded.model), term), o.steric, o.compactness)

    extra = {}
    if plan.ss_layout is not None:
        extra["ss"] = plan.ss_layout(L, 0)
    t0 = time.perf_counter()
    variants = D.diversify_backbone(score_for, X, o.num, o.sampler, plan.sigmas, start_sigma=sigma, seed=o.seed,
                                    batch_size=o.batch_size, device=o.device, keep=keep, cond_extra=extra)
    from proteindsm.protein.data.io import write_pdb
    from proteindsm.resources import version

    rows, files = [], []
    for v in variants:
        remarks = [f"GENERATOR proteindsm {version()} diversify", f"INPUT {path.name} chain {chain.id}",
                   f"CHECKPOINT {o.checkpoint.name}", f"SAMPLER {o.sampler_name} from sigma {sigma:g} A",
                   f"SEED {o.seed} VARIANT {v.index}",
                   f"TM_TO_INPUT {v.tm_to_input:.4f} CA_RMSD_TO_INPUT {v.ca_rmsd_to_input:.3f} A"]
        if ss:
            remarks.append(f"SS {ss}")
        f = write_pdb(out / f"variant_{v.index:03d}.pdb", v.coords, remarks=remarks)
        files.append(f)
        row = {"file": f.name, "index": v.index, "tm_to_input": round(v.tm_to_input, 4),
               "ca_rmsd_to_input": round(v.ca_rmsd_to_input, 3),
               "kept_rmsd": "" if v.kept_rmsd is None else round(v.kept_rmsd, 3), **backbone_geometry(v.coords),
               "seconds": round(v.seconds, 3)}
        rows.append(row)
    atomic_write_csv(out / "report.csv", REPORT_COLUMNS, rows)
    tms = [v.tm_to_input for v in variants]
    manifest = {
        "command": config.LAST_COMMAND or "diversify", "version": version(), "input": str(path),
        "chain": chain.id, "length": L, "sigma": sigma, "keep": cfg.get("keep"),
        "mechanism": mechanism if keep is not None else None, "ss": ss,
        "checkpoint": str(o.checkpoint), "sampler": o.sampler_name,
        "evaluations": o.sampler.num_evaluations(len(D.partial_sigmas(plan.sigmas, sigma))),
        "seed": o.seed, "num": o.num, "steric": o.steric, "compactness": o.compactness,
        "summary": {"tm_to_input_median": statistics.median(tms), "tm_to_input_min": min(tms), "tm_to_input_max": max(tms),
                    "ca_rmsd_to_input_median": statistics.median([v.ca_rmsd_to_input for v in variants])},
        "files": [r["file"] for r in rows], "report": "report.csv", "complete": True,
        "seconds_total": round(time.perf_counter() - t0, 2),
    }
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2))
    print(f"wrote {len(files)} variants to {out}: TM-score to the input median "
          f"{manifest['summary']['tm_to_input_median']:.2f} ({manifest['seconds_total']} s)")
    return 0
