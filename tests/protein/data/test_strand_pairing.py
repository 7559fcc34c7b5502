"""Strand pairing (block adjacency): segments, paired residues on real chains, tokens, user text, batches."""

from __future__ import annotations

import numpy as np
import pytest

from proteindsm.errors import InputError
from proteindsm.protein.data.batching import BackboneBatches
from proteindsm.protein.data.corpus import load_corpus
from proteindsm.protein.data.secondary_structure import SS_UNKNOWN, dssp_to_tokens, parse_ss_string
from proteindsm.protein.data.strand_pairing import (PAIR_ADJACENT, PAIR_APART, PAIR_UNKNOWN, format_pairs,
                                                    pair_tokens, paired_residues, parse_pairs, segment_adjacency,
                                                    strand_segments)


def test_segments_and_tokens_of_a_hairpin_string() -> None:
    tok = parse_ss_string("LLEEEELLEEEELLHHHHLEEEL")
    segs = strand_segments(tok)
    assert segs == [(2, 6), (8, 12), (19, 22)]
    t = pair_tokens(len(tok), segs, [(0, 1)])
    assert t[2, 8] == t[11, 5] == PAIR_ADJACENT
    assert t[2, 19] == t[0, 1] == t[14, 3] == PAIR_APART
    assert (t == t.T).all()
    assert (pair_tokens(len(tok), segs, None) == PAIR_UNKNOWN).all()


def test_paired_residues_find_the_sheet_of_a_real_chain(corpus_path) -> None:
    """In real strand-rich training chains most strand residues have a partner at <= 5.5 A, and every
    adjacent segment pair is found from those residue pairs; helices never pair."""
    corpus = load_corpus(corpus_path)
    idx = corpus.indices("train")[:200]
    strand_res = partnered = 0
    for i in idx:
        o, n = int(corpus.offsets[i]), int(corpus.lengths[i])
        tok = dssp_to_tokens(corpus.dssp[o:o + n])
        pairs = paired_residues(corpus.coords[o:o + n, 1], tok)
        assert (pairs[:, 1] - pairs[:, 0] >= 3).all()
        assert (tok[pairs.ravel()] == 2).all()
        strand_res += int((tok == 2).sum())
        partnered += len(set(pairs.ravel().tolist()))
        adj = segment_adjacency(strand_segments(tok), pairs)
        assert all(s < t for s, t in adj)
    assert strand_res > 1000
    assert partnered / strand_res > 0.8   # measured 0.91 on 400 training chains


def test_parse_and_format_pairs() -> None:
    segs = strand_segments(parse_ss_string("EEELLEEELLEEE"))
    assert parse_pairs("1:2, 3:2", segs) == [(0, 1), (1, 2)]
    assert format_pairs([(0, 1), (1, 2)]) == "1:2/2:3"
    for bad, match in (("1-2", "'1-2'"), ("1:4", "strand 4.*3 strand segment"), ("2:2", "itself"),
                       ("", "empty"), ("a:b", "'a:b'")):
        with pytest.raises(InputError, match=match):
            parse_pairs(bad, segs)


def test_batches_carry_pairs_with_dropout(corpus_path) -> None:
    corpus = load_corpus(corpus_path)
    train = corpus.indices("train")
    full = BackboneBatches(corpus, train, tokens_per_batch=2048, ss_labels=True, strand_pairs=True,
                           pairs_dropout=0.0, ss_dropout={"p_chain": 0.0})
    b = full(3)
    pairs, mask = b.cond["ss_pairs"].numpy(), b.mask.numpy()
    assert pairs.shape == (len(b), b.x.shape[1], b.x.shape[1])
    assert ((pairs != PAIR_UNKNOWN) == (mask[:, :, None] & mask[:, None, :])).all()  # given everywhere real
    assert (pairs == pairs.transpose(0, 2, 1)).all()
    dropped = BackboneBatches(corpus, train, tokens_per_batch=2048, ss_labels=True, strand_pairs=True,
                              pairs_dropout=1.0)
    assert (dropped(3).cond["ss_pairs"].numpy() == PAIR_UNKNOWN).all()
    # chains whose labels are all dropped never keep their pairing
    unlabeled = BackboneBatches(corpus, train, tokens_per_batch=2048, ss_labels=True, strand_pairs=True,
                                pairs_dropout=0.0, ss_dropout={"p_chain": 1.0})
    ub = unlabeled(3)
    assert (ub.cond["ss"].numpy() == SS_UNKNOWN).all() and (ub.cond["ss_pairs"].numpy() == PAIR_UNKNOWN).all()
    with pytest.raises(InputError, match="ss_labels"):
        BackboneBatches(corpus, train, strand_pairs=True)
    # the same step gives the same batch (exact resume)
    assert np.array_equal(full(3).cond["ss_pairs"].numpy(), pairs)
