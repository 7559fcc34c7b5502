#!/usr/bin/env python
"""Benchmark backbone sampling as ``proteindsm sample`` runs it: seconds per backbone vs length,
batch size and CPU threads, network evaluations, peak memory — for the default and any preset.

Usage:
    python scripts/bench_sample.py [--presets langevin_cold langevin_fast edm] [--lengths 50 100 200 400 1000]
        [--batch-sizes 1 8] [--threads 1 2] [--device cpu|cuda] [--repeats 1] [--max-levels K] [--json out.json]

Each setting builds its run with the library's generation layer (``proteindsm.protein.generate``:
the shipped checkpoint, self-conditioning, ``ss=auto`` layouts, the steric and compactness
potentials — exactly the ``proteindsm sample`` defaults, with ``sampler=<preset>``) and times
complete sampling runs of one batch (best of ``--repeats``).  ``--max-levels K`` times only the
first K levels (from σ_max, so the states are those of a real run) and extrapolates the full run
from the seconds per evaluation there (``"extrapolated": true``): exact for the network's share,
but the steric potential (on at σ ≤ 1 Å only) is not in those levels — it cost ~4–10 % of a full
run at L = 100–400 — nor is the final ideal-geometry fit (``ideal_output``, in complete runs only).  Lengths above the checkpoint's
``max_length`` (256), which ``proteindsm sample`` refuses, are timed without ``ss`` labels (the
network runs at any length; the speed, not the backbones, is what such a row measures).  Peak memory: CUDA max allocated on a GPU; on the CPU the peak resident set size during the run
above its size just before (polled every 2 ms from /proc/self/statm, Linux).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proteindsm.protein.generate import load_plan, sample_options  # noqa: E402
from proteindsm.protein.generate.sampling import sample_backbones  # noqa: E402


class RssPeak:
    """Context manager: peak resident set size (MiB) above the level at entry, polled in a thread."""

    def __init__(self, interval_s: float = 0.002) -> None:
        self.interval_s = interval_s
        self.peak_mib = 0.0
        self._statm = Path("/proc/self/statm")
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def _rss_mib(self) -> float:
        if self._statm.exists():
            return int(self._statm.read_text().split()[1]) * self._page / 2**20
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak_mib = max(self.peak_mib, self._rss_mib() - self._base)
            time.sleep(self.interval_s)

    def __enter__(self) -> "RssPeak":
        self._base = self._rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mib = max(self.peak_mib, self._rss_mib() - self._base)


def time_setting(plan, length: int, batch: int, sigmas: torch.Tensor, repeats: int) -> tuple[float, float]:
    """Best wall time (s) of ``repeats`` runs of one batch, and the peak memory (MiB)."""
    device = plan.options.device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    with RssPeak() as rss:
        for _ in range(repeats):
            t0 = time.perf_counter()
            sample_backbones(plan.score_fn, [length], batch, plan.options.sampler, sigmas, batch_size=batch,
                             device=device, progress=False,
                             ideal_output=plan.options.ideal_output and len(sigmas) == len(plan.sigmas),
                             ss_layout=plan.ss_layout if length <= plan.loaded.max_length else None)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - t0)
    mem = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else rss.peak_mib
    return min(times), mem


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["langevin_cold"],
                    help="configs/protein/sampler presets (langevin_cold is the sample default)")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--lengths", type=int, nargs="+", default=[50, 100, 200, 400, 1000])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--threads", type=int, nargs="+", default=[2], help="CPU torch threads (one row set each)")
    ap.add_argument("--repeats", type=int, default=1, help="timed runs per setting; the best is reported")
    ap.add_argument("--max-levels", type=int, default=None,
                    help="time only the first this many σ levels and extrapolate (see the docstring)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    rows = []
    for preset in args.presets:
        plan = load_plan(sample_options(length=100, num=1, sampler=preset, checkpoint=args.checkpoint,
                                        device=args.device, progress=False))
        full_evals = plan.options.sampler.num_evaluations(plan.sigmas)
        sigmas = plan.sigmas if args.max_levels is None else plan.sigmas[:args.max_levels]
        evals = plan.options.sampler.num_evaluations(sigmas)
        sample_backbones(plan.score_fn, [32], 1, plan.options.sampler, plan.sigmas[-3:],
                         device=plan.options.device, progress=False, ss_layout=plan.ss_layout)   # warm-up
        for threads in (args.threads if plan.options.device.type == "cpu" else [torch.get_num_threads()]):
            torch.set_num_threads(threads)
            for L in args.lengths:
                for bs in args.batch_sizes:
                    dt, mem = time_setting(plan, L, bs, sigmas, args.repeats)
                    per_eval = dt / evals
                    row = {"preset": preset, "threads": threads, "length": L, "batch_size": bs,
                           "network_evaluations": full_evals, "timed_evaluations": evals,
                           "extrapolated": evals != full_evals,
                           "beyond_model_max_length": L > plan.loaded.max_length,
                           "seconds_per_evaluation_per_batch": per_eval,
                           "seconds_per_backbone": per_eval * full_evals / bs, "peak_mem_MiB": round(mem, 1)}
                    rows.append(row)
                    print(f"{preset:14s} threads={threads} L={L:5d} batch={bs:3d} evals={full_evals:5d}  "
                          f"{row['seconds_per_backbone']:9.3f} s/backbone{' (extrapolated)' if row['extrapolated'] else ''}"
                          f"  peak {mem:8.1f} MiB", flush=True)
    ratios = {}
    for r in rows:
        if r["length"] == 1000 and r["batch_size"] == 1:
            base = [q for q in rows if q["preset"] == r["preset"] and q["threads"] == r["threads"]
                    and q["length"] == 100 and q["batch_size"] == 1]
            if base:
                ratios[f"{r['preset']}/threads={r['threads']}"] = r["seconds_per_backbone"] / base[0]["seconds_per_backbone"]
    for key, value in ratios.items():
        print(f"time(L=1000)/time(L=100) at batch 1, {key}: {value:.2f}")
    device = torch.device(args.device)
    info = {"device": str(device),
            "hardware": torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"{platform.processor() or platform.machine()} ({os.cpu_count()} cores)",
            "torch": torch.__version__, "load_average_after": os.getloadavg() if hasattr(os, "getloadavg") else None,
            "max_levels": args.max_levels, "rows": rows, "time_1000_over_100": ratios}
    if args.json:
        Path(args.json).write_text(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
