#!/usr/bin/env python
"""Time the default final fit (``ideal_output``, :func:`~proteindsm.protein.structure.ideal_fit.fit_ideal_backbone`)
on a batch of sampled backbones of one length, as sampling applies it after each batch:

    python scripts/bench_ideal_fit.py runs/eval14800/default --length 100 --batch 8 [--threads 1] [--repeats 3]

Prints one JSON line: seconds per batch (best and median of ``--repeats``) and per backbone.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proteindsm.protein.data.io import read_backbones  # noqa: E402
from proteindsm.protein.structure.ideal_fit import fit_ideal_backbone  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--length", type=int, default=100)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    files = sorted(args.folder.glob(f"len{args.length}_*.pdb"))[: args.batch]
    if len(files) < args.batch:
        raise SystemExit(f"{args.folder}: {len(files)} files len{args.length}_*.pdb, --batch {args.batch} asked")
    X = torch.tensor(np.stack([read_backbones(f, max_peptide_bond=float("inf"))[0].coords for f in files]))
    fit_ideal_backbone(X[:1, :10], max_iterations=2)            # first-call set-up out of the timing
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        fit_ideal_backbone(X)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(json.dumps({"length": args.length, "batch": args.batch, "threads": args.threads,
                      "s_per_batch_best": round(min(times), 3), "s_per_batch_median": round(med, 3),
                      "s_per_backbone": round(med / args.batch, 3)}))


if __name__ == "__main__":
    main()
