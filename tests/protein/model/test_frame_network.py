"""FrameScoreNet: SE(3)- (not E(3)-) equivariance, padding, conditioning inputs, rebuild from config."""

from __future__ import annotations

import pytest
import torch

from proteindsm.core import SELF_COND_KEY
from proteindsm.errors import InputError
from proteindsm.protein.model.checkpoints import SCORE_MODELS, build_model
from proteindsm.protein.model.frame_features import local_frames
from proteindsm.protein.model.frame_network import FrameScoreNet
from proteindsm.protein.structure.domain import CA_INDEX
from tests.equivariance import assert_chiral, assert_equivariant, random_rotation

from .test_network import batch  # noqa: F401  (fixture: ubiquitin, a padded second chain)

SMALL = dict(node_dim=32, edge_dim=16, num_layers=2, num_heads=4, attn_dim=16, k_neighbors=8, seq_neighbors=2,
             num_pair_rbf=4)
SIGMAS = torch.tensor([0.5, 4.0], dtype=torch.float64)


def _net(**kwargs) -> FrameScoreNet:
    """A float64 network whose zero-initialised readout is randomised (so F ≠ 0 and every path counts)."""
    torch.manual_seed(0)
    net = FrameScoreNet(**{**SMALL, **kwargs}).double()
    with torch.no_grad():
        net.readout.weight.normal_(0.0, 0.3)
        for name, p in net.named_parameters():
            if name.startswith(("ss_", "sc_")):
                p.normal_(0.0, 0.3)
    return net


def _cond(x: torch.Tensor, mask: torch.Tensor) -> dict:
    gen = torch.Generator().manual_seed(2)
    return {"mask": mask, "ss": torch.randint(0, 4, mask.shape, generator=gen),
            SELF_COND_KEY: x + 0.3 * torch.randn(x.shape, generator=gen, dtype=x.dtype)}


def test_frames_are_proper_rotations_that_follow_the_residue(batch) -> None:
    x, mask = batch
    r = local_frames(x[0])
    eye = torch.eye(3, dtype=x.dtype).expand_as(r)
    # orthonormal to the ~1e-8 of the norm's regulariser, det +1 (right-handed)
    assert torch.allclose(r.transpose(-1, -2) @ r, eye, atol=1e-7)
    assert torch.allclose(torch.linalg.det(r), torch.ones(76, dtype=x.dtype), atol=1e-7)
    q = random_rotation(torch.float64, seed=4)
    assert torch.allclose(local_frames(x[0] @ q.T + 3.0), q @ r, atol=1e-9)
    assert torch.isfinite(local_frames(torch.zeros(5, 4, 3))).all()  # padding: zeros, not NaN


def test_rotation_translation_equivariance(batch) -> None:
    """score(x Qᵀ + t) = score(x) Qᵀ without conditioning inputs (the shared symmetry helper)."""
    x, mask = batch
    net = _net()
    fn = lambda y: net(y, SIGMAS, {"mask": mask})  # noqa: E731
    with torch.no_grad():
        assert fn(x).abs().max() > 1e-2
    assert_equivariant(fn, x)


def test_equivariance_with_labels_and_self_conditioning(batch) -> None:
    """The same with secondary-structure labels and a self-conditioning estimate that moves with x."""
    x, mask = batch
    net = _net()
    cond = _cond(x, mask)
    q, t = random_rotation(torch.float64, seed=5), torch.tensor([4.0, -9.0, 2.5], dtype=torch.float64)
    moved = {**cond, SELF_COND_KEY: cond[SELF_COND_KEY] @ q.T + t}
    with torch.no_grad():
        out, out_moved = net(x, SIGMAS, cond), net(x @ q.T + t, SIGMAS, moved)
    assert out.abs().max() > 1e-2
    assert (out_moved - out @ q.T).abs().max() < 1e-9 * out.abs().max()


def test_not_reflection_equivariant(batch) -> None:
    """Chirality: at every σ the mirror image's score is not the mirror of the score."""
    x, mask = batch
    net = _net()
    for sigma in (0.1, 1.0, 10.0):
        assert_chiral(lambda y: net(y, torch.full((2,), sigma, dtype=torch.float64), {"mask": mask}), x)


def test_padding_does_not_leak_and_output_is_zero_there(batch) -> None:
    x, mask = batch
    net = _net()
    cond = _cond(x, mask)
    out = net(x, SIGMAS, cond)
    y = x.clone()
    y[1, 50:] = -7.0  # other garbage in the padding
    out2 = net(y, SIGMAS, cond)
    assert torch.equal(out[:, :50], out2[:, :50]) or torch.allclose(out[:, :50], out2[:, :50], atol=1e-12)
    assert out[1, 50:].abs().max() == 0
    # zero mean CA score over the real residues (the wrapper's projection)
    assert out[1, :50, CA_INDEX].mean(0).abs().max() < 1e-10


def test_absent_conditioning_equals_unknown_labels_and_no_estimate(batch) -> None:
    """``ss`` absent ≡ all unknown tokens; ``self_cond`` absent ≡ zeros ("no estimate"); a real
    estimate changes the output."""
    x, mask = batch
    net = _net()
    plain = net(x, SIGMAS, {"mask": mask})
    explicit = net(x, SIGMAS, {"mask": mask, "ss": torch.full(mask.shape, 3), SELF_COND_KEY: torch.zeros_like(x)})
    assert torch.allclose(plain, explicit, atol=1e-12)
    with_estimate = net(x, SIGMAS, {"mask": mask, SELF_COND_KEY: x})
    assert (with_estimate - plain).abs().max() > 1e-3
    with_labels = net(x, SIGMAS, {"mask": mask, "ss": torch.ones(mask.shape, dtype=torch.long)})
    assert (with_labels - plain).abs().max() > 1e-3


def test_zero_initialised_readout_gives_the_skip_denoiser(batch) -> None:
    """At initialisation F = 0, so D = c_skip x_c (the EDM skip connection alone)."""
    x, mask = batch
    torch.manual_seed(0)
    net = FrameScoreNet(**SMALL).double()
    d = net.denoise(x[:1], torch.tensor([2.0], dtype=torch.float64))
    c_skip = 10.0**2 / (2.0**2 + 10.0**2)
    xc = x[:1] - x[:1, :, CA_INDEX].mean(1, keepdim=True)[:, :, None]
    assert torch.allclose(d, c_skip * xc, atol=1e-10)


def test_rebuilt_from_checkpoint_metadata_and_bad_config() -> None:
    net = FrameScoreNet(**SMALL)
    assert "FrameScoreNet" in SCORE_MODELS
    again = build_model(SCORE_MODELS, {"model_class": "FrameScoreNet", "model_config": net.config}, "mem")
    assert again.config == net.config
    assert sum(p.numel() for p in again.parameters()) == sum(p.numel() for p in net.parameters())
    with pytest.raises(InputError, match="attn_dim"):
        FrameScoreNet(attn_dim=30, num_heads=4)
    with pytest.raises(InputError, match="k_neighbors"):
        FrameScoreNet(k_neighbors=0, seq_neighbors=0)


def test_gradients_finite_at_extreme_sigmas(batch) -> None:
    x, mask = batch
    net = _net()
    for sigma in (0.02, 60.0):
        net.zero_grad()
        out = net(x, torch.full((2,), sigma, dtype=torch.float64), _cond(x, mask))
        (out.pow(2).sum() * sigma**2).backward()
        assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_geometry_deviations_vanish_on_ideal_chains_and_scale_with_sigma(batch) -> None:
    """An ideal chain (built from dihedrals with the ideal bonds and angles) has zero deviations;
    real ubiquitin has O(1) ones at small σ (its bonds spread by ~0.01–0.03 Å) and smaller at large σ."""
    from proteindsm.protein.model.frame_features import geometry_deviations
    from proteindsm.protein.structure.geometry import backbone_from_dihedrals

    phi = torch.full((1, 12), -60.0, dtype=torch.float64) * torch.pi / 180
    psi = torch.full((1, 12), -45.0, dtype=torch.float64) * torch.pi / 180
    ideal = backbone_from_dihedrals(phi, psi)
    mask = torch.ones(1, 12, dtype=torch.bool)
    idx = torch.arange(12)[None]
    dev = geometry_deviations(ideal, torch.tensor([0.02], dtype=torch.float64), mask, idx)
    assert dev.shape == (1, 12, 15)
    assert dev[..., :13].abs().max() < 0.05
    assert dev[0, :, 13].tolist() == [1.0] * 11 + [0.0] and dev[0, :, 14].tolist() == [0.0] + [1.0] * 11
    x, mask2 = batch
    idx2 = torch.arange(76).expand(2, 76)
    small = geometry_deviations(x, torch.full((2,), 0.02, dtype=torch.float64), mask2, idx2)[0, :, :13]
    large = geometry_deviations(x, torch.full((2,), 5.0, dtype=torch.float64), mask2, idx2)[0, :, :13]
    assert 0.1 < small.abs().mean() < 3.0
    assert large.abs().max() < 0.05
    padded = geometry_deviations(x, torch.full((2,), 0.02, dtype=torch.float64), mask2, idx2)[1, 50:]
    assert padded.abs().max() == 0


def test_pair_conditioning_adds_partner_edges_and_keeps_se3(batch) -> None:
    """Strand pairing: absent ≡ all unknown; a pairing changes the output; still SE(3), not E(3);
    residues of paired strands become neighbours even when they are far apart in space."""
    from proteindsm.protein.data.strand_pairing import PAIR_ADJACENT, PAIR_APART
    from proteindsm.protein.model.frame_features import partner_slots

    x, mask = batch
    net = _net(pair_conditioning=True, partner_neighbors=3)
    with torch.no_grad():
        net.pair_edge.weight.normal_(0.0, 0.3)
    pairs = torch.full((2, 76, 76), PAIR_APART)
    pairs[:, 0:5, 60:65] = PAIR_ADJACENT
    pairs[:, 60:65, 0:5] = PAIR_ADJACENT
    plain = net(x, SIGMAS, {"mask": mask})
    assert torch.allclose(plain, net(x, SIGMAS, {"mask": mask, "ss_pairs": torch.zeros(2, 76, 76, dtype=torch.long)}))
    paired = net(x, SIGMAS, {"mask": mask, "ss_pairs": pairs})
    assert (paired - plain)[0].abs().max() > 1e-3
    fn = lambda y: net(y, SIGMAS, {"mask": mask, "ss_pairs": pairs})  # noqa: E731
    assert_equivariant(fn, x)
    assert_chiral(fn, x)
    nbr, ok = partner_slots(x[:, :, CA_INDEX], pairs == PAIR_ADJACENT, 3)
    assert ok[0, :5].all() and ok[0, 60:65].all() and not ok[0, 10:50].any()
    assert set(nbr[0, 0][ok[0, 0]].tolist()) <= set(range(60, 65))
    with pytest.raises(InputError, match="ss_pairs"):
        net(x, SIGMAS, {"mask": mask, "ss_pairs": pairs[:, :10]})


def test_ideal_geometry_gate_gives_exact_residues_at_small_sigma(batch) -> None:
    """Geometry by construction with the frame network (the shared EDM wrapper's parameter-free
    ``ideal_geometry`` gate): at σ → 0 every residue of the denoised output has the ideal N–CA, CA–C
    and C=O bonds, which the raw output (random readout) does not."""
    from proteindsm.protein.structure.backbone import BOND_C_O, BOND_CA_C, BOND_N_CA
    from proteindsm.protein.structure.geometry import bond_lengths

    x, mask = batch
    ideal = torch.tensor([BOND_N_CA, BOND_CA_C, BOND_C_O], dtype=torch.float64)
    s = torch.full((2,), 0.01, dtype=torch.float64)
    noisy = x + 0.01 * torch.randn(x.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)

    def worst(net) -> float:
        with torch.no_grad():
            d = net.denoise(noisy, s, {"mask": mask})
        return torch.nan_to_num((bond_lengths(d, mask)[..., :3] - ideal).abs(), nan=0.0).max().item()

    raw = _net()
    gated = _net(ideal_geometry=True, ideal_sigma=0.1)
    gated.load_state_dict(raw.state_dict())
    assert worst(raw) > 1e-2 and worst(gated) < 1e-3


def test_estimate_neighbours_follow_the_estimate_and_keep_se3(batch) -> None:
    """``sc_neighbors``: without an estimate the network computes exactly what the same weights
    compute with ``sc_neighbors=0``; with one, the extra slots are the residues nearest in the
    estimate (not already neighbours, not sequence neighbours), the output changes, and it is still
    rotation/translation-equivariant and not reflection-equivariant."""
    x, mask = batch
    base = _net()
    net = _net(sc_neighbors=4)
    net.load_state_dict(base.state_dict())            # no new parameters: the same weights fit both
    with torch.no_grad():
        assert torch.equal(net(x, SIGMAS, {"mask": mask}), base(x, SIGMAS, {"mask": mask}))
        # an estimate that brings residues 0-4 next to 60-64 (a hairpin the noisy chain does not have)
        est = x.clone()
        est[:, 60:65] = est[:, 0:5] + torch.tensor([0.0, 0.0, 4.8], dtype=x.dtype)
        cond = {"mask": mask, SELF_COND_KEY: est}
        g = net._geometry(x, SIGMAS, mask, torch.arange(76).expand(2, 76), est, None)
    nbr, ok = g["nbr"], g["edge_mask"]
    k = nbr.shape[-1] - 4
    extra, extra_ok = nbr[0, :, k:], ok[0, :, k:]
    assert extra_ok[0].all() and set(extra[0].tolist()) & set(range(60, 65))
    for i in range(76):                                 # never a duplicate, a sequence neighbour or self
        own = set(nbr[0, i, :k][ok[0, i, :k]].tolist())
        new = extra[i][extra_ok[i]].tolist()
        assert not own & set(new) and all(abs(j - i) > 2 for j in new) and len(set(new)) == len(new)
    assert not ok[1, 50:].any()                         # padding rows have no slots
    assert (ok[1, :50, k:] <= (nbr[1, :50, k:] < 50)).all()   # and are no one's estimate neighbour
    with torch.no_grad():
        assert (net(x, SIGMAS, cond) - base(x, SIGMAS, cond)).abs().max() > 1e-3
    q, t = random_rotation(torch.float64, seed=7), torch.tensor([1.0, 2.0, -3.0], dtype=torch.float64)
    with torch.no_grad():
        out = net(x, SIGMAS, cond)
        moved = net(x @ q.T + t, SIGMAS, {**cond, SELF_COND_KEY: est @ q.T + t})
    assert (moved - out @ q.T).abs().max() < 1e-9 * out.abs().max()
    mirror = torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))   # estimate mirrored with x
    with torch.no_grad():
        mirrored = net(x @ mirror, SIGMAS, {**cond, SELF_COND_KEY: est @ mirror})
    assert (mirrored - out @ mirror).abs().max() > 1e-2 * out.abs().max()
    with pytest.raises(InputError, match="sc_neighbors"):
        FrameScoreNet(**SMALL, self_conditioning=False, sc_neighbors=2)
