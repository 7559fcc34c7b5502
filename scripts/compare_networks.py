#!/usr/bin/env python
"""Compare score-network variants at equal training steps: per-σ validation loss and the local
geometry of one-shot denoised real chains.

Usage:
    python scripts/compare_networks.py --steps 600 --tokens 1024 --threads 1 \\
        --variant base: --variant local:residue_invariants=true,atom_pair_features=true \\
        --json docs/results/compare_networks.json

Every variant trains from the same seed on the same batches (core Trainer, DSM with EDM weighting,
the protein σ schedule) — only the network options differ.  After training, on ``--val-chains``
validation chains of 60–160 residues, it reports for σ in ``--probe-sigmas``: the EMA model's
denoised estimate x̂₀ = D(x₀ + σ z, σ) and its bond-length MAD (Å), bond-angle MAD (°) and
Ramachandran-allowed fraction — the local geometry a sampler can only be as good as.
A variant is ``name:key=value,...`` over BackboneScoreNet's arguments (on top of ``--base``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proteindsm.core import DSMObjective, GeometricSchedule, TrainConfig, Trainer, ValidationSet  # noqa: E402
from proteindsm.protein.data.batching import BackboneBatches, validation_batches  # noqa: E402
from proteindsm.protein.data.corpus import load_corpus  # noqa: E402
from proteindsm.protein.structure.domain import project_zero_ca_centroid  # noqa: E402
from proteindsm.protein.analysis.evaluate import geometry_summary  # noqa: E402
from proteindsm.protein.model.network import BackboneScoreNet  # noqa: E402

BASE = dict(scalar_channels=32, vector_channels=8, num_layers=3, k_neighbors=16, seq_neighbors=2, lmax=2,
            max_relative_position=32, num_rbf=16, sigma_data=10.0)


def parse_variant(text: str) -> tuple[str, dict]:
    name, _, rest = text.partition(":")
    opts: dict = {}
    for item in filter(None, rest.split(",")):
        k, _, v = item.partition("=")
        opts[k] = {"true": True, "false": False}.get(v.lower(), None)
        if opts[k] is None:
            opts[k] = float(v) if "." in v else int(v)
    return name, opts


@torch.no_grad()
def denoised_geometry(model: torch.nn.Module, chains: list[np.ndarray], sigma: float, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    denoised = []
    for X in chains:
        x = project_zero_ca_centroid(torch.tensor(X, dtype=torch.float32)[None], None)
        noisy = project_zero_ca_centroid(x + sigma * torch.randn(x.shape, generator=g), None)
        x0 = model.denoise(noisy, torch.full((1,), sigma), {"mask": torch.ones(1, x.shape[1], dtype=torch.bool)})
        denoised.append(x0[0].double().numpy())
    st = geometry_summary(denoised)
    return {"bond_length_mad_A": st["bond_length_mad_mean_A"], "bond_angle_mad_deg": st["bond_angle_mad_mean_deg"],
            "ramachandran_allowed": st["ramachandran_allowed_fraction"], "clash_pairs_mean": st["clash_pairs_mean"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="../shared/data/backbones_pdb_nr40.npz")
    ap.add_argument("--variant", action="append", required=True, help="name:key=value,... (repeatable)")
    ap.add_argument("--base", default=None, help="JSON dict of BackboneScoreNet arguments shared by all variants")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--tokens", type=int, default=1024)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--val-chains", type=int, default=16)
    ap.add_argument("--probe-sigmas", type=float, nargs="+", default=[0.1, 0.3, 1.0])
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    base = {**BASE, **(json.loads(args.base) if args.base else {})}
    corpus = load_corpus(args.corpus)
    train_idx, val_idx = corpus.indices("train"), corpus.indices("val")
    schedule = GeometricSchedule(sigma_min=0.02, sigma_max=60.0, num_levels=200, sigma_data=10.0)
    probe_idx = val_idx[(corpus.lengths[val_idx] >= 60) & (corpus.lengths[val_idx] <= 160)][: args.val_chains]
    probe = [corpus.chain(i).astype(np.float32) for i in probe_idx]
    results = {"base": base, "steps": args.steps, "tokens_per_batch": args.tokens, "lr": args.lr,
               "threads": args.threads, "probe_chains": len(probe), "variants": {}}
    for text in args.variant:
        name, opts = parse_variant(text)
        torch.manual_seed(0)
        net = BackboneScoreNet(**{**base, **opts})
        batches = BackboneBatches(corpus, train_idx, tokens_per_batch=args.tokens, crop_length=256, seed=0)
        validation = ValidationSet(validation_batches(corpus, val_idx, num_chains=32, crop_length=256),
                                   schedule.validation_sigmas(8))
        with tempfile.TemporaryDirectory() as tmp:
            cfg = TrainConfig(out_dir=tmp, max_steps=args.steps, lr=args.lr, warmup_steps=min(100, args.steps // 5),
                              log_every=max(1, args.steps // 10), val_every=args.steps, checkpoint_every=args.steps,
                              seed=0, device="cpu", progress=True, ema_decay=0.99, resume=False)
            trainer = Trainer(net, DSMObjective(schedule, project=project_zero_ca_centroid), batches, cfg,
                              validation=validation,
                              metadata={"model_class": "BackboneScoreNet", "model_config": net.config})
            t0 = time.perf_counter()
            res = trainer.fit()
            seconds = time.perf_counter() - t0
            val = [h for h in res.history if "val_loss" in h][-1]
            with trainer.ema.swapped_in(trainer.model) as model:
                model.eval()
                geometry = {f"{s:g}": denoised_geometry(model, probe, s, seed=1) for s in args.probe_sigmas}
        results["variants"][name] = {
            "options": opts, "parameters": sum(p.numel() for p in net.parameters()),
            "train_seconds": round(seconds, 1), "val_loss": val["val_loss"],
            "val_loss_per_sigma": val["val_loss_per_sigma"], "denoised_geometry": geometry}
        print(json.dumps({name: results["variants"][name]}), flush=True)
    print(f"\n{'variant':<12} {'params':>8} {'s':>6} {'val':>7} " +
          " ".join(f"{'bond/ang σ=' + k:>20}" for k in map(lambda s: f"{s:g}", args.probe_sigmas)))
    for name, r in results["variants"].items():
        cells = " ".join(f"{g['bond_length_mad_A']:>11.3f}/{g['bond_angle_mad_deg']:<8.2f}"
                         for g in r["denoised_geometry"].values())
        print(f"{name:<12} {r['parameters']:>8} {r['train_seconds']:>6.0f} {r['val_loss']:>7.4f} {cells}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
