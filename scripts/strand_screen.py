"""Quick screen of strand-guidance variants on a few backbones (docs/design.md, "Variants screened").

Samples ``--num`` backbones of ``--length`` residues with the shipped score model, the chosen sampler,
steric potential and compactness ceiling, and the soft DSSP strand fraction (:mod:`proteindsm.protein.structure.soft_dssp`) on the
denoised estimate pulled toward 0.4; prints one JSON line with the exact DSSP strand / helix
fractions and the geometry figures of ``proteindsm evaluate``::

    python scripts/strand_screen.py                                  # unguided, sample defaults
    python scripts/strand_screen.py --strand 128                     # w = 128, τ = 0.1
    python scripts/strand_screen.py --strand 128 --strand-sigma-min 0.3
    python scripts/strand_screen.py --strand 128 --rigid
    python scripts/strand_screen.py --strand 64 --tol 0.05 --num 8
    python scripts/strand_screen.py --strand 64 --antihelix 16
    python scripts/strand_screen.py --strand 32 --sheet 0.4                     # + β-sheet blueprint
    python scripts/strand_screen.py --strand 32 --sheet 0.4 --sheet-sigma-min 0.1
    python scripts/strand_screen.py --strand 32 --sheet 0.4 --rg 15

``--rama W[:SIGMA_MAX]`` adds the Ramachandran prior that was tried and dropped (docs/protein.md);
its module and asset were removed, restore them from commit 20815ca first::

    git show 20815ca:proteindsm/protein/torsion_prior.py > proteindsm/protein/torsion_prior.py
    git show 20815ca:proteindsm/protein/assets/ramachandran_prior.json > proteindsm/protein/assets/ramachandran_prior.json
    python scripts/strand_screen.py --rama 0.05:1

The defaults follow ``proteindsm sample``'s (checkpoint, ``--sampler langevin_cold``, ``--steric 1:1``,
``--compactness 0.5``); the recorded rows below were measured with the defaults of their day: add
``--checkpoint proteindsm/checkpoints/backbone_score.safetensors --sampler langevin_lowtemp --compactness 0``.

Recorded output: docs/results/strand_screen.jsonl (written by this script's prototype, the same
computation; its keys: ``bond`` = bond_mad, ``angle`` = angle_mad, ``secs`` = seconds, ``rama``
(argument) = the prior's w and ``rama_sigma`` its σ_max, ``tag`` a label).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proteindsm.protein.generate import compactness_option, named_sampler, steric_option, with_potentials  # noqa: E402
from proteindsm.resources import checkpoint_path, config_root  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from proteindsm.core import (GeometricSchedule, NoiseAwareDenoisedGuidance, PotentialGuidance,  # noqa: E402
                             with_guidance)
from proteindsm.protein.generate.targets import (PropertyTarget, guidance_terms, radius_of_gyration_property,  # noqa: E402
                                       resolve_targets)
from proteindsm.protein.generate.sheet_blueprint import blueprint_guidance, meander_blueprint  # noqa: E402
from proteindsm.protein.analysis.evaluate import evaluate_backbones  # noqa: E402
from proteindsm.protein.model.checkpoints import load_model  # noqa: E402
from proteindsm.protein.structure.properties import helix_fraction, strand_fraction  # noqa: E402
from proteindsm.protein.generate.sampling import sample_backbones  # noqa: E402
from proteindsm.protein.structure.soft_dssp import GUIDANCE_CUTOFF, soft_strand_fraction  # noqa: E402


def rigid_residues(prop):
    """``prop`` whose gradient moves each residue as a whole: the mean of its four atoms' gradients."""
    def wrapped(x, cond=None):
        centre = x.mean(2, keepdim=True)
        return prop(x.detach() + (centre - centre.detach()), cond)
    return wrapped


def sigma_window(term, sigma_min: float):
    """``term`` switched off at levels σ < ``sigma_min`` (Å)."""
    def windowed(ev):
        on = (ev.sigma >= sigma_min).to(ev.x.dtype)
        if not bool(on.any()):
            return torch.zeros_like(ev.x)
        return term(ev) * on[:, None, None, None]
    return windowed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=None, help="score model (default: the shipped one)")
    ap.add_argument("--strand", type=float, default=0.0, help="guidance scale w of the soft strand term")
    ap.add_argument("--cutoff", type=float, default=GUIDANCE_CUTOFF, help="H-bond energy cutoff, kcal/mol")
    ap.add_argument("--tol", type=float, default=0.1, help="tolerance τ of the strand term")
    ap.add_argument("--strand-sigma-min", type=float, default=0.0, help="Å; the strand term is off below")
    ap.add_argument("--rigid", action="store_true", help="apply the strand gradient per residue, rigidly")
    ap.add_argument("--antihelix", type=float, default=0.0,
                    help="also steer helix_fraction toward 0.1 with its predictor at this scale")
    ap.add_argument("--sheet", type=float, default=0.0,
                    help="add the β-sheet blueprint of this strand fraction (design's sheet.fraction), "
                         "one centred layout for all backbones (as sheet.vary=false)")
    ap.add_argument("--sheet-sigma-min", type=float, default=0.0, help="Å; the blueprint is off below")
    ap.add_argument("--rg", type=float, default=0.0,
                    help="also steer the backbone radius of gyration (function, τ 0.5 Å) to this many Å")
    ap.add_argument("--rg-scale", type=float, default=4.0)
    ap.add_argument("--rama", default=None, metavar="W[:SIGMA_MAX]", help="Ramachandran prior (commit 20815ca)")
    ap.add_argument("--sampler", default="langevin_cold")
    ap.add_argument("--steric", default="1:1", metavar="SCALE[:SIGMA_MAX]")
    ap.add_argument("--compactness", default="0.5", metavar="SCALE[:SIGMA_MAX[:MAX]]")
    ap.add_argument("--num", type=int, default=4)
    ap.add_argument("--length", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    loaded = load_model(checkpoint_path(args.checkpoint))
    sched = loaded.schedule
    sampler, levels = named_sampler(args.sampler)
    sigmas = GeometricSchedule(sigma_min=sched.sigma_min, sigma_max=sched.sigma_max, num_levels=levels).levels()
    terms = []
    if args.strand > 0:
        prop = functools.partial(soft_strand_fraction, cutoff=args.cutoff)
        if args.rigid:
            prop = rigid_residues(prop)
        term = NoiseAwareDenoisedGuidance(prop, 0.4, tolerance=args.tol, scale=args.strand)
        terms.append(sigma_window(term, args.strand_sigma_min) if args.strand_sigma_min > 0 else term)
    if args.rama:
        try:
            from proteindsm.protein.torsion_prior import ramachandran_energy
        except ImportError:
            sys.exit("--rama needs proteindsm/protein/torsion_prior.py and its asset from commit 20815ca "
                     "(removed since; see this script's docstring)")
        w, *smax = (float(v) for v in args.rama.split(":"))
        terms.append(PotentialGuidance(ramachandran_energy, w, smax[0] if smax else 1.0))
    if args.sheet > 0:
        sheet = OmegaConf.load(config_root() / "protein" / "design.yaml").sheet
        terms.append(blueprint_guidance(meander_blueprint(args.length, args.sheet, int(sheet.strand_length)),
                                        float(sheet.scale), float(sheet.sigma_max), args.sheet_sigma_min))
    if args.rg > 0:
        rg = functools.partial(radius_of_gyration_property, atoms="backbone")
        terms.append(NoiseAwareDenoisedGuidance(rg, args.rg, tolerance=0.5, scale=args.rg_scale))
    if args.antihelix > 0:
        grid = GeometricSchedule(sigma_min=float(sigmas[-1]), sigma_max=float(sigmas[0]))
        targets = resolve_targets([PropertyTarget("helix_fraction", 0.1, scale=args.antihelix)],
                                  score_schedule=grid, device="cpu")
        terms += guidance_terms(list(targets), args.length)
    score_fn = with_guidance(with_potentials(loaded.model, steric_option(args.steric), compactness_option(args.compactness)), terms)

    t0 = time.perf_counter()
    out = sample_backbones(score_fn, [args.length], args.num, sampler, sigmas, seed=args.seed,
                           batch_size=args.num, progress=False)
    X = [o.coords for o in out]
    strand = [strand_fraction(x) for x in X]
    geo = evaluate_backbones(X, X[:1], max_diversity_pairs=10, seed=0)["generated"]
    print(json.dumps({"args": vars(args), "seconds": round(time.perf_counter() - t0),
                      "strand": [round(v, 3) for v in strand], "strand_mean": round(float(np.mean(strand)), 3),
                      "helix_mean": round(float(np.mean([helix_fraction(x) for x in X])), 3),
                      "bond_mad": round(geo["bond_length_mad_mean_A"], 4),
                      "angle_mad": round(geo["bond_angle_mad_mean_deg"], 2),
                      "rama": round(geo["ramachandran_allowed_fraction"], 3),
                      "rg_normalised": round(geo["rg_normalised_mean"], 3),
                      "clash_free": geo["clash_free_fraction"]}), flush=True)


if __name__ == "__main__":
    main()
