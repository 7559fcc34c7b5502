#!/usr/bin/env python
"""Scaffolds with and without the final ideal-geometry fit (``ideal_output``), on finished
``proteindsm scaffold`` folders sampled with ``ideal_output=false``:

    python scripts/scaffold_ideal_output.py runs/scaffold16/*_replacement runs/scaffold16b/*_none

Per folder (named ``<problem>_<mechanism>``; the motif is read from docs/results/motifs/): fraction of
scaffolds with every bond within 0.1 Å, clash-free, Ramachandran, the worst motif-junction peptide
bond (median), the motif's rms move under the fit and its RMSD to the motif file, raw vs fitted.
"""
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import csv
import numpy as np
import torch
from pathlib import Path
from proteindsm.protein.data.io import read_backbones
from proteindsm.protein.structure.ideal_fit import fit_ideal_backbone
from proteindsm.protein.structure.geometry import rmsd
from proteindsm.protein.generate.scaffold_sampling import backbone_geometry
from proteindsm.protein.analysis import metrics as M
import json
from proteindsm.protein.generate.motif import read_motif
from proteindsm.protein.generate.contig import parse_contig
probs = {q["name"]: q["contig"] for q in json.load(open("docs/results/motifs/problems.json"))}
for d in map(Path, sys.argv[1:]):
    rows = list(csv.DictReader((d / "report.csv").open()))
    pname = d.name.rsplit("_", 1)[0]
    motif = read_motif(f"docs/results/motifs/{pname}.pdb", parse_contig(probs[pname]))
    ref = torch.tensor(motif.coords.astype(np.float64))
    agg_rm = []
    agg = {k: [] for k in ["raw_bonds", "fit_bonds", "raw_clashfree", "fit_clashfree", "raw_rama", "fit_rama", "motif_move", "max_move", "raw_junc", "fit_junc"]}
    for r in rows:
        X = read_backbones(d / r["file"], max_peptide_bond=float("inf"))[0].coords.astype(np.float64)
        Y = fit_ideal_backbone(torch.tensor(X[None]))[0].numpy()
        pos = [i - 1 for part in r["motif_positions"].split(";") for i in range(int(part.split("-")[0]), int(part.split("-")[1]) + 1)]
        for tag, Z in (("raw", X), ("fit", Y)):
            g = backbone_geometry(Z)
            agg[f"{tag}_bonds"].append(g["bonds_all_within_0.1A"]); agg[f"{tag}_clashfree"].append(g["clash_pairs"] == 0)
            agg[f"{tag}_rama"].append(g["rama_allowed"])
            dev = M.bond_deviations(Z); segs = r["motif_positions"].split(";")
            j = []
            for s in segs:
                a, b = int(s.split("-")[0]), int(s.split("-")[1])
                if a > 1: j.append(dev[a - 2, 3])
                if b < len(Z): j.append(dev[b - 1, 3])
            agg[f"{tag}_junc"].append(max(j) if j else 0.0)
        agg_rm.append((float(r["motif_rmsd"]), float(rmsd(torch.tensor(Y[pos]), ref))))
        agg["motif_move"].append(float(rmsd(torch.tensor(Y[pos]), torch.tensor(X[pos]))))
        agg["max_move"].append(float(np.linalg.norm(Y - X, axis=-1).max()))
    m = lambda k: float(np.mean(agg[k]))
    print(f"{d.name}: n={len(rows)} bonds-all-within raw {m('raw_bonds'):.2f} fit {m('fit_bonds'):.2f} | clash-free raw {m('raw_clashfree'):.2f} fit {m('fit_clashfree'):.2f} | rama raw {m('raw_rama'):.3f} fit {m('fit_rama'):.3f} | junction max dev median raw {np.median(agg['raw_junc']):.3f} fit {np.median(agg['fit_junc']):.3f} | motif move rmsd mean {m('motif_move'):.3f} max {max(agg['motif_move']):.3f} | max atom move {max(agg['max_move']):.2f} | motif rmsd<1 raw {np.mean([a<1 for a,b in agg_rm]):.2f} fit {np.mean([b<1 for a,b in agg_rm]):.2f} median raw {np.median([a for a,b in agg_rm]):.3f} fit {np.median([b for a,b in agg_rm]):.3f}")
