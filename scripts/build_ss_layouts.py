"""Build the ``ss=auto`` layout asset from the training split of a corpus.

    python scripts/build_ss_layouts.py [--corpus ../shared/data/backbones_pdb_nr40.npz] \
        [--out proteindsm/protein/assets/ss_layouts_train.npz]

Writes the 3-state DSSP tokens of every training chain and its paired strand residues (see
proteindsm.protein.data.ss_layouts and .strand_pairing) and prints the secondary-structure make-up of
what it wrote.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from proteindsm.protein.data.corpus import load_corpus
from proteindsm.protein.data.secondary_structure import SS_HELIX, SS_STRAND, dssp_to_tokens
from proteindsm.protein.data.ss_layouts import SSLayouts
from proteindsm.protein.data.strand_pairing import paired_residues


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="../shared/data/backbones_pdb_nr40.npz")
    ap.add_argument("--split", default="train")
    ap.add_argument("--out", default="proteindsm/protein/assets/ss_layouts_train.npz")
    args = ap.parse_args()
    corpus = load_corpus(args.corpus)
    idx = corpus.indices(args.split)
    off = corpus.offsets
    toks = [dssp_to_tokens(corpus.dssp[off[i]: off[i] + corpus.lengths[i]]) for i in idx]
    tokens = np.concatenate(toks).astype(np.uint8)
    starts = np.concatenate([[0], np.cumsum([len(t) for t in toks])[:-1]])
    pairs = np.concatenate([paired_residues(corpus.coords[off[i]: off[i] + corpus.lengths[i], 1], t) + s
                            for i, t, s in zip(idx, toks, starts)])
    layouts = SSLayouts(tokens, corpus.lengths[idx], pairs=pairs)
    path = layouts.save(args.out)
    print(json.dumps({"out": str(path), "chains": int(len(idx)), "residues": int(tokens.size),
                      "helix": round(float((tokens == SS_HELIX).mean()), 4),
                      "strand": round(float((tokens == SS_STRAND).mean()), 4),
                      "paired_residue_pairs": int(len(pairs)), "bytes": path.stat().st_size}))


if __name__ == "__main__":
    main()
