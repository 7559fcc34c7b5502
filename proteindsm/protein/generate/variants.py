"""Diversify runs (``proteindsm diversify``, :func:`proteindsm.protein.diversify`): one input
backbone → ``num`` variants by partial diffusion from σ (:mod:`.partial_diffusion`) → PDB files with
their TM-score and RMSD to the input, ``report.csv`` and ``manifest.json``.

:func:`load_diversify` checks everything (input file and chain, σ, kept residues, mechanism, ``ss``,
σ within the model's range) before any sampling; :func:`run_diversify` samples and writes.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from proteindsm.core.validation import positive_number
from proteindsm.errors import InputError
from proteindsm.protein.data.strand_pairing import as_layout

from . import partial_diffusion as D
from .plan import SamplingPlan

REPORT_COLUMNS = ("file", "index", "tm_to_input", "ca_rmsd_to_input", "kept_rmsd", "bond_mad",
                  "bonds_all_within_0.1A", "rama_allowed", "clash_pairs", "seconds")


def ss_for_input(value: Any, X: np.ndarray) -> Optional[str]:
    """``ss``: none | input (the input's own DSSP string) | a string of the input's length."""
    if value is None or str(value).strip().lower() in ("none", "null", "off"):
        return None
    if str(value).strip().lower() == "input":
        from proteindsm.protein.structure.properties import secondary_structure
        return secondary_structure(X)
    if str(value).strip().lower() == "auto":
        raise InputError("ss=auto draws a layout per backbone; for diversify use ss=input (the input's own "
                         "string), ss=none or a string of the input's length")
    return str(value).strip()


@dataclass
class DiversifyRun:
    """A checked diversify request: the input chain, σ, kept residues and mechanism, ``ss`` and the
    sampling plan."""

    path: Path
    chain: Any                                # proteindsm.protein.data.io.Chain
    sigma: float
    keep_spec: Any
    keep: Optional[np.ndarray]
    mechanism: str
    ss: Optional[str]
    plan: SamplingPlan


def load_diversify(input: str | Path, sigma: Any, *, num: Any = 8, seed: Any = 0, chain: Any = None,
                   keep: Any = None, mechanism: str = "replacement", ss: Any = None,
                   **options: Any) -> DiversifyRun:
    """Read and check the input (``chain``: a chain id, None: the first), σ, ``keep`` (1-based
    residue ranges like ``"5-20,40"``), the mechanism and ``ss``, then load the plan and check σ
    against the model's range — one :class:`InputError` before any sampling.  ``options``: the
    sampling keys of :func:`proteindsm.protein.sample`."""
    from proteindsm.protein.data.io import read_backbones

    from .plan import load_plan, sample_options
    from .scaffold_sampling import MECHANISMS

    path = Path(input)
    if not path.is_file():
        raise InputError(f"input={input}: file not found")
    chains = read_backbones(path, chain=None if chain in (None, "", "null") else str(chain), min_length=3)
    X = chains[0].coords
    sigma = positive_number("sigma", sigma, unit="Å")
    keep_mask = D.keep_mask(keep, X.shape[0])
    mechanism = str(mechanism).lower()
    if mechanism not in MECHANISMS or mechanism == "none":
        raise InputError(f"mechanism must be replacement or guidance, got {mechanism!r}")
    ss_string = ss_for_input(ss, X)
    o = sample_options(length=X.shape[0], num=num, seed=seed, ss=ss_string or "none", ss_file=None,
                       format="pdb", **options)
    plan = load_plan(o)
    D.partial_sigmas(plan.sigmas, sigma)          # σ within the model's range, before any sampling
    return DiversifyRun(path, chains[0], sigma, keep, keep_mask, mechanism, ss_string, plan)


class Variants(list):
    """The variants of a run (:class:`~proteindsm.protein.generate.partial_diffusion.Variant`:
    ``.coords`` float32 ``(L, 4, 3)`` Å, ``.tm_to_input``, ``.ca_rmsd_to_input``), with ``report`` and
    ``manifest``."""

    def __init__(self, variants, report: list[dict], manifest: dict) -> None:
        super().__init__(variants)
        self.report, self.manifest = report, manifest


def _settings(run: DiversifyRun) -> dict:
    """What determines the variants (JSON-able): compared when a partial run is continued."""
    plan, o = run.plan, run.plan.options
    return json.loads(json.dumps({
        "input": str(run.path), "chain": run.chain.id, "sigma": run.sigma, "keep": run.keep_spec,
        "mechanism": run.mechanism if run.keep is not None else None, "ss": run.ss,
        "checkpoint": str(o.checkpoint), "sampler": {"class": type(o.sampler).__name__, **vars(o.sampler)},
        "levels": o.levels, "sigma_grid": [float(plan.sigmas[0]), float(plan.sigmas[-1])], **plan.potentials,
        "seed": o.seed, "num": o.num, "batch_size": o.batch_size, **o.ss_guidance_entry()}))


def _row(v) -> dict:
    from .scaffold_sampling import backbone_geometry

    return {"file": f"variant_{v.index:03d}.pdb", "index": v.index, "tm_to_input": round(v.tm_to_input, 4),
            "ca_rmsd_to_input": round(v.ca_rmsd_to_input, 3),
            "kept_rmsd": "" if v.kept_rmsd is None else round(v.kept_rmsd, 3), **backbone_geometry(v.coords),
            "seconds": round(v.seconds, 3)}


def _read_back(out: Path, r: dict):
    """The variant of report row ``r`` written by an earlier (interrupted) run, with its rounded measures."""
    from proteindsm.protein.data.io import read_backbones

    (chain,) = read_backbones(out / r["file"], max_peptide_bond=float("inf"))[:1]
    kept = None if r["kept_rmsd"] in ("", None) else float(r["kept_rmsd"])
    return D.Variant(int(r["index"]), chain.coords, float(r["tm_to_input"]), float(r["ca_rmsd_to_input"]), kept,
                     float(r["seconds"]))


def run_diversify(run: DiversifyRun, out: Optional[str | Path] = None, *, command: Optional[str] = None) -> Variants:
    """Sample the variants; with ``out`` write each batch as it finishes (``variant_<i>.pdb``, REMARKs:
    input, checkpoint, sampler, σ, seed, TM-score and RMSD to the input; the manifest says
    ``complete: false`` until the end), then ``report.csv`` and the final ``manifest.json``.  A
    partial run in ``out`` with the same settings is continued (its variants are read back, not
    sampled again); one with other settings is refused."""
    from proteindsm.core import with_conditioning
    from proteindsm.fileio import atomic_write_csv, atomic_write_text
    from proteindsm.protein.data.io import write_pdb
    from proteindsm.resources import version

    from .options import model_score_fn, with_potentials
    from .resume import previous_rows, write_partial_manifest
    from .scaffold_sampling import conditioning

    plan, o = run.plan, run.plan.options
    L = run.chain.coords.shape[0]
    sigma_data = getattr(plan.loaded.schedule, "sigma_data", None) or 10.0
    settings = _settings(run)
    out = None if out is None else Path(out)
    done, before = ({}, 0.0) if out is None else previous_rows(out, settings, "diversify")

    def score_for(known):
        if known is None:
            return plan.score_fn
        term = conditioning(run.mechanism, known, sigma_data=sigma_data)
        score = with_conditioning(model_score_fn(plan.loaded.model, o.ss_guidance), term)
        return with_potentials(score, o.steric, o.compactness)

    def on_batch(batch) -> None:
        for v in batch:
            remarks = [f"GENERATOR proteindsm {version()} diversify", f"INPUT {run.path.name} chain {run.chain.id}",
                       f"CHECKPOINT {o.checkpoint.name}", f"SAMPLER {o.sampler_name} from sigma {run.sigma:g} A",
                       f"SEED {o.seed} VARIANT {v.index}",
                       f"TM_TO_INPUT {v.tm_to_input:.4f} CA_RMSD_TO_INPUT {v.ca_rmsd_to_input:.3f} A"]
            if run.ss:
                remarks.append(f"SS {run.ss}")
            write_pdb(out / f"variant_{v.index:03d}.pdb", v.coords, remarks=remarks)
            done[v.index] = _row(v)
        write_partial_manifest(out, "diversify", settings, done, before + time.perf_counter() - t0)

    extra = {} if plan.ss_layout is None else {"ss": as_layout(plan.ss_layout(L, 0)).tokens}
    t0 = time.perf_counter()
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_partial_manifest(out, "diversify", settings, done, before)
    new = D.diversify_backbone(score_for, run.chain.coords, o.num, o.sampler, plan.sigmas, start_sigma=run.sigma,
                               seed=o.seed, batch_size=o.batch_size, device=o.device, keep=run.keep,
                               cond_extra=extra, skip=(lambda rows: all(i in done for i in rows)) if done else None,
                               on_batch=on_batch if out is not None else None)
    by_index = {v.index: v for v in new}
    for i, r in done.items():                 # variants of the continued run, read back
        if i not in by_index:
            by_index[i] = _read_back(out, r)
    variants = [by_index[i] for i in range(o.num)]
    rows = [done[v.index] if v.index in done else _row(v) for v in variants]
    tms = [v.tm_to_input for v in variants]     # rounded (from the report) for variants of a continued run
    manifest = {
        "command": command or "diversify", "version": version(), "input": str(run.path),
        "chain": run.chain.id, "length": L, "sigma": run.sigma, "keep": run.keep_spec,
        "mechanism": run.mechanism if run.keep is not None else None, "ss": run.ss,
        "checkpoint": str(o.checkpoint), "sampler": o.sampler_name,
        "evaluations": o.sampler.num_evaluations(D.partial_sigmas(plan.sigmas, run.sigma)),
        "seed": o.seed, "num": o.num, "steric": o.steric, "compactness": o.compactness,
        "summary": {"tm_to_input_median": statistics.median(tms), "tm_to_input_min": min(tms), "tm_to_input_max": max(tms),
                    "ca_rmsd_to_input_median": statistics.median([v.ca_rmsd_to_input for v in variants])},
        "files": [r["file"] for r in rows], "report": "report.csv", "settings": settings, "complete": True,
        "seconds_total": round(before + time.perf_counter() - t0, 2),
    }
    if out is not None:
        atomic_write_csv(out / "report.csv", REPORT_COLUMNS, rows)
        atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2))
    return Variants(variants, rows, manifest)


def diversify(input: str | Path, sigma: Any = 2.0, *, num: Any = 8, seed: Any = 0, chain: Any = None,
              keep: Any = None, mechanism: str = "replacement", ss: Any = None, out: Optional[str | Path] = None,
              **options: Any) -> Variants:
    """Variants of a backbone by partial diffusion: ``diversify("input.pdb", sigma=2.0, num=8)``.

    ``sigma`` (Å): how far the input is noised (0.5: close variants, 8: new folds; docs/scaffold.md
    has the table); ``keep``: residues to hold (``"5-20,40"``, with ``mechanism``); ``ss``: none,
    ``input`` or a string; ``out``: write the files there; ``**options``: the sampling keys of
    :func:`proteindsm.protein.sample`.  Returns :class:`Variants` (with ``.report``, ``.manifest``).
    """
    run = load_diversify(input, sigma, num=num, seed=seed, chain=chain, keep=keep, mechanism=mechanism, ss=ss,
                         **options)
    return run_diversify(run, out)
