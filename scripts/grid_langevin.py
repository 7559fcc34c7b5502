#!/usr/bin/env python
"""Grid search over the annealed-Langevin step size ε and steps per level T for a trained image model.

    python scripts/grid_langevin.py --run runs/digits --out docs/figures/grid_langevin_digits.png

Works for runs on the packaged data sets (digits, mnist).  Loads ``RUN/checkpoint.safetensors`` (EMA weights) and the run's frozen feature classifier
(``RUN/classifiers/<dataset>_feature``), samples ``--num-samples`` images per (ε, T) cell from the same
initial noise, and writes one figure of sample grids (rows T, columns ε, each titled with its FID) plus a
table (markdown + JSON next to the figure).  It reproduces the two failure modes of annealed Langevin
dynamics: a small ε with few steps does not move far enough (samples stay noisy / blurred), a large ε
overshoots at every level ("snow": salt-and-pepper noise) or diverges.  FID uses our classifier's
features, not Inception (see docs/images.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proteindsm.core import AnnealedLangevin, GeometricSchedule  # noqa: E402
from proteindsm.errors import InputError, SamplerDivergedError  # noqa: E402
from proteindsm.fileio import atomic_write_text  # noqa: E402
from proteindsm.image.classifier import load_classifier  # noqa: E402
from proteindsm.image.datasets import load_packaged  # noqa: E402
from proteindsm.image.fid import ImageMetrics  # noqa: E402
from proteindsm.image.plots import save_sampler_grid  # noqa: E402
from proteindsm.image.sampling import sample_images  # noqa: E402
from proteindsm.image.unet import load_unet  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="output folder of `proteindsm image` (holds checkpoint.safetensors)")
    ap.add_argument("--eps", type=float, nargs="+", default=[2e-6, 2e-5, 1e-4, 4e-4, 1e-3])
    ap.add_argument("--steps", type=int, nargs="+", default=[3, 20, 100])
    ap.add_argument("--levels", type=int, default=None, help="σ levels (default: the run's sampling levels)")
    ap.add_argument("--num-samples", type=int, default=500)
    ap.add_argument("--seed", type=int, default=4321)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default=None, help="figure path (default RUN/grid_langevin.png); .md/.json beside it")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    run = Path(args.run)
    model, meta = load_unet(str(run / "checkpoint.safetensors"), prefer_ema=True, device=args.device)
    sch = meta["schedule"]
    levels = args.levels or int(sch["sampling_levels"])
    schedule = GeometricSchedule(sch["sigma_min"], sch["sigma_max"], num_levels=levels)
    dcfg = meta.get("dataset_config", {})
    data = load_packaged(meta["dataset"]["name"], test_fraction=dcfg.get("test_fraction", 0.2), seed=dcfg.get("seed", 0))
    clf_dir = Path(meta.get("classifier_dir", run / "classifiers"))
    clf = load_classifier(clf_dir / f"{data.name}_feature" / "checkpoint.safetensors", device=args.device)
    metrics = ImageMetrics.from_reference(clf, data.x_train)
    floor = metrics.evaluate(data.x_test[: min(args.num_samples, len(data.x_test))])["fid"]

    cells, fids, rows = {}, {}, []
    for t in args.steps:
        for e in args.eps:
            t0 = time.time()
            try:
                x = sample_images(model, AnnealedLangevin(eps=e, steps_per_level=t), schedule, args.num_samples,
                                  data.shape, num_levels=levels, seed=args.seed, device=args.device)
                m = metrics.evaluate(x)
                cells[(e, t)], fids[(e, t)] = x, m["fid"]
                row = {"eps": e, "T": t, "fid": round(m["fid"], 3), "label_entropy": round(m["label_entropy"], 3),
                       "mean_pred_entropy": round(m["mean_pred_entropy"], 3)}
            except SamplerDivergedError:
                cells[(e, t)], fids[(e, t)] = None, None
                row = {"eps": e, "T": t, "fid": None, "diverged": True}
            row["seconds"] = round(time.time() - t0, 1)
            rows.append(row)
            print(json.dumps(row), flush=True)

    out = Path(args.out) if args.out else run / "grid_langevin.png"
    save_sampler_grid(out, cells, fids, args.eps, args.steps,
                      suptitle=f"annealed Langevin on {data.name}: L={levels} levels σ {sch['sigma_max']:g}→{sch['sigma_min']:g}, "
                               f"step α_i = ε σ_i²/σ_L², step {meta.get('step')} EMA; FID of {args.num_samples} samples "
                               f"(data floor {floor:.2f})")
    lines = ["| T \\ ε | " + " | ".join(f"{e:g}" for e in args.eps) + " |",
             "|---|" + "---|" * len(args.eps)]
    for t in args.steps:
        cells_txt = [("diverged" if fids[(e, t)] is None else f"{fids[(e, t)]:.2f}") for e in args.eps]
        lines.append(f"| {t} | " + " | ".join(cells_txt) + " |")
    table = "\n".join(lines)
    atomic_write_text(out.with_suffix(".md"), table + f"\n\nFID floor (test vs train, {min(args.num_samples, len(data.x_test))} images): {floor:.2f}\n")
    atomic_write_text(out.with_suffix(".json"), json.dumps({"run": str(run), "levels": levels, "num_samples": args.num_samples,
                                                            "fid_floor": floor, "cells": rows}, indent=2))
    print(table)
    print(f"wrote {out}, {out.with_suffix('.md')}, {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except InputError as exc:  # bad run folder / checkpoint / data set: one line, no traceback
        print(f"grid_langevin: error: {exc}", file=sys.stderr)
        sys.exit(2)
