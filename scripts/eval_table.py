#!/usr/bin/env python
"""A Markdown table of score-model evaluations (``proteindsm evaluate`` JSON files) against the
targets of docs/training.md.

    python scripts/eval_table.py NAME=path/eval.json [NAME=path/eval.json ...]

Columns: one per evaluation, then the real (reference) chains of the first one.
"""

from __future__ import annotations

import json
import sys

ROWS = [  # (label, getter, format, target description)
    ("strand fraction (DSSP E)", lambda g, e: g["strand_fraction_mean"], "{:.3f}", "≥ 0.12"),
    ("helix fraction (DSSP H)", lambda g, e: g["helix_fraction_mean"], "{:.3f}", "within 0.10 of real"),
    ("Ramachandran allowed", lambda g, e: g["ramachandran_allowed_fraction"], "{:.3f}", "≥ 0.93"),
    ("backbones with every bond within 0.1 Å", lambda g, e: g["bonds_all_within_0.1A"], "{:.2f}", "≥ 0.95"),
    ("bond-length MAD (Å)", lambda g, e: g["bond_length_mad_mean_A"], "{:.3f}", ""),
    ("Rg / L^0.4 (Å)", lambda g, e: g["rg_normalised_mean"], "{:.2f}", "within 0.25 of real"),
    ("mean pairwise TM-score", lambda g, e: g["diversity"]["mean_pairwise_tm"], "{:.2f}", "< 0.40"),
    ("clash-free (backbone atoms < 2.5 Å, 3+ apart)", lambda g, e: g["clash_free_fraction"], "{:.2f}", "≥ 0.90 (priors off)"),
    ("N···O < 2.6 Å per 100 residues", lambda g, e: g["short_no_pairs_per_100_residues"], "{:.2f}", ""),
    ("right-handed helical residues", lambda g, e: g["helix_handedness"]["right_handed_fraction"], "{:.3f}", ""),
    ("SS agreement with the requested string", lambda g, e: (e.get("ss_agreement") or {}).get("mean"), "{:.3f}",
     "≥ 0.70 (conditional)"),
]


def main() -> None:
    pairs = [a.split("=", 1) for a in sys.argv[1:]]
    evals = [(name, json.load(open(path))) for name, path in pairs]
    head = "| | " + " | ".join(name for name, _ in evals) + " | real chains | target |"
    print(head)
    print("|---|" + "---:|" * (len(evals) + 1) + "---|")
    for label, get, fmt, target in ROWS:
        cells = []
        for _, e in evals:
            try:
                v = get(e["generated"], e)
                cells.append("—" if v is None else fmt.format(v))
            except (KeyError, TypeError):
                cells.append("—")
        try:
            ref = evals[0][1]["reference"]
            r = get(ref, {})
            ref_cell = "—" if r is None else fmt.format(r)
        except (KeyError, TypeError):
            ref_cell = "—"
        print(f"| {label} | " + " | ".join(cells) + f" | {ref_cell} | {target} |")
    print("| backbones | " + " | ".join(str(e["generated"]["n"]) for _, e in evals) + f" | {evals[0][1]['reference']['n']} | |")


if __name__ == "__main__":
    main()
