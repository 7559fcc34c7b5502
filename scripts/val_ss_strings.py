#!/usr/bin/env python
"""Write the DSSP strings (3-state H/E/L) of validation chains as a FASTA file for ``sample ss_file=``.

    python scripts/val_ss_strings.py [--num 48] [--min-length 50] [--max-length 150] [--seed 0] \
        [--out docs/results/val_ss_strings_48.fasta] [--pairs]

The chains are drawn at random (seeded) from the validation split of the corpus; headers name them.
``--pairs``: each string is followed by ``pairs=S:T/...``, the chain's own strand pairing
(proteindsm.protein.data.strand_pairing), for checkpoints with strand-pair conditioning.
"""

from __future__ import annotations

import argparse

import numpy as np

from proteindsm.fileio import atomic_write_text
from proteindsm.protein.data.corpus import load_corpus
from proteindsm.protein.data.secondary_structure import dssp_to_tokens, tokens_to_string
from proteindsm.protein.data.strand_pairing import chain_layout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="../shared/data/backbones_pdb_nr40.npz")
    ap.add_argument("--num", type=int, default=48)
    ap.add_argument("--min-length", type=int, default=50)
    ap.add_argument("--max-length", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="docs/results/val_ss_strings_48.fasta")
    ap.add_argument("--pairs", action="store_true", help="append each chain's strand pairs")
    args = ap.parse_args()
    c = load_corpus(args.corpus)
    val = c.indices("val")
    val = val[(c.lengths[val] >= args.min_length) & (c.lengths[val] <= args.max_length)]
    pick = np.sort(np.random.default_rng(args.seed).choice(val, size=args.num, replace=False))
    lines = []
    for i in pick:
        o, n = c.offsets[i], c.lengths[i]
        tok = dssp_to_tokens(c.dssp[o:o + n])
        text = tokens_to_string(tok)
        if args.pairs:
            layout = chain_layout(c.coords[o:o + n, 1], tok)
            text += f" pairs={layout.pairs_text}" if layout.pairs else ""
        lines += [f">{c.ids[i]} length={n}", text]
    atomic_write_text(args.out, "\n".join(lines) + "\n")
    print(f"wrote {args.num} strings to {args.out}")


if __name__ == "__main__":
    main()
