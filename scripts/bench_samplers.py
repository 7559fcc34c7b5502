#!/usr/bin/env python
"""Throughput of each core sampler on the toy MLP score network.

    python scripts/bench_samplers.py [--batch 10000] [--devices cpu,cuda] [--threads N]
                                     [--checkpoint PATH] [--samplers a,b] [--json PATH]

The samplers and their σ grids are those of ``configs/toy/toy.yaml`` (the ``proteindsm toy``
defaults); the network is ``ToyScoreMLP`` with the config's architecture — random weights unless
``--checkpoint`` gives a trained toy checkpoint (throughput does not depend on the weights).  For
each sampler and device it runs one warm-up call on a small batch, then times one full sampling run
of ``--batch`` samples and reports samples/s, score evaluations, and network evaluations per second
(evaluations × batch / s).  Prints a table and optionally writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from proteindsm.cli.config import compose  # noqa: E402
from proteindsm.cli.toy_components import build_samplers, build_schedule  # noqa: E402
from proteindsm.core import load_checkpoint, load_weights_into  # noqa: E402
from proteindsm.errors import InputError  # noqa: E402
from proteindsm.fileio import atomic_write_text  # noqa: E402
from proteindsm.toy.model import MODEL_CLASS, ToyScoreMLP  # noqa: E402


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build_model(cfg, checkpoint: str | None) -> ToyScoreMLP:
    if checkpoint:
        ckpt = load_checkpoint(checkpoint, expected_model_class=MODEL_CLASS)
        model = ToyScoreMLP(**ckpt.metadata["model_config"])
        load_weights_into(model, ckpt.weights(), checkpoint)
        return model.eval()
    torch.manual_seed(0)
    m = cfg.model
    return ToyScoreMLP(hidden=m.hidden, depth=m.depth, sigma_features=m.sigma_features,
                       fourier_features=m.fourier_features, fourier_scale=m.fourier_scale, data_scale=4.1).eval()


def bench(spec, model: torch.nn.Module, batch: int, device: torch.device, seed: int = 0) -> dict:
    def score(x, sigma, cond=None):
        return model(x, sigma, cond)

    def one_run(n: int):
        x0 = spec.initial_state(n, torch.Generator().manual_seed(seed)).to(device)
        g = torch.Generator(device=device).manual_seed(seed)
        _sync(device)
        t0 = time.perf_counter()
        res = spec.sampler.sample(score, x0, spec.grid.to(device), generator=g)
        _sync(device)
        return res, time.perf_counter() - t0

    one_run(min(batch, 256))  # warm-up (allocator, kernels)
    res, seconds = one_run(batch)
    evals = res.num_evaluations
    return {"sampler": spec.name, "device": str(device), "batch": batch, "levels": spec.levels,
            "evaluations": evals, "seconds": round(seconds, 3), "samples_per_s": round(batch / seconds, 1),
            "net_evals_per_s": round(batch * evals / seconds, 0), "finite": bool(torch.isfinite(res.x).all())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--devices", default="cpu,cuda", help="comma list; cuda is skipped when unavailable")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--samplers", default=None, help="comma list (default: all in configs/toy/toy.yaml)")
    ap.add_argument("--checkpoint", default=None, help="a toy checkpoint.safetensors (default: random weights)")
    ap.add_argument("--json", default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    try:
        if args.batch < 1:
            raise InputError(f"--batch must be a positive integer, got {args.batch}")
        if args.threads is not None:
            if args.threads < 1:
                raise InputError(f"--threads must be a positive integer, got {args.threads}")
            torch.set_num_threads(args.threads)
        overrides = ["out=unused"]
        if args.samplers:
            overrides.append(f"sample.samplers=[{args.samplers}]")
        cfg = compose("toy", "toy", overrides)
        schedule = build_schedule(cfg)
        specs = build_samplers(cfg, schedule, "net")
        model = build_model(cfg, args.checkpoint)
    except InputError as exc:
        print(f"bench_samplers: error: {exc}", file=sys.stderr)
        return 2
    devices = []
    for name in [d.strip() for d in args.devices.split(",") if d.strip()]:
        if name.startswith("cuda") and not torch.cuda.is_available():
            print(f"(skipping {name}: no CUDA device)")
            continue
        devices.append(torch.device(name))
    rows = []
    for device in devices:
        model.to(device)
        for spec in specs:
            rows.append(bench(spec, model, args.batch, device))
            r = rows[-1]
            print(f"  {r['device']:>6s} {r['sampler']:<20s} {r['seconds']:8.2f} s", flush=True)
    hw = {"cpu": _cpu_name(), "torch_threads": torch.get_num_threads(),
          "torch": torch.__version__,
          "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    print(f"\nbatch {args.batch}, torch {hw['torch']}, {hw['torch_threads']} CPU threads"
          + (f", GPU {hw['cuda']}" if hw["cuda"] else ""))
    header = f"| {'sampler':<20s} | device | levels | evals | seconds | samples/s | net evals/s |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for r in rows:
        print(f"| {r['sampler']:<20s} | {r['device']:<6s} | {r['levels']:>6d} | {r['evaluations']:>5d} | "
              f"{r['seconds']:>7.2f} | {r['samples_per_s']:>9.0f} | {r['net_evals_per_s']:>11.3g} |")
    if args.json:
        atomic_write_text(args.json, json.dumps({"hardware": hw, "batch": args.batch, "results": rows}, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
