"""Summarise `proteindsm scaffold` runs: one markdown table row per output folder (its report.csv).

Usage: ``python scripts/summarise_scaffold.py DIR [DIR ...] [--json OUT.json]``; a folder's name
``<problem>_<mechanism>`` labels its row.  Columns: scaffolds, motif RMSD median (Å) and fraction
< 1 Å, the worst motif–scaffold peptide-bond deviation (median over scaffolds, Å), mean bond MAD (Å),
fraction with all bonds within 0.1 Å, mean Ramachandran allowed fraction, fraction clash-free, and
seconds per backbone.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from pathlib import Path


def summarise(folder: Path) -> dict:
    rows = list(csv.DictReader((folder / "report.csv").open()))
    f = lambda key: [float(r[key]) for r in rows if r[key] != ""]   # noqa: E731
    rmsd = f("motif_rmsd")
    return {"run": folder.name, "n": len(rows),
            "motif_rmsd_median": statistics.median(rmsd),
            "fraction_below_1A": sum(v < 1.0 for v in rmsd) / len(rmsd),
            "junction_bond_dev_median": statistics.median(f("junction_bond_dev")) if f("junction_bond_dev") else None,
            "bond_mad_mean": statistics.mean(f("bond_mad")),
            "bonds_within_0.1A": sum(r["bonds_all_within_0.1A"] == "True" for r in rows) / len(rows),
            "rama_mean": statistics.mean(f("rama_allowed")),
            "clash_free": sum(int(r["clash_pairs"]) == 0 for r in rows) / len(rows),
            "seconds_per_backbone": statistics.mean(f("seconds")),
            "lengths": sorted(int(r["length"]) for r in rows)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", type=Path)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    out = [summarise(d) for d in args.dirs]
    print("| run | n | motif RMSD median (Å) | < 1 Å | junction bond dev (Å, median) | bond MAD (Å) | "
          "bonds ≤ 0.1 Å | Rama allowed | clash-free | s / backbone |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for s in out:
        jd = "–" if s["junction_bond_dev_median"] is None else f"{s['junction_bond_dev_median']:.3f}"
        print(f"| {s['run']} | {s['n']} | {s['motif_rmsd_median']:.2f} | {s['fraction_below_1A']:.2f} | {jd} | "
              f"{s['bond_mad_mean']:.3f} | {s['bonds_within_0.1A']:.2f} | {s['rama_mean']:.3f} | "
              f"{s['clash_free']:.2f} | {s['seconds_per_backbone']:.1f} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
