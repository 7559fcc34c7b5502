#!/usr/bin/env python
"""Benchmark backbone sampling: seconds per backbone vs length and batch size, peak memory.

Usage:
    python scripts/bench_sample.py [--checkpoint PATH] [--device cpu|cuda] [--lengths 50 100 200 400]
                                   [--batch-sizes 1 8] [--levels 200] [--json out.json]

Times the reverse-SDE sampler (the `proteindsm sample` default) with ``--levels`` σ levels (one
network evaluation each).  Peak memory: CUDA max allocated on GPU; on CPU the growth of the
process's max RSS during the run (ru_maxrss), an upper bound for what sampling needs.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proteindsm.cli.protein_common import checkpoint_path  # noqa: E402
from proteindsm.core import GeometricSchedule, ReverseSDE  # noqa: E402
from proteindsm.protein.models import load_model  # noqa: E402
from proteindsm.protein.sampling import sample_backbones  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--lengths", type=int, nargs="+", default=[50, 100, 200, 400])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--levels", type=int, default=200)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    loaded = load_model(checkpoint_path(args.checkpoint), device=device)
    sched = loaded.schedule
    sigmas = GeometricSchedule(sched.sigma_min, sched.sigma_max, args.levels).levels()
    sampler = ReverseSDE()
    # warm-up (allocator, kernels)
    sample_backbones(loaded.model, [32], 1, sampler, sigmas[:5], device=device, progress=False)
    rows = []
    for L in args.lengths:
        for bs in args.batch_sizes:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            t0 = time.perf_counter()
            sample_backbones(loaded.model, [L], bs, sampler, sigmas, batch_size=bs, device=device, progress=False)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            dt = time.perf_counter() - t0
            mem = (torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda"
                   else (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024)
            rows.append({"length": L, "batch_size": bs, "seconds_per_backbone": dt / bs,
                         "seconds_per_batch": dt, "peak_mem_MiB": round(mem, 1)})
            print(f"L={L:4d} batch={bs:3d}  {dt / bs:8.3f} s/backbone  {dt:8.2f} s/batch  peak {mem:8.1f} MiB",
                  flush=True)
    per = {r["length"]: r["seconds_per_backbone"] for r in rows if r["batch_size"] == args.batch_sizes[0]}
    ratio = per.get(400, float("nan")) / per.get(100, float("nan")) if 100 in per else float("nan")
    info = {"device": str(device), "hardware": torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)",
            "torch": torch.__version__, "levels": args.levels, "sampler": "ReverseSDE",
            "checkpoint": str(loaded.path), "rows": rows, "time_400_over_100": ratio}
    print(f"time(400)/time(100) at batch {args.batch_sizes[0]}: {ratio:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
