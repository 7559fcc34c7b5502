"""β-sheet blueprints: layout, restraint energy (known values, invariance, gradient) and projection."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from proteindsm.core import Evaluation
from proteindsm.errors import InputError
from proteindsm.protein.generate.sheet_blueprint import (BLUEPRINT_ITERATIONS, BLUEPRINT_STEP, HAIRPIN_LOOP,
                                                blueprint_distances, blueprint_energy, blueprint_guidance,
                                                meander_blueprint)
from tests.equivariance import assert_equivariant


def test_meander_layout_for_forty_percent_of_a_hundred_residues():
    bp = meander_blueprint(100, 0.4)
    assert bp.strands == ((26, 34), (36, 44), (46, 54), (56, 64), (66, 74))   # 5 × 8, centred, 2-residue turns
    assert bp.strand_residues == 40
    assert all(b0 - a1 == HAIRPIN_LOOP for (_, a1), (b0, _) in zip(bp.strands[:-1], bp.strands[1:]))
    ca_pairs = {(int(i), int(j)): (lo, hi) for i, a, j, b, lo, hi in
                zip(bp.res_i, bp.atom_i, bp.res_j, bp.atom_j, bp.lower, bp.upper) if a == 1 and b == 1}
    # the turn's neighbours (33, 36) are an H-bonded pair (wide), the next pair (32, 37) non-bonded (narrow)
    assert ca_pairs[(33, 36)] == (4.9, 5.8) and ca_pairs[(32, 37)] == (4.2, 4.9) and ca_pairs[(31, 38)] == (4.9, 5.8)
    assert ca_pairs[(26, 28)] == (6.1, 7.0)                    # extended strand: CA(i)–CA(i+2)
    hbonds = {(int(i), int(j)) for i, a, j, b in zip(bp.res_i, bp.atom_i, bp.res_j, bp.atom_j) if a == 0 and b == 3}
    assert {(33, 36), (36, 33), (31, 38), (38, 31)} <= hbonds and (32, 37) not in hbonds
    # 4 hairpins × (4 bonded × 3 + 4 non-bonded) + 5 strands × 6 (i, i+2)
    assert len(bp.lower) == 4 * (4 * 3 + 4) + 5 * 6
    assert np.all(bp.res_i < 100) and np.all(bp.res_j < 100)


@pytest.mark.parametrize("length, fraction, strand_length, message", [
    (30, 0.95, 8, "does not fit 30 residues"), (12, 0.2, 8, "at least 4 residues per strand"),
    (100, 1.2, 8, "sheet.fraction must be in"), (100, 0.4, 2, "sheet.strand_length must be")])
def test_meander_rejects_layouts_that_cannot_exist(length, fraction, strand_length, message):
    with pytest.raises(InputError, match=message):
        meander_blueprint(length, fraction, strand_length)


def test_energy_known_values():
    bp = meander_blueprint(40, 0.4)
    x = torch.zeros(1, 40, 4, 3, dtype=torch.float64)         # every atom at one point: d = 0 < lower
    assert float(blueprint_energy(x, blueprint=bp)) == pytest.approx(float((bp.lower ** 2).sum()), rel=1e-5)
    # a straight chain along x with 3.8 Å per residue: CA(i)–CA(j) = 3.8 |i − j|, N/O on the CA
    x = torch.zeros(1, 40, 4, 3, dtype=torch.float64)
    x[..., 0] = 3.8 * torch.arange(40, dtype=torch.float64)[None, :, None]
    d = 3.8 * np.abs(bp.res_i - bp.res_j)
    want = (np.maximum(bp.lower - d, 0) ** 2 + np.maximum(d - bp.upper, 0) ** 2).sum()
    assert float(blueprint_energy(x, blueprint=bp)) == pytest.approx(want, rel=1e-9)
    assert torch.allclose(blueprint_distances(x, bp)[0], torch.as_tensor(d), atol=1e-5)


def test_energy_is_rotation_and_translation_invariant_and_differentiable():
    bp = meander_blueprint(40, 0.4)
    g = torch.Generator().manual_seed(0)
    x = 6.0 * torch.randn(3, 40, 4, 3, generator=g, dtype=torch.float64)
    assert_equivariant(lambda y: blueprint_energy(y, blueprint=bp), x, kind="invariant", rtol=1e-10)
    xg = x[:1].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda y: blueprint_energy(y, blueprint=bp), (xg,))


def test_wrong_shape_or_length_is_one_clear_error():
    bp = meander_blueprint(40, 0.4)
    with pytest.raises(InputError, match="blueprint is for 40 residues"):
        blueprint_energy(torch.zeros(1, 41, 4, 3), blueprint=bp)
    with pytest.raises(InputError, match=r"\(B, L, 4, 3\)"):
        blueprint_energy(torch.zeros(41, 4, 3), blueprint=bp)


def test_projection_lands_a_perturbed_sheet_back_on_the_blueprint():
    """The design term at w = 1 with the shipped step/iterations: a backbone on the blueprint
    (found by long descent from a random coil) moved 0.3 Å per coordinate — what the model's pull
    does between steps — lands back within 0.05 Å of every restraint range."""
    from proteindsm.core.guidance import descend

    bp = meander_blueprint(100, 0.4)
    g = torch.Generator().manual_seed(1)
    steps = 3.8 * torch.nn.functional.normalize(torch.randn(100, 3, generator=g), dim=-1)
    coil = (steps.cumsum(0)[:, None, :] + 0.7 * torch.randn(100, 4, 3, generator=g))[None]
    energy = lambda y, cond=None: blueprint_energy(y, blueprint=bp)      # noqa: E731
    on_sheet = descend(energy, coil, None, BLUEPRINT_STEP, 2000)
    assert float(energy(coil)) > 1000.0 and float(energy(on_sheet)) < 1e-6
    x0 = on_sheet + 0.3 * torch.randn(on_sheet.shape, generator=g)
    assert float(energy(x0)) > 3.0
    term = blueprint_guidance(bp, scale=1.0, sigma_max=10.0)
    sigma = torch.tensor([0.5])
    moved = x0 + 0.25 * term(Evaluation.at(x0, sigma, None, torch.zeros_like(x0)))    # base score 0: x̂₀ = x
    d = blueprint_distances(moved, bp)[0].numpy()
    assert np.all(d > bp.lower - 0.05) and np.all(d < bp.upper + 0.05), (BLUEPRINT_STEP, BLUEPRINT_ITERATIONS)
    assert torch.equal(term(Evaluation.at(x0, torch.tensor([11.0]), None, torch.zeros_like(x0))), torch.zeros_like(x0))


def test_distance_ranges_cover_real_two_residue_hairpins(corpus_path):
    """The ranges are those of real 2:2 β-hairpins (DSSP `EE··EE` with the turn's neighbours paired)
    in the validation chains: most real distances of each kind lie inside the blueprint's range."""
    from proteindsm.protein.data.corpus import load_corpus
    from proteindsm.protein.generate.sheet_blueprint import HBOND_N_O, HBONDED_CA, NONBONDED_CA, STRAND_CA_I_I2

    corpus = load_corpus(corpus_path)
    kinds: dict[str, list[float]] = {"hb_ca": [], "n_o": [], "nb_ca": [], "i_i2": []}
    for idx in corpus.indices("val"):
        X = corpus.chain(idx).astype(np.float64)
        ss = bytes(corpus.dssp[corpus.offsets[idx]:corpus.offsets[idx + 1]]).decode()
        for k in range(2, len(ss) - 5):
            if ss[k - 1:k + 1] == "EE" and "E" not in ss[k + 1:k + 3] and ss[k + 3:k + 5] == "EE":
                a, b = k, k + 3
                if np.linalg.norm(X[a, 1] - X[b, 1]) > 7.0:          # not paired across the turn
                    continue
                kinds["hb_ca"].append(np.linalg.norm(X[a, 1] - X[b, 1]))
                kinds["n_o"] += [np.linalg.norm(X[a, 0] - X[b, 3]), np.linalg.norm(X[b, 0] - X[a, 3])]
                kinds["nb_ca"].append(np.linalg.norm(X[a - 1, 1] - X[b + 1, 1]))
                kinds["i_i2"].append(np.linalg.norm(X[a - 2, 1] - X[a, 1]))
    ranges = {"hb_ca": HBONDED_CA, "n_o": HBOND_N_O, "nb_ca": NONBONDED_CA, "i_i2": STRAND_CA_I_I2}
    assert len(kinds["hb_ca"]) >= 50
    for name, (lo, hi) in ranges.items():
        v = np.asarray(kinds[name])
        inside = float(((v >= lo) & (v <= hi)).mean())
        assert inside >= 0.65, (name, inside, np.percentile(v, [5, 50, 95]))


def test_varied_meanders_are_seeded_per_backbone_and_keep_the_fraction():
    from proteindsm.protein.generate.sheet_blueprint import varied_meanders

    many = varied_meanders(100, 0.4, 12, seed=3)
    assert [b.strands for b in varied_meanders(100, 0.4, 5, seed=3)] == [b.strands for b in many[:5]]
    assert [b.strands for b in varied_meanders(100, 0.4, 5, seed=4)] != [b.strands for b in many[:5]]
    assert len({b.strands for b in many}) == 12                     # placements and strand lengths differ
    for b in many:
        m = {e - s for s, e in b.strands}
        m = m.pop()
        assert len({e - s for s, e in b.strands}) == 1 and m % 2 == 0 and 6 <= m <= 10   # one even length
        assert 36 <= b.strand_residues <= 42 and 0 <= b.strands[0][0] and b.strands[-1][1] <= 100
    with pytest.raises(InputError, match="does not fit 30 residues"):
        varied_meanders(30, 0.95, 2, seed=0)


def test_table_of_per_backbone_blueprints_matches_each_blueprint():
    from proteindsm.protein.generate.sheet_blueprint import BlueprintTable, varied_meanders

    bps = varied_meanders(60, 0.4, 4, seed=0)
    table = BlueprintTable(bps)
    g = torch.Generator().manual_seed(2)
    x = 5.0 * torch.randn(3, 60, 4, 3, generator=g, dtype=torch.float64)
    index = torch.tensor([2, 0, 3])
    got = table.energy(x, {"sample_index": index})
    want = torch.stack([blueprint_energy(x[r:r + 1], blueprint=bps[int(i)])[0] for r, i in enumerate(index)])
    assert torch.allclose(got, want, rtol=1e-12)
    with pytest.raises(InputError, match="sample_index"):
        table.energy(x, {"mask": torch.ones(3, 60, dtype=torch.bool)})
    with pytest.raises(InputError, match=r"indices in \[0, 4\)"):
        table.energy(x, {"sample_index": torch.tensor([0, 1, 4])})
