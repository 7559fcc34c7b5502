#!/usr/bin/env python
"""Benchmark backbone sampling: seconds per backbone vs length and batch size, peak memory.

Usage:
    python scripts/bench_sample.py [--checkpoint PATH] [--device cpu|cuda] [--lengths 50 100 200 400]
                                   [--batch-sizes 1 8] [--sampler langevin_lowtemp|annealed_langevin|reverse_sde|pc|ode]
                                   [--steric 1:1] [--levels N] [--json out.json]

Times a sampler of ``configs/protein/sampler/`` (``--sampler``, default: annealed_langevin;
``proteindsm sample``'s default is ``--sampler langevin_cold --steric 1:1 --compactness 0.5``;
``langevin_fast`` is the fast one) with its config's σ levels or ``--levels``.  Peak memory: CUDA max allocated on GPU; on CPU the peak of the
process's resident set size during the run minus its size just before (polled every 2 ms from
/proc/self/statm, Linux; falls back to ru_maxrss growth elsewhere), i.e. what one sampling run adds.
"""

from __future__ import annotations

import argparse
import json
import platform
import os
import resource
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proteindsm.cli.protein_common import checkpoint_path, named_sampler, compactness_option, steric_option, with_potentials  # noqa: E402
from proteindsm.core import GeometricSchedule  # noqa: E402
from proteindsm.protein.models import load_model  # noqa: E402
from proteindsm.protein.sampling import sample_backbones  # noqa: E402


class RssPeak:
    """Context manager: peak resident set size (MiB) above the level at entry, polled in a thread."""

    def __init__(self, interval_s: float = 0.002) -> None:
        self.interval_s = interval_s
        self.peak_mib = 0.0
        self.peak_abs_mib = 0.0
        self._statm = Path("/proc/self/statm")
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def _rss_mib(self) -> float:
        if self._statm.exists():
            return int(self._statm.read_text().split()[1]) * self._page / 2**20
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def _poll(self) -> None:
        while not self._stop.is_set():
            now = self._rss_mib()
            self.peak_abs_mib = max(self.peak_abs_mib, now)
            self.peak_mib = max(self.peak_mib, now - self._base)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--lengths", type=int, nargs="+", default=[50, 100, 200, 400])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--sampler", default="annealed_langevin", help="a config name in configs/protein/sampler/")
    ap.add_argument("--levels", type=int, default=None, help="σ levels; default: the sampler config's")
    ap.add_argument("--steric", default=None, metavar="SCALE[:SIGMA_MAX]",
                    help="add the steric potential as `sample steric.scale=... steric.sigma_max=...` does "
                         "(the sample default is langevin_cold with --steric 1:1 --compactness 0.5)")
    ap.add_argument("--compactness", default=None, metavar="SCALE[:SIGMA_MAX[:MAX]]",
                    help="add the compactness ceiling as `sample compactness.scale=...` (defaults σ ≤ 10 Å, Rg/L^0.4 ≤ 3.3)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=1, help="timed runs per setting; the best is reported")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    loaded = load_model(checkpoint_path(args.checkpoint), device=device)
    sched = loaded.schedule
    sampler, levels = named_sampler(args.sampler, args.levels)
    score_fn = with_potentials(loaded.model, steric_option(args.steric), compactness_option(args.compactness))
    sigmas = GeometricSchedule(sched.sigma_min, sched.sigma_max, levels).levels()
    # warm-up (allocator, kernels)
    sample_backbones(score_fn, [32], 1, sampler, sigmas[:5], device=device, progress=False)
    rows = []
    for L in args.lengths:
        for bs in args.batch_sizes:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            times = []
            with RssPeak() as rss:
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    sample_backbones(score_fn, [L], bs, sampler, sigmas, batch_size=bs, device=device,
                                     progress=False)
                    if device.type == "cuda":
                        torch.cuda.synchronize(device)
                    times.append(time.perf_counter() - t0)
            dt = min(times)
            mem = (torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda"
                   else rss.peak_mib)
            rows.append({"length": L, "batch_size": bs, "seconds_per_backbone": dt / bs,
                         "seconds_per_batch": dt, "all_seconds_per_batch": times,
                         "peak_mem_MiB": round(mem, 1),
                         "process_peak_rss_MiB": None if device.type == "cuda" else round(rss.peak_abs_mib, 1)})
            print(f"L={L:4d} batch={bs:3d}  {dt / bs:8.3f} s/backbone  {dt:8.2f} s/batch  peak {mem:8.1f} MiB",
                  flush=True)
    per = {r["length"]: r["seconds_per_backbone"] for r in rows if r["batch_size"] == args.batch_sizes[0]}
    ratio = per.get(400, float("nan")) / per.get(100, float("nan")) if 100 in per else float("nan")
    info = {"device": str(device), "hardware": torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)",
            "torch": torch.__version__,
            "load_average_after": os.getloadavg() if hasattr(os, "getloadavg") else None, "levels": levels, "sampler": repr(sampler), "steric": args.steric, "compactness": args.compactness,
            "network_evaluations": sampler.num_evaluations(levels),
            "checkpoint": str(loaded.path), "rows": rows, "time_400_over_100": ratio}
    print(f"time(400)/time(100) at batch {args.batch_sizes[0]}: {ratio:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
