#!/usr/bin/env python
"""Sampling throughput of the image U-Net (images/s) on CPU and, when available, GPU.

    python scripts/bench_image.py                      # CPU (+ CUDA if present), digits and MNIST shapes
    python scripts/bench_image.py --devices cpu --threads 1 --json bench.json

Times the core ``AnnealedLangevin`` sampler (L σ levels × T steps + final denoising, the default
sampler of ``proteindsm image``) on a freshly initialised U-Net with the default model config of
``configs/image/image.yaml`` (speed does not depend on the weight values; ``--checkpoint`` uses a trained
one).  Reports images/s = batch / wall time of one full sampling run (after one warm-up run), and the
score evaluations per second.  Needs only torch (no Hydra), so it runs on a bare GPU machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from proteindsm.core import AnnealedLangevin, GeometricSchedule, prior_sample  # noqa: E402
from proteindsm.image.unet import ImageUNet, UNetConfig, load_unet  # noqa: E402

SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28)}


def default_model_config() -> dict:
    """The ``model:`` section of configs/image/image.yaml (read with PyYAML when present)."""
    try:
        import yaml

        cfg = yaml.safe_load((ROOT / "configs/image/image.yaml").read_text())["model"]
        return {k: v for k, v in cfg.items()}
    except Exception:  # pragma: no cover - PyYAML missing: fall back to the dataclass defaults
        return {}


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def bench(dev: torch.device, shape, batch: int, levels: int, steps: int, model: torch.nn.Module, repeats: int) -> dict:
    sampler = AnnealedLangevin(eps=2e-5, steps_per_level=steps)
    schedule = GeometricSchedule(0.01, 5.0, num_levels=levels)
    sigmas = schedule.levels(device=dev)
    gen = torch.Generator(device=dev).manual_seed(0)

    def once(s=sampler, grid=sigmas) -> float:
        x0 = prior_sample((batch, *shape), schedule.sigma_max, generator=gen, device=dev)
        sync(dev)
        t0 = time.perf_counter()
        s.sample(model, x0, grid, generator=gen)
        sync(dev)
        return time.perf_counter() - t0

    once(AnnealedLangevin(eps=2e-5, steps_per_level=3), sigmas[:2])  # warm-up (allocator, cuDNN autotune)
    times = [once() for _ in range(repeats)]
    best = min(times)
    evals = sampler.num_evaluations(levels)
    return {"batch": batch, "levels": levels, "steps_per_level": steps, "evaluations": evals,
            "seconds": round(best, 3), "images_per_s": round(batch / best, 1), "evals_per_s": round(evals / best, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", nargs="+", default=None, help="cpu and/or cuda (default: cpu, and cuda if present)")
    ap.add_argument("--datasets", nargs="+", default=["digits", "mnist"], choices=list(SHAPES))
    ap.add_argument("--batch", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--gpu-batch", type=int, nargs="+", default=[256, 1024, 4096])
    ap.add_argument("--levels", type=int, default=10)
    ap.add_argument("--steps", type=int, default=100, help="Langevin steps per level T (CPU runs may use fewer)")
    ap.add_argument("--cpu-steps", type=int, default=None, help="T for CPU runs (default --steps)")
    ap.add_argument("--repeats", type=int, default=2, help="timed runs (the best is reported)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--checkpoint", default=None, help="time a trained model instead of the default config")
    ap.add_argument("--channels", type=int, default=None, help="override model.channels")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    mcfg = default_model_config()
    if args.channels:
        mcfg["channels"] = args.channels
    results = []
    for name in args.datasets:
        shape = SHAPES[name]
        if args.checkpoint:
            model, _ = load_unet(args.checkpoint)
        else:
            torch.manual_seed(0)
            model = ImageUNet(UNetConfig(in_channels=shape[0], **mcfg))
        for d in devices:
            dev = torch.device(d)
            m = model.to(dev).eval()
            batches = args.gpu_batch if dev.type == "cuda" else args.batch
            steps = args.cpu_steps if (dev.type == "cpu" and args.cpu_steps) else args.steps
            hw = torch.cuda.get_device_name(dev) if dev.type == "cuda" else \
                f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
            for b in batches:
                r = bench(dev, shape, b, args.levels, steps, m, args.repeats)
                r.update(dataset=name, shape=list(shape), device=hw, parameters=sum(p.numel() for p in m.parameters()),
                         torch=torch.__version__)
                results.append(r)
                print(json.dumps(r), flush=True)
    print("\n| data | device | batch | L×T (+1) | s / run | images/s | evals/s |\n|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['dataset']} {'×'.join(map(str, r['shape']))} | {r['device']} | {r['batch']} | "
              f"{r['levels']}×{r['steps_per_level']} (+1) | {r['seconds']} | {r['images_per_s']} | {r['evals_per_s']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
