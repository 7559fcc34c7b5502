#!/usr/bin/env python
"""Validation loss per σ bucket of score checkpoints, on exactly the validation sets of training.

    python scripts/val_loss.py CHECKPOINT [CHECKPOINT ...] [--corpus ../shared/data/backbones_pdb_nr40.npz]
                               [--val-chains 32] [--json out.json]

Prints one JSON line per checkpoint: ``val`` (plain DSM, no labels, no self-conditioning — comparable
across all models) and, for models with secondary-structure conditioning or self-conditioning,
``val_cond`` (full labels, a self-conditioning pass on every row).  Uses the EMA weights.
"""

from __future__ import annotations

import argparse
import json

import torch

from proteindsm.core import TrainConfig, Trainer
from proteindsm.protein.data.batching import score_validation_sets
from proteindsm.protein.data.corpus import load_corpus
from proteindsm.protein.model.checkpoints import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--corpus", default="../shared/data/backbones_pdb_nr40.npz")
    ap.add_argument("--val-chains", type=int, default=32)
    ap.add_argument("--crop-length", type=int, default=256)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    corpus = load_corpus(args.corpus)
    rows = []
    for path in args.checkpoints:
        loaded = load_model(path)
        cfg = loaded.model.config
        sets = score_validation_sets(corpus, corpus.indices("val"), loaded.schedule, num_chains=args.val_chains,
                                     crop_length=args.crop_length, ss_labels=bool(cfg.get("ss_conditioning")),
                                     self_conditioning=bool(cfg.get("self_conditioning")))
        trainer = Trainer(loaded.model, sets[0].objective, lambda step: None,
                          TrainConfig(out_dir="/nonexistent", device="cpu", resume=False, progress=False))
        row = {"checkpoint": str(path), "step": loaded.metadata.get("step")}
        with torch.no_grad():
            for v in sets:
                row.update(trainer.validate(use_ema=False, validation=v))
        rows.append(row)
        print(json.dumps(row))
    if args.json:
        from proteindsm.fileio import atomic_write_text
        atomic_write_text(args.json, json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
