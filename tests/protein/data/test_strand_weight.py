"""Strand-weighted chain sampling of the training batches (``BackboneBatches(strand_weight=a)``):
chains drawn with weight 1 + a * f_E (f_E: DSSP strand share), a = 0 the uniform draw of before."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from proteindsm.errors import InputError
from proteindsm.protein.data.batching import BackboneBatches
from proteindsm.protein.data.corpus import load_corpus
from proteindsm.protein.data.secondary_structure import SS_STRAND, dssp_to_tokens


@pytest.fixture(scope="module")
def corpus(corpus_path):
    return load_corpus(corpus_path)


def _shares(corpus, chains) -> np.ndarray:
    """DSSP strand share of each chain, computed here independently of the batcher."""
    off = corpus.offsets
    return np.array([np.mean(dssp_to_tokens(corpus.dssp[off[i]: off[i] + corpus.lengths[i]]) == SS_STRAND)
                     for i in chains])


def test_zero_weight_draws_the_uniform_batches(corpus) -> None:
    train = corpus.indices("train")
    plain = BackboneBatches(corpus, train, tokens_per_batch=1024, seed=5)
    zero = BackboneBatches(corpus, train, tokens_per_batch=1024, seed=5, strand_weight=0.0)
    for step in (0, 1, 17, 4000):
        assert np.array_equal(plain._choose(step)[0], zero._choose(step)[0])


def test_strand_shares_match_an_independent_count(corpus) -> None:
    chains = corpus.indices("train")[:50]
    b = BackboneBatches(corpus, chains, strand_weight=1.0)
    assert np.allclose(b.strand_shares(chains), _shares(corpus, chains))


def test_chains_are_drawn_in_proportion_to_their_weight(corpus) -> None:
    # one chain per batch (tokens_per_batch = 1): each draw picks chain i with probability w_i / sum(w),
    # so the mean strand share of the drawn chains is sum(w f) / sum(w) (known answer).
    chains = corpus.indices("train")[:400]
    f = _shares(corpus, chains)
    a = 6.0
    w = 1.0 + a * f
    expected, uniform = float((w * f).sum() / w.sum()), float(f.mean())
    assert expected - uniform > 0.03           # the test can tell the two apart
    b = BackboneBatches(corpus, chains, tokens_per_batch=1, strand_weight=a, seed=0)
    drawn = np.concatenate([b._choose(step)[0] for step in range(6000)])
    assert len(drawn) == 6000
    got = float(_shares(corpus, drawn).mean())
    assert abs(got - expected) < 0.01, (got, expected, uniform)   # ~4 standard errors
    # the draw is a pure function of (seed, step): a resumed run sees the same chains
    again = BackboneBatches(corpus, chains, tokens_per_batch=1, strand_weight=a, seed=0)
    assert np.array_equal(again._choose(123)[0], b._choose(123)[0])


def test_bad_strand_weight_is_rejected(corpus) -> None:
    train = corpus.indices("train")
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(InputError, match="data.strand_weight"):
            BackboneBatches(corpus, train, strand_weight=bad)
    without_dssp = dataclasses.replace(corpus, dssp=None)
    with pytest.raises(InputError, match="dssp"):
        BackboneBatches(without_dssp, train, strand_weight=2.0)
    BackboneBatches(without_dssp, train)       # uniform draws need no DSSP
