#!/usr/bin/env python
"""Secondary structure of the new segments, Rg/L^0.4, Ramachandran, clash-free and junction deviation
of scaffold runs (one JSON line per folder of runs/scaffold_ss/): the ss= and design-target
checks of docs/scaffold.md.

    python scripts/summarise_scaffold_ss.py [FOLDER] > docs/results/scaffold/ss_and_targets_helix.jsonl
"""
import csv
import json
import sys
from pathlib import Path
import numpy as np
from proteindsm.protein.data.io import read_backbones
from proteindsm.protein.structure.properties import secondary_structure, rg_normalised
rows = []
ROOT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs/scaffold_ss")
for d in sorted(ROOT.iterdir()):
    if not (d / "report.csv").is_file():
        continue
    rep = list(csv.DictReader((d / "report.csv").open()))
    h = e = n = 0; rgs = []; rama = []; clash = []; junc = []
    for r in rep:
        X = read_backbones(d / r["file"], max_peptide_bond=1e9)[0].coords
        ss = secondary_structure(X)
        motif = set()
        for span in r["motif_positions"].split(";"):
            a, b = map(int, span.split("-"))
            motif.update(range(a - 1, b))
        new = [c for i, c in enumerate(ss) if i not in motif]
        h += new.count("H"); e += new.count("E"); n += len(new)
        rgs.append(rg_normalised(X)); rama.append(float(r["rama_allowed"])); clash.append(int(r["clash_pairs"]) == 0)
        junc.append(float(r["junction_bond_dev"]))
    rows.append({"run": d.name, "n": len(rep), "new_helix": round(h / n, 3), "new_strand": round(e / n, 3),
                 "rg_normalised": round(float(np.mean(rgs)), 2), "rama": round(float(np.mean(rama)), 3),
                 "clash_free": round(float(np.mean(clash)), 2), "junction_dev_median": round(float(np.median(junc)), 3)})
for r in rows:
    print(json.dumps(r))
