#!/usr/bin/env python
"""Scaffolds with and without the final ideal-geometry fit (``ideal_output``), on finished
``proteindsm scaffold`` folders sampled with ``ideal_output=false``, fitted as ``scaffold
ideal_output=true`` does (:func:`~proteindsm.protein.generate.scaffold_sampling.fit_ideal_scaffolds`):

    python scripts/scaffold_ideal_output.py runs/scaffold16/*_replacement runs/scaffold16b/*_none

Per folder (named ``<problem>_<mechanism>``; the motif and contig are read from
docs/results/motifs/): fraction of scaffolds with every bond within 0.1 Å, clash-free, Ramachandran,
the worst motif-junction peptide bond (median), the motif's rms move under the fit and its RMSD to
the motif file, raw vs fitted — the figures of the scaffold report (``backbone_geometry``,
``motif_rmsd``), computed on both versions of each scaffold.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from proteindsm.protein.data.io import read_backbones  # noqa: E402
from proteindsm.protein.generate.contig import Layout, MotifSegment, parse_contig  # noqa: E402
from proteindsm.protein.generate.motif import read_motif  # noqa: E402
from proteindsm.protein.generate.scaffold_sampling import backbone_geometry, fit_ideal_scaffolds, motif_rmsd  # noqa: E402
from proteindsm.protein.structure.geometry import rmsd  # noqa: E402

MOTIFS = REPO / "docs/results/motifs"


def layout_from_report(segments, text: str) -> Layout:
    """The :class:`Layout` a report row's ``layout`` column (e.g. ``21/A20-29/6/A143-152/15``) describes."""
    parts = text.split("/")
    return Layout(tuple(segments), tuple(s.size if isinstance(s, MotifSegment) else int(p)
                                         for s, p in zip(segments, parts)))


def summarise(folder: Path, contigs: dict[str, str]) -> str:
    problem = folder.name.rsplit("_", 1)[0]
    segments = parse_contig(contigs[problem])
    motif = read_motif(MOTIFS / f"{problem}.pdb", segments)
    rows = list(csv.DictReader((folder / "report.csv").open()))
    agg: dict[str, list] = {}
    for r in rows:
        layout = layout_from_report(segments, r["layout"])
        X = read_backbones(folder / r["file"], max_peptide_bond=float("inf"))[0].coords.astype(np.float64)
        Y = fit_ideal_scaffolds(torch.tensor(X[None]), torch.ones(1, len(X), dtype=torch.bool), [layout])[0].numpy()
        for tag, Z in (("raw", X), ("fit", Y)):
            g = backbone_geometry(Z, layout)
            agg.setdefault(f"{tag}_bonds", []).append(g["bonds_all_within_0.1A"])
            agg.setdefault(f"{tag}_clashfree", []).append(g["clash_pairs"] == 0)
            agg.setdefault(f"{tag}_rama", []).append(g["rama_allowed"])
            agg.setdefault(f"{tag}_junc", []).append(g["junction_bond_dev"] or 0.0)
            agg.setdefault(f"{tag}_rmsd", []).append(float(r["motif_rmsd"]) if tag == "raw" else motif_rmsd(Z, motif, layout))
        pos = torch.as_tensor(layout.motif_positions())
        agg.setdefault("motif_move", []).append(float(rmsd(torch.tensor(Y)[pos], torch.tensor(X)[pos])))
        agg.setdefault("max_move", []).append(float(np.linalg.norm(Y - X, axis=-1).max()))

    def m(key: str) -> float:
        return float(np.mean(agg[key]))

    below = {t: np.mean([v < 1 for v in agg[f"{t}_rmsd"]]) for t in ("raw", "fit")}
    return (f"{folder.name}: n={len(rows)} bonds-all-within raw {m('raw_bonds'):.2f} fit {m('fit_bonds'):.2f} | "
            f"clash-free raw {m('raw_clashfree'):.2f} fit {m('fit_clashfree'):.2f} | "
            f"rama raw {m('raw_rama'):.3f} fit {m('fit_rama'):.3f} | junction max dev median raw "
            f"{np.median(agg['raw_junc']):.3f} fit {np.median(agg['fit_junc']):.3f} | motif move rmsd mean "
            f"{m('motif_move'):.3f} max {max(agg['motif_move']):.3f} | max atom move {max(agg['max_move']):.2f} | "
            f"motif rmsd<1 raw {below['raw']:.2f} fit {below['fit']:.2f} median raw "
            f"{np.median(agg['raw_rmsd']):.3f} fit {np.median(agg['fit_rmsd']):.3f}")


def main() -> None:
    folders = [Path(a) for a in sys.argv[1:] if (Path(a) / "report.csv").is_file()]
    if not folders:
        raise SystemExit(__doc__)
    contigs = {q["name"]: q["contig"] for q in json.loads((MOTIFS / "problems.json").read_text())}
    for d in folders:
        print(summarise(d, contigs), flush=True)


if __name__ == "__main__":
    main()
