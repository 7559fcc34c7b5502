#!/usr/bin/env python
"""The learning curve of a training run: a Markdown table of the validation events and a PNG.

    python scripts/training_log.py [--run data/campaign] [--png docs/figures/training_campaign.png]
                                   [--baseline-json docs/results/val_loss_shipped.json]

Reads ``RUN/metrics.jsonl`` and ``RUN/train_config.json``; counts the residues seen exactly by
replaying the deterministic batches (``BackboneBatches`` is a function of (seed, step)) when the
corpus named in the config is readable, else as steps × tokens_per_batch (an upper bound, marked ≤).
Prints the table (step, residues, wall time, ``val`` and ``val_cond`` loss, per-σ ``val``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def residues_seen(run: Path, steps: list[int], tokens_default: int) -> tuple[dict[int, int], bool]:
    cfg = json.loads((run / "train_config.json").read_text())
    tokens = int(cfg["metadata"].get("data", {}).get("tokens_per_batch", tokens_default))
    try:
        from proteindsm.protein.data.batching import BackboneBatches
        from proteindsm.protein.data.corpus import load_corpus

        data = cfg["metadata"]["data"]
        corpus = load_corpus(data["path"])
        batches = BackboneBatches(corpus, corpus.indices(data["train_split"]),
                                  tokens_per_batch=tokens, crop_length=int(cfg["metadata"]["max_length"]),
                                  max_batch_size=int(data.get("max_batch_size", 64)), seed=int(cfg["train"]["seed"]),
                                  strand_weight=float(cfg["metadata"].get("strand_weight", 0.0)))
        counts, total, done = {}, 0, 0
        for s in sorted(steps):
            for step in range(done, s):
                total += int(batches._sizes_for_step(step))
            done = s
            counts[s] = total
        return counts, True
    except Exception:  # noqa: BLE001 - corpus not here: the upper bound
        return {s: s * tokens for s in steps}, False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="data/campaign")
    ap.add_argument("--png", default="docs/figures/training_campaign.png")
    ap.add_argument("--tokens-per-batch", type=int, default=1024,
                    help="for runs whose train_config.json predates recording it (the campaign: 1024)")
    ap.add_argument("--baseline-json", default=None, help="scripts/val_loss.py output of the starting model")
    ap.add_argument("--every", type=int, default=None,
                    help="table rows only at steps that are multiples of this (and the last); the PNG keeps all")
    args = ap.parse_args()
    run = Path(args.run)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    vals = [r for r in rows if "val_loss" in r]
    elapsed = {r["step"]: r["elapsed_s"] for r in rows if "elapsed_s" in r}
    counts, exact = residues_seen(run, [r["step"] for r in vals], args.tokens_per_batch)
    sigmas = list(vals[0]["val_loss_per_sigma"]) if vals else []
    head = "| step | residues seen | wall time | val | val_cond | " + " | ".join(f"σ={s}" for s in sigmas) + " |"
    print(head)
    print("|" + "---:|" * (5 + len(sigmas)))
    if args.baseline_json:
        base = json.loads(Path(args.baseline_json).read_text())[0]
        print(f"| start | — | — | {base['val_loss']:.4f} | {base.get('val_cond_loss', float('nan')):.4f} | "
              + " | ".join(f"{base['val_loss_per_sigma'][s]:.3f}" for s in sigmas) + " |")
    shown = [r for i, r in enumerate(vals)
             if args.every is None or r["step"] % args.every == 0 or i == len(vals) - 1]
    for r in shown:
        t = elapsed.get(r["step"])
        print(f"| {r['step']} | {'' if exact else '≤ '}{counts[r['step']] / 1e6:.2f} M | "
              f"{'' if t is None else f'{t / 3600:.2f} h'} | {r['val_loss']:.4f} | {r.get('val_cond_loss', float('nan')):.4f} | "
              + " | ".join(f"{r['val_loss_per_sigma'][s]:.3f}" for s in sigmas) + " |")
    if vals and args.png:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
        x = np.array([counts[r["step"]] for r in vals]) / 1e6
        ax[0].plot(x, [r["val_loss"] for r in vals], "o-", label="val (no labels, no self-cond.)")
        ax[0].plot(x, [r.get("val_cond_loss", np.nan) for r in vals], "s-", label="val_cond (labels + self-cond.)")
        ax[0].set_xlabel("residues seen (M)")
        ax[0].set_ylabel("validation loss")
        ax[0].legend(fontsize=8)
        for s in sigmas:
            ax[1].plot(x, [r["val_loss_per_sigma"][s] for r in vals], ".-", label=f"σ={s} Å")
        ax[1].set_xlabel("residues seen (M)")
        ax[1].set_yscale("log")
        ax[1].legend(fontsize=7, ncol=2)
        fig.tight_layout()
        Path(args.png).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.png, dpi=110)
        print(f"\nwrote {args.png}")


if __name__ == "__main__":
    main()
