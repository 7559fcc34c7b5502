#!/usr/bin/env python
"""Do residues that were asked to be strand come out extended, paired, or neither?

Usage: ``python scripts/requested_strand_geometry.py SAMPLES_DIR`` (a ``proteindsm sample`` folder
whose manifest records each backbone's ``ss`` string, e.g. made with ``ss_file=``).

For the residues whose requested label is E: the share with β-region backbone dihedrals
(φ < −45°, and ψ > 90° or ψ < −150°), the share with α-region dihedrals (−120° < φ < −30°,
−80° < ψ < −10°), and the share that DSSP (pydssp, as ``proteindsm evaluate``) calls strand.
Extended but not DSSP E means the strand is there locally but has no partner strand.

For backbones whose manifest entry names strand pairs (``pairs``, e.g. ``ss_file`` lines with
``pairs=1:2/2:3``), also how close the requested partner strands came: per requested pair of strand
segments the closest CA–CA distance between them (median, and the share ≤ 5.5 Å — the pairing
rule of :mod:`proteindsm.protein.data.strand_pairing`), and per residue of a paired segment the
distance from its CA to the nearest CA of the partner segment (median, share ≤ 5.5 Å).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from proteindsm.protein.data.io import read_backbones  # noqa: E402
from proteindsm.protein.data.secondary_structure import parse_ss_string  # noqa: E402
from proteindsm.protein.data.strand_pairing import PAIR_CA_DISTANCE, parse_pairs, strand_segments  # noqa: E402
from proteindsm.protein.structure.geometry import dihedrals  # noqa: E402
from proteindsm.protein.structure.properties import secondary_structure  # noqa: E402


def main() -> None:
    folder = Path(sys.argv[1])
    manifest = json.loads((folder / "manifest.json").read_text())
    beta, alpha, dssp_e = [], [], []
    segment_closest, residue_nearest = [], []
    for entry in manifest["files"]:
        if not entry.get("ss"):
            continue
        (chain,) = read_backbones(folder / entry["file"], max_peptide_bond=float("inf"))[:1]
        X = chain.coords.astype(np.float64)
        phi, psi, _ = (a.numpy() for a in dihedrals(torch.from_numpy(X), degrees=True))
        req = np.array(list(entry["ss"]))
        got = np.array(list(secondary_structure(X)))
        sel = (req == "E") & np.isfinite(phi) & np.isfinite(psi)
        beta += list(((phi < -45) & ((psi > 90) | (psi < -150)))[sel])
        alpha += list(((phi < -30) & (phi > -120) & (psi > -80) & (psi < -10))[sel])
        dssp_e += list((got == "E")[sel])
        if entry.get("pairs"):
            ca = X[:, 1]
            segments = strand_segments(parse_ss_string(entry["ss"]))
            for s, t in parse_pairs(entry["pairs"], segments):
                (a0, a1), (b0, b1) = segments[s], segments[t]
                d = np.linalg.norm(ca[a0:a1, None] - ca[None, b0:b1], axis=-1)
                segment_closest.append(d.min())
                residue_nearest += list(d.min(1)) + list(d.min(0))
    if not beta:
        raise SystemExit(f"{folder}: no residue was requested as E (no ss strings in the manifest?)")
    out = {"residues_requested_E": len(beta), "beta_region": float(np.mean(beta)),
           "alpha_region": float(np.mean(alpha)), "dssp_strand": float(np.mean(dssp_e))}
    if segment_closest:
        seg, res = np.array(segment_closest), np.array(residue_nearest)
        out.update(requested_pairs=len(seg), pair_closest_ca_median_A=round(float(np.median(seg)), 2),
                   pairs_touching=round(float((seg <= PAIR_CA_DISTANCE).mean()), 3),
                   paired_residue_nearest_partner_ca_median_A=round(float(np.median(res)), 2),
                   paired_residues_with_partner=round(float((res <= PAIR_CA_DISTANCE).mean()), 3))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
