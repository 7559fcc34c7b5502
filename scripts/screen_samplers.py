#!/usr/bin/env python
"""Sample quality vs network evaluations for sampler settings, with the full `proteindsm sample`
defaults (shipped checkpoint, self-conditioning, ss=auto layouts, steric + compactness potentials).

Usage:
    python scripts/screen_samplers.py SETTING [SETTING ...] [--num 4] [--lengths 60 100 150] [--ss auto|none]
        [--pairs auto|none] [--priors on|off] [--ideal-output] [--checkpoint CKPT]

SETTING: ``PRESET[,key=value...]`` — a configs/protein/sampler preset with overrides of its fields
(``steps=N`` sets the σ levels), e.g. ``langevin_cold,steps=50``, ``edm,s_churn=0`` or
``langevin_quick,steps=40,steps_per_level=2,level_steps=[[0.3,5,5],[0,0.3,1]]`` (σ windows); or
``hybrid,edm_levels=8,switch=4.0,levels=50,steps_per_level=6,temperature=0.5``: the EDM stochastic
sampler (churn 40, ρ = 7) from σ_max down to ``switch`` Å, then annealed Langevin (ε 2e-4) on a
geometric grid from there to σ_min — a screen of where the evaluations matter, not a preset; or
``stages,first=langevin_cold,switch=1.0,second=ode,second_levels=30``: the preset ``first`` on its
own σ grid down to ``switch`` Å (no final denoising; Langevin step sizes as on the full grid), then the preset ``second`` (keys
``second_<field>`` override its fields) on a geometric grid of ``second_levels`` from ``switch`` to σ_min.
Prints one JSON line per setting: evaluations, seconds per backbone (this machine, as loaded),
and the geometry figures of ``proteindsm evaluate`` (``geometry_summary``) for ``--num`` backbones
per length from seed 0.
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

from proteindsm.core import AnnealedLangevin, EDMStochastic, GeometricSchedule, sampling_sigmas  # noqa: E402
from proteindsm.protein.analysis.evaluate import geometry_summary  # noqa: E402
from proteindsm.protein.generate import load_plan, sample_options  # noqa: E402
from proteindsm.protein.generate.options import build_sampler, preset_settings  # noqa: E402
from proteindsm.protein.generate.sampling import sample_backbones  # noqa: E402


class TwoStage:
    """One sampler on the levels of ``first_grid``, then another on ``second_grid`` (screening only)."""

    def __init__(self, first, first_grid, second, second_grid) -> None:
        self.a, self.ga, self.b, self.gb = first, first_grid, second, second_grid

    def num_evaluations(self, num_levels: int) -> int:
        return self.a.num_evaluations(self.ga) + self.b.num_evaluations(self.gb)

    def sample(self, score_fn, x, sigmas, **kw):
        kw.pop("return_trajectory", None)
        first = self.a.sample(score_fn, x, self.ga, **kw)
        return self.b.sample(score_fn, first.x, self.gb, **kw)


def two_stage(plan_sigmas, s_min: float, first: str, switch: float, second: str, second_levels: int = 30,
              **second_fields) -> TwoStage:
    ga = plan_sigmas[plan_sigmas > switch]
    settings = {**preset_settings(first), "final_denoise": False}
    if "eps" in settings:        # Langevin steps α = ε(σ/σ_last)²: keep those of the full grid
        settings["eps"] = float(settings["eps"]) * float(ga[-1] / plan_sigmas[-1]) ** 2
    a, _ = build_sampler(settings)
    fields = {k.removeprefix("second_"): v for k, v in second_fields.items()}
    b, _ = build_sampler({**preset_settings(second), **fields})
    gb = GeometricSchedule(s_min, switch, int(second_levels)).levels()
    return TwoStage(a, ga, b, gb)


def hybrid(s_max: float, s_min: float, edm_levels: int, switch: float, levels: int, steps_per_level: int,
           temperature: float) -> TwoStage:
    """EDM (churn 40, ρ = 7) from σ_max to ``switch`` Å, then annealed Langevin to σ_min."""
    return TwoStage(EDMStochastic(s_churn=40.0, final_denoise=False), sampling_sigmas(switch, s_max, edm_levels, rho=7.0),
                    AnnealedLangevin(eps=2e-4, steps_per_level=steps_per_level, temperature=temperature),
                    GeometricSchedule(s_min, switch, levels + 1).levels()[1:])


def split_top_level(spec: str) -> list[str]:
    """``spec`` split at the commas outside brackets (so ``level_steps=[[1,5,5],[0,1,2]]`` stays whole)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(spec):
        depth += (ch == "[") - (ch == "]")
        if ch == "," and depth == 0:
            parts.append(spec[start:i])
            start = i + 1
    return parts + [spec[start:]]


def parse(spec: str) -> tuple[str, dict]:
    name, *items = split_top_level(spec)
    fields = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            fields[key] = json.loads(value)
        except json.JSONDecodeError:
            fields[key] = value
    return name, fields


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("settings", nargs="+")
    ap.add_argument("--num", type=int, default=4)
    ap.add_argument("--lengths", type=int, nargs="+", default=[60, 100, 150])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--checkpoint", default=None, help="a score checkpoint (default: the shipped one)")
    ap.add_argument("--ss", default="auto", help="the sample ss= setting (auto, none or a string)")
    ap.add_argument("--pairs", default="auto", help="the sample pairs= setting (auto, none or S:T/...)")
    ap.add_argument("--priors", choices=("on", "off"), default="on",
                    help="off: steric.scale=0 compactness.scale=0 (the network alone)")
    ap.add_argument("--ideal-output", action="store_true", help="apply the final ideal fit (ideal_output=true)")
    args = ap.parse_args()
    common = dict(length=args.lengths, num=args.num, checkpoint=args.checkpoint, ss=args.ss, pairs=args.pairs,
                  progress=False)
    if args.priors == "off":
        common.update(steric=None, compactness=None)
    torch.set_num_threads(args.threads)
    for spec in args.settings:
        name, fields = parse(spec)
        if name == "hybrid":
            plan = load_plan(sample_options(**common))
            s = plan.loaded.schedule
            sampler = hybrid(s.sigma_max, s.sigma_min, **fields)
        elif name == "stages":
            first = preset_settings(fields["first"])
            plan = load_plan(sample_options(sampler=first, **common))
            sampler = two_stage(plan.sigmas, plan.loaded.schedule.sigma_min, **fields)
        else:
            steps = fields.pop("steps", None)
            settings = {**preset_settings(name), **fields}
            plan = load_plan(sample_options(sampler=settings, steps=steps, **common))
            sampler = plan.options.sampler
        t0 = time.time()
        out = sample_backbones(plan.score_fn, args.lengths, args.num, sampler, plan.sigmas, seed=0, batch_size=8,
                               progress=False, ss_layout=plan.ss_layout, ideal_output=args.ideal_output)
        dt = time.time() - t0
        g = geometry_summary([b.coords.astype(np.float64) for b in out])
        print(json.dumps(dict(
            spec=spec, priors=args.priors, ss=args.ss, pairs=args.pairs, ideal_output=args.ideal_output, evals=sampler.num_evaluations(plan.sigmas), s_per_bb=round(dt / len(out), 2),
            helix=round(g["helix_fraction_mean"], 3), strand=round(g["strand_fraction_mean"], 3),
            rama=round(g["ramachandran_allowed_fraction"], 3), bond_mad=round(g["bond_length_mad_mean_A"], 3),
            clash_free=round(g["clash_free_fraction"], 2), rg=round(g["rg_normalised_mean"], 2))), flush=True)


if __name__ == "__main__":
    main()
