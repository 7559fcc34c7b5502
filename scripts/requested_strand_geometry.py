#!/usr/bin/env python
"""Do residues that were asked to be strand come out extended, paired, or neither?

Usage: ``python scripts/requested_strand_geometry.py SAMPLES_DIR`` (a ``proteindsm sample`` folder
whose manifest records each backbone's ``ss`` string, e.g. made with ``ss_file=``), or
``python scripts/requested_strand_geometry.py --real STRINGS_FILE [--corpus NPZ]`` for the real
chains whose strings a ``>ID`` header names (``docs/results/val_ss_strings_pairs_48.txt``): the same
figures on the chains the strings came from.

For the residues whose requested label is E: the share with β-region backbone dihedrals
(φ < −45°, and ψ > 90° or ψ < −150°), the share with α-region dihedrals (−120° < φ < −30°,
−80° < ψ < −10°), and the share that DSSP (pydssp, as ``proteindsm evaluate``) calls strand.
Extended but not DSSP E means the strand is there locally but has no partner strand.

For backbones whose manifest entry names strand pairs (``pairs``, e.g. ``ss_file`` lines with
``pairs=1:2/2:3``), also how close the requested partner strands came: per requested pair of strand
segments the closest CA–CA distance between them (median, and the share ≤ 5.5 Å — the pairing
rule of :mod:`proteindsm.protein.data.strand_pairing`), and per residue of a paired segment the
distance from its CA to the nearest CA of the partner segment (median, share ≤ 5.5 Å).  Of the
residues with a partner CA ≤ 5.5 Å: the share in a ladder with it (a DSSP hydrogen bond, either
direction, between the residue or a sequence neighbour and the partner segment;
:func:`proteindsm.protein.structure.soft_dssp.soft_hbond_map`), and the share whose carbonyl O is
< 3 Å from a carbonyl O of the partner segment (peptide planes facing the wrong way; real chains ~0).
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
from proteindsm.protein.structure.soft_dssp import soft_hbond_map  # noqa: E402

FACING_O_DISTANCE = 3.0   # Å: two carbonyl O closer than this face each other


def sample_entries(folder: Path):
    """(ss string, pairs text or None, coords (L, 4, 3) Å) per backbone of a sample folder."""
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["files"]:
        if entry.get("ss"):
            (chain,) = read_backbones(folder / entry["file"], max_peptide_bond=float("inf"))[:1]
            yield entry["ss"], entry.get("pairs"), chain.coords.astype(np.float64)


def real_entries(strings: Path, corpus_path: str):
    """The same for the real chains named by the ``>ID`` headers of a strings file."""
    from proteindsm.protein.data.corpus import load_corpus

    corpus = load_corpus(corpus_path)
    index = {str(c): i for i, c in enumerate(corpus.ids)}
    chain_id = None
    for line in strings.read_text().splitlines():
        if line.startswith(">"):
            chain_id = line[1:].split()[0]
        elif line.strip():
            fields = line.split()
            pairs = fields[1][len("pairs="):] if len(fields) > 1 else None
            yield fields[0], pairs, corpus.chain(index[chain_id]).astype(np.float64)


def main() -> None:
    if sys.argv[1] == "--real":
        corpus = sys.argv[sys.argv.index("--corpus") + 1] if "--corpus" in sys.argv else "../shared/data/backbones_pdb_nr40.npz"
        entries = real_entries(Path(sys.argv[2]), corpus)
        folder = Path(sys.argv[2])
    else:
        folder = Path(sys.argv[1])
        entries = sample_entries(folder)
    beta, alpha, dssp_e = [], [], []
    segment_closest, residue_nearest, laddered, facing = [], [], [], []
    for ss, pairs_text, X in entries:
        phi, psi, _ = (a.numpy() for a in dihedrals(torch.from_numpy(X), degrees=True))
        req = np.array(list(ss))
        got = np.array(list(secondary_structure(X)))
        sel = (req == "E") & np.isfinite(phi) & np.isfinite(psi)
        beta += list(((phi < -45) & ((psi > 90) | (psi < -150)))[sel])
        alpha += list(((phi < -30) & (phi > -120) & (psi > -80) & (psi < -10))[sel])
        dssp_e += list((got == "E")[sel])
        if pairs_text:
            ca, oxy = X[:, 1], X[:, 3]
            hb = (soft_hbond_map(torch.from_numpy(X).float()[None])[0] > 0).numpy()   # [acceptor, donor]
            hb = hb | hb.T
            segments = strand_segments(parse_ss_string(ss))
            for s, t in parse_pairs(pairs_text, segments):
                (a0, a1), (b0, b1) = segments[s], segments[t]
                d = np.linalg.norm(ca[a0:a1, None] - ca[None, b0:b1], axis=-1)
                segment_closest.append(d.min())
                residue_nearest += list(d.min(1)) + list(d.min(0))
                for (i0, i1), (j0, j1), dist in (((a0, a1), (b0, b1), d), ((b0, b1), (a0, a1), d.T)):
                    for k, i in enumerate(range(i0, i1)):
                        if dist[k].min() <= PAIR_CA_DISTANCE:
                            laddered.append(bool(hb[max(i - 1, 0): i + 2, j0:j1].any()))
                            facing.append(bool((np.linalg.norm(oxy[j0:j1] - oxy[i], axis=-1) < FACING_O_DISTANCE).any()))
    if not beta:
        raise SystemExit(f"{folder}: no residue was requested as E (no ss strings in the manifest?)")
    out = {"residues_requested_E": len(beta), "beta_region": float(np.mean(beta)),
           "alpha_region": float(np.mean(alpha)), "dssp_strand": float(np.mean(dssp_e))}
    if segment_closest:
        seg, res = np.array(segment_closest), np.array(residue_nearest)
        out.update(requested_pairs=len(seg), pair_closest_ca_median_A=round(float(np.median(seg)), 2),
                   pairs_touching=round(float((seg <= PAIR_CA_DISTANCE).mean()), 3),
                   paired_residue_nearest_partner_ca_median_A=round(float(np.median(res)), 2),
                   paired_residues_with_partner=round(float((res <= PAIR_CA_DISTANCE).mean()), 3),
                   with_partner_in_a_ladder=round(float(np.mean(laddered)), 3) if laddered else None,
                   with_partner_carbonyls_facing=round(float(np.mean(facing)), 3) if facing else None)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
