"""Summarise `proteindsm scaffold` runs: one markdown table row per output folder (its report.csv).

Usage: ``python scripts/summarise_scaffold.py DIR [DIR ...] [--first N] [--json OUT.json]``; a folder's name
``<problem>_<mechanism>`` labels its row; arguments without a ``report.csv`` (log files, unfinished
runs) are skipped with a note on stderr.  Columns: scaffolds, motif RMSD median (Å) and fraction
< 1 Å, the worst motif–scaffold peptide-bond deviation (median over scaffolds, Å), mean bond MAD (Å),
fraction with all bonds within 0.1 Å, mean Ramachandran allowed fraction, fraction clash-free,
seconds per backbone, and (where scaffolds tear) the fraction of scaffolds whose worst junction bond
deviates > 0.1 Å and the largest junction deviation of the run (Å).  ``--first N``: only scaffolds
0..N−1 of each folder (the same layouts as a run of N with the same seed), labelled ``run[:N]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path


def summarise(folder: Path, first: int | None = None) -> dict:
    rows = list(csv.DictReader((folder / "report.csv").open()))
    if first is not None and len(rows) > first:
        rows = [r for r in rows if int(r["index"]) < first]
        name = f"{folder.name}[:{first}]"
    else:
        name = folder.name
    f = lambda key: [float(r[key]) for r in rows if r[key] != ""]   # noqa: E731
    rmsd = f("motif_rmsd")
    junction = f("junction_bond_dev")
    return {"run": name, "n": len(rows),
            "motif_rmsd_median": statistics.median(rmsd),
            "fraction_below_1A": sum(v < 1.0 for v in rmsd) / len(rmsd),
            "junction_bond_dev_median": statistics.median(junction) if junction else None,
            "junction_above_0.1A": sum(v > 0.1 for v in junction) / len(junction) if junction else None,
            "junction_bond_dev_max": max(junction) if junction else None,
            "bond_mad_mean": statistics.mean(f("bond_mad")),
            "bonds_within_0.1A": sum(r["bonds_all_within_0.1A"] == "True" for r in rows) / len(rows),
            "rama_mean": statistics.mean(f("rama_allowed")),
            "clash_free": sum(int(r["clash_pairs"]) == 0 for r in rows) / len(rows),
            "seconds_per_backbone": statistics.mean(f("seconds")),
            "lengths": sorted(int(r["length"]) for r in rows)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", type=Path)
    ap.add_argument("--first", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    dirs = [d for d in args.dirs if (d / "report.csv").is_file()]
    for d in args.dirs:
        if d not in dirs:        # a log file or an unfinished run matched by a glob such as runs/x/*_*
            print(f"skipped {d} (no report.csv)", file=sys.stderr)
    if not dirs:
        raise SystemExit("summarise_scaffold: no folder with a report.csv")
    out = [summarise(d, args.first) for d in dirs]
    print("| run | n | motif RMSD median (Å) | < 1 Å | junction bond dev (Å, median) | bond MAD (Å) | "
          "bonds ≤ 0.1 Å | Rama allowed | clash-free | s / backbone | junction > 0.1 Å | junction max (Å) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in out:
        jd = "–" if s["junction_bond_dev_median"] is None else f"{s['junction_bond_dev_median']:.3f}"
        ja = "–" if s["junction_above_0.1A"] is None else f"{s['junction_above_0.1A']:.2f}"
        jm = "–" if s["junction_bond_dev_max"] is None else f"{s['junction_bond_dev_max']:.2f}"
        print(f"| {s['run']} | {s['n']} | {s['motif_rmsd_median']:.2f} | {s['fraction_below_1A']:.2f} | {jd} | "
              f"{s['bond_mad_mean']:.3f} | {s['bonds_within_0.1A']:.2f} | {s['rama_mean']:.3f} | "
              f"{s['clash_free']:.2f} | {s['seconds_per_backbone']:.1f} | {ja} | {jm} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
