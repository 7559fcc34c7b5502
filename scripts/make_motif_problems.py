"""Cut motif-scaffolding problems from VALIDATION chains of the corpus (never training chains).

Writes one PDB per problem under ``docs/results/motifs/`` — the whole validation chain as chain A,
residues numbered 1..L, with its residue names — and ``problems.json`` with each problem's contig
(for ``proteindsm scaffold motif=... contig=...``).  Problems (deterministic: the first validation
chain, in id order, that has one):

* ``helix``: 14 residues from the middle of a DSSP helix (H) of >= 18 residues;
* ``hairpin``: a beta-hairpin, strand (E, >= 5) + turn of 2-5 residues + strand (E, >= 5), the strands
  paired (CA-CA < 5.5 Å across the turn's ends), 5 residues of each strand with the turn;
* ``two_helices``: two helices of 10 residues each (from H runs >= 12), >= 20 residues apart in
  sequence and packed (closest CA-CA < 7 Å), scaffolded as two motif segments;
* ``helix_loop_helix``: 8 helix residues + a loop of 2-6 + 8 helix residues, one segment;
* ``three_segments``: three packed 6-residue pieces of helices/strands, >= 10 apart in sequence;
* ``large``: a contiguous 32-residue motif with helix and strand (>= 60 % H or E).

Usage: ``python scripts/make_motif_problems.py [--corpus ../shared/data/backbones_pdb_nr40.npz]``
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

import numpy as np

from proteindsm.protein.data.io import write_pdb

REPO = Path(__file__).resolve().parents[1]


def val_chains(corpus: Path, min_len: int = 60, max_len: int = 200):
    d = np.load(corpus)
    lengths, ids, split = d["lengths"], d["ids"].astype(str), d["split"].astype(str)
    off = np.concatenate([[0], np.cumsum(lengths)])
    coords, seq, dssp = d["coords"], d["seq"], d["dssp"]
    for i in sorted(np.flatnonzero(split == "val"), key=lambda k: ids[k]):
        if min_len <= lengths[i] <= max_len:
            a, b = off[i], off[i + 1]
            yield (ids[i], coords[a:b].astype(np.float32), b"".join(seq[a:b]).decode(),
                   b"".join(dssp[a:b]).decode())


def runs(ss: str, letter: str, min_len: int):
    return [(m.start(), m.end()) for m in re.finditer(f"{letter}{{{min_len},}}", ss)]


def find_helix(ss, X):
    for a, b in runs(ss, "H", 18):
        mid = (a + b) // 2
        return [(mid - 7, mid + 7)]
    return None


def find_hairpin(ss, X):
    for m in re.finditer(r"E{5,}([^E]{2,5})E{5,}", ss):
        t0, t1 = m.start(1), m.end(1)              # turn residues t0 .. t1-1
        ca = X[:, 1]
        if np.linalg.norm(ca[t0 - 1] - ca[t1]) < 5.5 and np.linalg.norm(ca[t0 - 3] - ca[t1 + 2]) < 5.5:
            return [(t0 - 5, t1 + 5)]
    return None


def find_two_helices(ss, X):
    ca = X[:, 1]
    hel = [(a, b) for a, b in runs(ss, "H", 12)]
    for i, (a1, b1) in enumerate(hel):
        for a2, b2 in hel[i + 1:]:
            s1, s2 = (a1 + b1) // 2 - 5, (a2 + b2) // 2 - 5
            if s2 - (s1 + 10) < 20:
                continue
            d = np.linalg.norm(ca[s1:s1 + 10, None] - ca[None, s2:s2 + 10], axis=-1)
            if d.min() < 7.0:
                return [(s1, s1 + 10), (s2, s2 + 10)]
    return None


def find_helix_loop_helix(ss, X):
    for m in re.finditer(r"H{8,}([^H]{2,6})H{8,}", ss):
        t0, t1 = m.start(1), m.end(1)              # loop residues t0 .. t1-1
        return [(t0 - 8, t1 + 8)]
    return None


def find_three_segments(ss, X):
    """Three 6-residue pieces of helices or strands (runs >= 6), >= 10 residues apart in sequence,
    each pair packed (closest CA-CA < 7 Å)."""
    ca = X[:, 1]
    pieces = [((a + b) // 2 - 3, (a + b) // 2 + 3) for a, b in sorted(runs(ss, "H", 6) + runs(ss, "E", 6))]

    def packed(p, q):
        return np.linalg.norm(ca[p[0]:p[1], None] - ca[None, q[0]:q[1]], axis=-1).min() < 7.0

    for i, p in enumerate(pieces):
        for j, q in enumerate(pieces[i + 1:], i + 1):
            if q[0] - p[1] < 10 or not packed(p, q):
                continue
            for r in pieces[j + 1:]:
                if r[0] - q[1] >= 10 and packed(p, r) and packed(q, r):
                    return [p, q, r]
    return None


def find_large(ss, X):
    """A contiguous 32-residue motif (>= 30 residues) with both helix and strand, >= 60 % H or E."""
    for a in range(0, len(ss) - 32):
        w = ss[a:a + 32]
        if "H" in w and "E" in w and (w.count("H") + w.count("E")) >= 0.6 * 32:
            return [(a, a + 32)]
    return None


def contig_for(name, segs, X):
    """New segments of 15-25 residues at the ends; between two motif segments a range that can
    bridge the gap (>= the CA-CA end distance / 3.3 Å per residue)."""
    parts = ["15-25"]
    for k, (a, b) in enumerate(segs):
        parts.append(f"A{a + 1}-{b}")
        if k + 1 < len(segs):
            gap = np.linalg.norm(X[b - 1, 1] - X[segs[k + 1][0], 1])
            lo = max(5, math.ceil(gap / 3.3))
            parts.append(f"{lo}-{lo + 10}")
    parts.append("15-25")
    return "/".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=str(REPO.parent / "shared/data/backbones_pdb_nr40.npz"))
    ap.add_argument("--out", default=str(REPO / "docs/results/motifs"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    finders = {"helix": find_helix, "hairpin": find_hairpin, "two_helices": find_two_helices,
               "helix_loop_helix": find_helix_loop_helix, "three_segments": find_three_segments,
               "large": find_large}
    problems = []
    for name, find in finders.items():
        for cid, X, seq, ss in val_chains(Path(args.corpus)):
            segs = find(ss, X)
            if segs:
                break
        else:
            raise SystemExit(f"no validation chain has a {name} motif")
        path = write_pdb(out / f"{name}.pdb", X, seq=seq)
        problems.append({"name": name, "source_chain": cid, "split": "val", "file": str(path.relative_to(REPO)),
                         "contig": contig_for(name, segs, X),
                         "motif_residues": sum(b - a for a, b in segs),
                         "motif_ss": "/".join(ss[a:b] for a, b in segs)})
        print(f"{name}: {cid} contig={problems[-1]['contig']} ss={problems[-1]['motif_ss']}")
    (out / "problems.json").write_text(json.dumps(problems, indent=2) + "\n")


if __name__ == "__main__":
    main()
