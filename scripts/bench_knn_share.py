#!/usr/bin/env python
"""What share of one network evaluation the k-NN graph takes (would reusing neighbour lists pay?).

    OMP_NUM_THREADS=1 python scripts/bench_knn_share.py [--checkpoint CKPT] [--batch 8] [--length 100] [--repeats 20]

Times the forward pass of the shipped frame network on random coordinates (σ = 1 Å, no labels) and,
inside it, ``knn_sequence_graph`` (the CA k-NN + sequence-neighbour graph); prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import proteindsm.protein.model.frame_network as frame_network  # noqa: E402
from proteindsm.protein.model.checkpoints import load_model  # noqa: E402
from proteindsm.resources import checkpoint_path  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--length", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    model = load_model(checkpoint_path(args.checkpoint)).model.eval()
    spent = [0.0]
    original = frame_network.knn_sequence_graph

    def timed(*a, **k):
        t = time.perf_counter()
        out = original(*a, **k)
        spent[0] += time.perf_counter() - t
        return out

    frame_network.knn_sequence_graph = timed
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, args.length, 4, 3, generator=g) * 10.0
    sigma = torch.full((args.batch,), 1.0)
    with torch.no_grad():
        for _ in range(3):
            model(x, sigma, {})
        spent[0] = 0.0
        t0 = time.perf_counter()
        for _ in range(args.repeats):
            model(x, sigma, {})
        total = (time.perf_counter() - t0) / args.repeats
    knn = spent[0] / args.repeats
    print(json.dumps({"batch": args.batch, "length": args.length, "threads": torch.get_num_threads(),
                      "forward_ms": round(1e3 * total, 2), "knn_graph_ms": round(1e3 * knn, 3),
                      "knn_share": round(knn / total, 4)}))


if __name__ == "__main__":
    main()
