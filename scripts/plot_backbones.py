#!/usr/bin/env python
"""CA traces of backbones as a PNG grid, coloured by DSSP (helix red, strand gold, coil grey).

Each backbone is drawn in its own principal-axes frame (largest spread horizontal), so sheets and
helices can be told apart at a glance without a 3-D viewer (for that: ``design ... view=true``).

    python scripts/plot_backbones.py runs/beta7/len100_00[0-3].pdb runs/beta7/unguided/len100_000.pdb \\
        --out docs/results/beta_designs_ca_trace.png
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proteindsm.protein.data.io import read_backbones  # noqa: E402
from proteindsm.protein.structure.properties import secondary_structure  # noqa: E402

COLOURS = {"H": "#d62728", "E": "#e6a800", "C": "#7f7f7f"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", help="PDB/mmCIF files (one backbone each)")
    ap.add_argument("--out", required=True, help="PNG path")
    ap.add_argument("--columns", type=int, default=5)
    args = ap.parse_args()

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(args.files)
    cols = min(args.columns, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.5 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, f in zip(axes.flat, args.files):
        (b,) = read_backbones(f)
        ca = b.coords[:, 1].astype(np.float64)
        ca = ca - ca.mean(0)
        _, _, vt = np.linalg.svd(ca, full_matrices=False)
        xy = ca @ vt[:2].T
        ss = secondary_structure(b.coords)
        for i in range(len(ca) - 1):
            ax.plot(xy[i:i + 2, 0], xy[i:i + 2, 1], color=COLOURS.get(ss[i], "k"), lw=2.2 if ss[i] != "C" else 1.2)
        ax.scatter(*xy[0], s=18, color="k", zorder=3)                 # N terminus
        ax.set_aspect("equal")
        frac = {k: ss.count(k) / len(ss) for k in "HE"}
        ax.set_title(f"{Path(f).parent.name}/{Path(f).name}\nhelix {frac['H']:.2f}  strand {frac['E']:.2f}",
                     fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
