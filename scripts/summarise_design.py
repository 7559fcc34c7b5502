#!/usr/bin/env python
"""Summarise `proteindsm design` runs: one Markdown table row per output folder.

Usage: ``python scripts/summarise_design.py DIR [DIR ...] [--json OUT.json]``.  Each DIR is a
``proteindsm design`` folder with ``design_report.csv`` and ``eval.json`` files from
``proteindsm evaluate`` for the guided set (``DIR/eval.json``) and its unguided twins
(``DIR/unguided/eval.json``).  Columns: the property and target, measured guided mean ± sd (exact
measure of the report) and unguided mean, the ratio of mean absolute errors (guided / unguided),
then guided / unguided geometry (bond MAD, Ramachandran allowed, clash-free, every bond within
0.1 Å, DSSP helix and strand) and whether the case is met under the margins of
``scripts/design_benchmark.py`` (``MARGINS``).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from design_benchmark import MARGINS  # noqa: E402

RATIO_BAR = 0.5
"""A case is met when guided / unguided mean absolute error ≤ this (docs/design.md)."""


def geometry(path: Path) -> dict:
    g = json.loads(path.read_text())["generated"]
    return {"bond_mad": g["bond_length_mad_mean_A"], "rama": g["ramachandran_allowed_fraction"],
            "clash_free": g["clash_free_fraction"], "bonds_ok": g["bonds_all_within_0.1A"],
            "helix": g["helix_fraction_mean"], "strand": g["strand_fraction_mean"]}


def summarise(folder: Path) -> dict:
    rows = list(csv.DictReader((folder / "design_report.csv").open()))
    measured = [float(r["measured"]) for r in rows]
    unguided = [float(r["unguided_measured"]) for r in rows]
    err = statistics.mean(float(r["abs_error"]) for r in rows)
    base_err = statistics.mean(float(r["unguided_abs_error"]) for r in rows)
    guided_g, base_g = geometry(folder / "eval.json"), geometry(folder / "unguided" / "eval.json")
    ratio = err / base_err if base_err > 0 else float("inf")
    fails = []
    if ratio > RATIO_BAR:
        fails.append(f"ratio {ratio:.2f}")
    if guided_g["bond_mad"] > base_g["bond_mad"] + MARGINS["bond_mad"]:
        fails.append("bond MAD")
    if guided_g["rama"] < base_g["rama"] - MARGINS["rama"]:
        fails.append(f"Rama {guided_g['rama'] - base_g['rama']:+.3f}")
    if guided_g["clash_free"] < base_g["clash_free"] - MARGINS["clash_free"]:
        fails.append(f"clash-free {guided_g['clash_free'] - base_g['clash_free']:+.2f}")
    return {"case": folder.name, "property": rows[0]["property"], "target": float(rows[0]["target"]), "n": len(rows),
            "measured_mean": statistics.mean(measured), "measured_sd": statistics.pstdev(measured),
            "unguided_mean": statistics.mean(unguided), "ratio": ratio, "guided": guided_g, "unguided": base_g,
            "met": not fails, "fails": fails}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", type=Path)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    out = []
    print("| case | target | measured guided | unguided | ratio | bond MAD Å | Rama allowed | clash-free | "
          "bonds ≤ 0.1 Å | helix | strand | |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for d in args.dirs:
        if not (d / "design_report.csv").exists():
            print(f"skipped {d} (no design_report.csv)", file=sys.stderr)
            continue
        r = summarise(d)
        out.append(r)
        g, u = r["guided"], r["unguided"]
        pair = lambda k, f: f"{g[k]:{f}} / {u[k]:{f}}"  # noqa: E731
        print(f"| {r['case']} | {r['property']} {r['target']:g} | {r['measured_mean']:.3f} ± {r['measured_sd']:.3f} | "
              f"{r['unguided_mean']:.3f} | {r['ratio']:.2f} | {pair('bond_mad', '.4f')} | {pair('rama', '.3f')} | "
              f"{pair('clash_free', '.2f')} | {pair('bonds_ok', '.2f')} | {pair('helix', '.3f')} | "
              f"{pair('strand', '.3f')} | {'met' if r['met'] else 'not met (' + ', '.join(r['fails']) + ')'} |")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
