#!/usr/bin/env python
"""Continue the score-model training campaign on a GPU: one command, a fixed wall-clock budget.

    python scripts/train_gpu.py [--minutes 8] [--corpus ../shared/data/backbones_pdb_nr40.npz]
                                [--experiment protein_frame_multiroll] [--out DIR] [--tokens auto] [--device cuda]
                                [--export PATH]

1. Probes the largest batch that fits: forward + backward of the campaign network (as its resume
   state in ``--out`` records it; the shipped export when there is none yet) in bf16 autocast on
   ``tokens`` residues (chains of 256) for 4k, 8k, ... 64k tokens, stopping at the first out-of-memory
   error, and keeps half of the largest that fitted (headroom for the validation passes); on a CPU
   ``auto`` is the campaign's 1,024.
2. Resumes ``proteindsm train experiment=EXPERIMENT`` (default ``protein_frame_multiroll``, the running
   frame-network campaign, run 7; ``protein_frame_scnbr``: run 6; ``protein_frame_strand``: run 5; ``protein_frame_rollout``: run 4; ``protein_frame_clash``: run 3; ``protein_frame_ld``: run 2; ``protein_frame``: run 1; ``protein_campaign``: the e3nn fine-tune) from ``--out`` (default: the experiment's own
   ``out``) with that batch,
   ``train.precision=bf16`` and ``train.max_minutes`` = the budget, so the CPU campaign and GPU
   sessions share one resume state and one ``metrics.jsonl``.
3. Optionally exports the EMA weights (``--export``).

``--device cpu --tokens 256 --minutes 0.05`` runs the same path at tiny size (tested in
tests/protein/model/test_training.py).  The GPU machine needs the corpus: pass ``--corpus``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml


ROOT = Path(__file__).resolve().parents[1]


def experiment_out(experiment: str) -> str:
    """The ``out:`` folder of ``configs/protein/experiment/EXPERIMENT.yaml``."""
    cfg = yaml.safe_load((ROOT / "configs" / "protein" / "experiment" / f"{experiment}.yaml").read_text())
    return str(cfg["out"])


def probe_tokens(device: str, out: str, candidates=(4096, 8192, 16384, 32768, 65536)) -> int:
    """Largest batch (residues) whose bf16 forward+backward fits, halved for headroom."""
    import torch

    from proteindsm.core import dsm_loss, read_metadata
    from proteindsm.protein.model.checkpoints import SCORE_MODELS, build_model
    from proteindsm.resources import shipped_checkpoint

    # the campaign's network as its resume state (or else the shipped export) records it, freshly initialised
    path = Path(out) / "checkpoint.safetensors"
    if not path.is_file():
        path = shipped_checkpoint("backbone_score_ss.safetensors")
    meta = read_metadata(path)
    fitted = 0
    for tokens in candidates:
        net = build_model(SCORE_MODELS, meta, path).to(device)
        try:
            b = max(1, tokens // 256)
            x = torch.randn(b, 256, 4, 3, device=device) * 10.0
            sigma = torch.full((b,), 1.0, device=device)
            with torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
                loss = dsm_loss(net, x, sigma, torch.randn_like(x), cond={"self_cond": x}).mean()
            loss.backward()
            fitted = tokens
        except torch.cuda.OutOfMemoryError:
            break
        finally:
            del net
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
    return max(fitted // 2, 1024)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=8.0)
    ap.add_argument("--corpus", default="../shared/data/backbones_pdb_nr40.npz")
    ap.add_argument("--experiment", default="protein_frame_multiroll")
    ap.add_argument("--out", default=None, help="resume folder (default: the experiment's out)")
    ap.add_argument("--tokens", default="auto")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--export", default=None)
    ap.add_argument("--lr", type=float, default=None, help="learning rate (default: the campaign's)")
    ap.add_argument("--compile", action="store_true",
                    help="keep the experiment's train.compile (off by default here: compiling costs minutes "
                         "of a short GPU session, untimed on a GPU)")
    args, extra = ap.parse_known_args()

    out = args.out or experiment_out(args.experiment)
    t0 = time.time()
    if args.tokens != "auto":
        tokens = int(args.tokens)
    elif args.device.startswith("cuda"):
        tokens = probe_tokens(args.device, out)
    else:  # nothing to probe on a CPU (no out-of-memory limit worth finding): the campaign's batch
        tokens = 1024
    print(json.dumps({"tokens_per_batch": tokens, "probe_seconds": round(time.time() - t0, 1)}), flush=True)
    overrides = [f"experiment={args.experiment}", f"device={args.device}", f"out={out}",
                 f"data.path={args.corpus}", f"data.tokens_per_batch={tokens}", "train.precision=bf16",
                 f"train.max_minutes={args.minutes}", "train.progress=false", "train.log_every=50",
                 "train.val_every=1000", "train.checkpoint_every=200"]
    if args.lr is not None:
        overrides.append(f"train.lr={args.lr}")
    if not args.compile:
        overrides.append("train.compile=false")
    if args.export:
        overrides.append(f"export={args.export}")
    # the `proteindsm train` command itself, as a user would run it (scripts never import the CLI)
    return subprocess.run([sys.executable, "-m", "proteindsm.cli", "train", *overrides, *extra]).returncode


if __name__ == "__main__":
    sys.exit(main())
