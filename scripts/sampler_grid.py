#!/usr/bin/env python
"""Sample quality vs sampler settings for one score checkpoint (one JSON line per setting).

Usage:
    python scripts/sampler_grid.py [--checkpoint PATH] [--length 100] [--num 4] \\
        al:2e-4:20:100 al:1e-4:10:100 sde:200 pc:0.16:100 ode:100

Settings: ``al:EPS:STEPS_PER_LEVEL:LEVELS[:TEMPERATURE[:SIGMA_MAX]]`` (annealed Langevin; the
temperature applies at levels σ ≤ SIGMA_MAX Å only), ``sde:LEVELS`` (reverse SDE),
``pc:SNR:LEVELS`` (reverse SDE + one Langevin corrector step per level), ``ode:LEVELS`` (Heun).
Each row: the geometry figures of ``proteindsm evaluate`` (bond-length and bond-angle MAD against
ideal values, Ramachandran-allowed fraction, clashing pairs per chain, helix/strand fractions,
Rg/L^0.4) for ``--num`` backbones of ``--length`` residues from seed 0, and the wall time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proteindsm.protein.generate import compactness_option, steric_option, with_potentials  # noqa: E402
from proteindsm.resources import checkpoint_path  # noqa: E402
from proteindsm.core import AnnealedLangevin, GeometricSchedule, ProbabilityFlowODE, ReverseSDE  # noqa: E402
from proteindsm.protein.analysis.evaluate import geometry_summary  # noqa: E402
from proteindsm.protein.model.checkpoints import load_model  # noqa: E402
from proteindsm.protein.generate.sampling import sample_backbones  # noqa: E402


def parse(spec: str):
    kind, *vals = spec.split(":")
    if kind == "al":
        temperature = float(vals[3]) if len(vals) > 3 else 1.0
        window = float(vals[4]) if len(vals) > 4 else None
        return AnnealedLangevin(eps=float(vals[0]), steps_per_level=int(vals[1]), temperature=temperature,
                                temperature_sigma_max=window), int(vals[2])
    if kind == "sde":
        return ReverseSDE(), int(vals[0])
    if kind == "pc":
        return ReverseSDE(corrector_steps=1, snr=float(vals[0])), int(vals[1])
    if kind == "ode":
        return ProbabilityFlowODE("heun"), int(vals[0])
    raise SystemExit(f"unknown setting {spec!r} (al:EPS:T:LEVELS, sde:LEVELS, pc:SNR:LEVELS, ode:LEVELS)")


def settings_parser(description: str, length: int, num: int) -> argparse.ArgumentParser:
    """Arguments of the sampler sweep."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("settings", nargs="+")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--length", type=int, default=length)
    ap.add_argument("--num", type=int, default=num)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steric", default=None, metavar="SCALE[:SIGMA_MAX]",
                    help="add the steric potential (as `sample steric.scale=... steric.sigma_max=...`)")
    ap.add_argument("--compactness", default=None, metavar="SCALE[:SIGMA_MAX[:MAX]]",
                    help="add the compactness ceiling as `sample compactness.scale=...` (defaults σ ≤ 10 Å, Rg/L^0.4 ≤ 3.3)")
    return ap


def sample_settings(args: argparse.Namespace, return_trajectory: bool = False):
    """Yield ``(spec, sampler, sigmas, backbones, seconds)`` for each setting of ``args.settings``:
    ``args.num`` backbones of ``args.length`` residues from seed 0, one batch; ``sigmas`` (levels,)
    is the σ grid in Å."""
    torch.set_num_threads(args.threads)
    loaded = load_model(checkpoint_path(args.checkpoint))
    score_fn = with_potentials(loaded.model, steric_option(args.steric), compactness_option(args.compactness))
    s = loaded.schedule
    for spec in args.settings:
        sampler, levels = parse(spec)
        sigmas = GeometricSchedule(s.sigma_min, s.sigma_max, levels).levels()
        t0 = time.time()
        out = sample_backbones(score_fn, [args.length], args.num, sampler, sigmas, batch_size=args.num,
                               progress=False, return_trajectory=return_trajectory)
        yield spec, sampler, sigmas, out, time.time() - t0


def main() -> None:
    args = settings_parser(__doc__.splitlines()[0], length=100, num=4).parse_args()
    for spec, sampler, sigmas, out, seconds in sample_settings(args):
        st = geometry_summary([b.coords.astype(np.float64) for b in out])
        print(json.dumps(dict(
            setting=spec + (f" steric {args.steric}" if args.steric else "")
            + (f" compactness {args.compactness}" if args.compactness else ""),
            evaluations=sampler.num_evaluations(sigmas), length=args.length, num=args.num,
            seconds=round(seconds), bond_mad=round(st["bond_length_mad_mean_A"], 3),
            angle_mad=round(st["bond_angle_mad_mean_deg"], 2), rama=round(st["ramachandran_allowed_fraction"], 3),
            clash_pairs=st["clash_pairs_mean"], clash_free=st["clash_free_fraction"],
            helix=round(st["helix_fraction_mean"], 3), strand=round(st["strand_fraction_mean"], 3),
            rg_normalised=round(st["rg_normalised_mean"], 2))), flush=True)


if __name__ == "__main__":
    main()
