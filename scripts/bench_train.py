#!/usr/bin/env python
"""Benchmark protein score-model training: steps/s and peak memory vs length and batch size, for
the e3nn network and a plain-torch EGNN of equal width (speed baseline).

Usage:
    python scripts/bench_train.py [--device cpu|cuda] [--lengths 64 128 256] [--batch-sizes 1 8]
                                  [--steps 5] [--network e3nn_small] [--json out.json]

Each measurement: ``--steps`` full optimiser steps (DSM loss forward + backward + AdamW) on random
real-looking chains after one warm-up step.  Peak memory: CUDA max allocated on GPU; max-RSS growth
on CPU.
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
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proteindsm.core import GeometricSchedule, dsm_loss  # noqa: E402
from proteindsm.protein.structure.domain import project_zero_ca_centroid  # noqa: E402
from proteindsm.protein.model.egnn_baseline import EGNNBaseline  # noqa: E402
from proteindsm.protein.model.checkpoints import SCORE_MODELS  # noqa: E402
from proteindsm.protein.model.network import BackboneScoreNet  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def random_backbones(B: int, L: int, gen: torch.Generator) -> torch.Tensor:
    """Random-walk CA trace with 3.8 Å steps and N/C/O offsets: (B, L, 4, 3) Å, centred."""
    steps = torch.randn(B, L, 3, generator=gen)
    ca = torch.cumsum(3.8 * steps / steps.norm(dim=-1, keepdim=True), dim=1)
    offs = torch.tensor([[-1.2, 0.8, 0.0], [0.0, 0.0, 0.0], [1.2, 0.8, 0.0], [1.5, 2.0, 0.0]])
    x = ca[:, :, None, :] + offs
    return x - x[:, :, 1:2].mean(1, keepdim=True)


def bench(model: torch.nn.Module, B: int, L: int, steps: int, device: torch.device,
          self_conditioning_rate: float = 0.0, warmup: int = 1) -> tuple[float, float]:
    """Optimiser steps/s and peak memory; a self-conditioned network gets the campaign's extra
    gradient-free pass on a fraction ``self_conditioning_rate`` of the rows, and random labels."""
    gen = torch.Generator().manual_seed(0)
    sched = GeometricSchedule(0.02, 60.0, sigma_data=10.0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = random_backbones(B, L, gen).to(device)
    mask = torch.ones(B, L, dtype=torch.bool, device=device)

    def step() -> None:
        sigma = sched.sample_training_sigmas(B, gen).to(device)
        noise = torch.randn(x.shape, generator=gen).to(device)
        cond = {"mask": mask}
        if getattr(model, "config", {}).get("ss_conditioning"):
            cond["ss"] = torch.randint(0, 4, (B, L), generator=gen).to(device)
        if getattr(model, "config", {}).get("pair_conditioning"):  # two paired 8-residue strands per chain
            pairs = torch.ones(B, L, L, dtype=torch.long)
            pairs[:, 10:18, 30:38] = 2
            pairs[:, 30:38, 10:18] = 2
            cond["ss_pairs"] = pairs.to(device)
        rows = (torch.rand(B, generator=gen) < self_conditioning_rate).to(device) if self_conditioning_rate > 0 else None
        loss = dsm_loss(model, x, sigma, noise, mask=mask, cond=cond, project=project_zero_ca_centroid,
                        weight=sched.loss_weight(sigma), self_condition=rows).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(warmup):  # a compiled network compiles its graphs here
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    dt = (time.perf_counter() - t0) / steps
    mem = (torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda"
           else (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024)
    return 1.0 / dt, mem


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--lengths", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--network", default="e3nn_small")
    ap.add_argument("--compare", nargs="+", default=None,
                    help="instead of e3nn vs EGNN: these network configs side by side (e.g. e3nn_local_small "
                         "e3nn_local_ss e3nn_local_cpu); self-conditioned ones at --self-conditioning-rate")
    ap.add_argument("--self-conditioning-rate", type=float, default=0.5)
    ap.add_argument("--compile", action="store_true",
                    help="torch.compile each network (nn.Module.compile, dynamic shapes) as train.compile=true does")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    device = torch.device(args.device)
    def load_cfg(name: str) -> dict:
        cfg = yaml.safe_load((ROOT / "configs/protein/network" / f"{name}.yaml").read_text())
        cfg.pop("_target_")
        if isinstance(cfg.get("sigma_data"), str):  # the ${schedule.sigma_data} interpolation
            cfg["sigma_data"] = 10.0
        return cfg

    def build(name: str) -> torch.nn.Module:
        target = yaml.safe_load((ROOT / "configs/protein/network" / f"{name}.yaml").read_text())["_target_"]
        return SCORE_MODELS[target.rsplit(".", 1)[1]](**load_cfg(name))

    cfg = load_cfg(args.network)
    if args.compare:
        models = {name: build(name) for name in args.compare}
    else:
        egnn_cfg = {k: cfg[k] for k in ("num_layers", "k_neighbors", "seq_neighbors", "max_relative_position",
                                         "num_rbf", "sigma_data")}
        models = {"e3nn (ours)": BackboneScoreNet(**cfg),
                  "EGNN baseline": EGNNBaseline(hidden_channels=cfg["scalar_channels"], **egnn_cfg)}
    rows = []
    for name, model in models.items():
        model.to(device)
        if args.compile:
            model.compile(dynamic=True)
        n_params = sum(p.numel() for p in model.parameters())
        for L in args.lengths:
            for B in args.batch_sizes:
                rate = args.self_conditioning_rate if getattr(model, "config", {}).get("self_conditioning") else 0.0
                sps, mem = bench(model, B, L, args.steps, device, rate, warmup=3 if args.compile else 1)
                rows.append({"model": name, "params": n_params, "length": L, "batch_size": B,
                             "steps_per_s": round(sps, 3), "residues_per_s": round(sps * B * L, 1),
                             "peak_mem_MiB": round(mem, 1)})
                print(f"{name:16s} params={n_params:8d} L={L:4d} B={B:3d} {sps:8.3f} steps/s "
                      f"{sps * B * L:10.1f} res/s  peak {mem:8.1f} MiB", flush=True)
    info = {"device": str(device), "hardware": torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)",
            "torch": torch.__version__, "network": args.network, "compile": bool(args.compile), "rows": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
