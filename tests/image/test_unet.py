"""U-Net: output shape for several image sizes, σ-conditioning, no batch coupling (no BatchNorm)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from proteindsm.errors import InputError
from proteindsm.image.unet import ImageUNet, UNetConfig


def tiny(**kw) -> ImageUNet:
    torch.manual_seed(0)
    return ImageUNet(UNetConfig(channels=8, channel_mults=(1, 2, 2), emb_dim=32, groups=4, **kw))


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 10, 6)], ids=["digits", "mnist", "odd-rgb"])
def test_output_shape_matches_input(shape):
    model = tiny(in_channels=shape[0])
    x = torch.rand(3, *shape)
    out = model(x, torch.tensor([0.01, 0.3, 2.0]))
    assert out.shape == x.shape
    assert torch.isfinite(out).all()


def test_sigma_conditioning_changes_the_network_not_only_the_1_over_sigma_factor():
    model = tiny()
    # make the embedding path matter at init (the default init makes it small but non-zero)
    x = torch.rand(4, 1, 8, 8)
    s1, s2 = torch.full((4,), 0.1), torch.full((4,), 1.0)
    # score = net(x, σ)/σ: compare σ·score so the explicit 1/σ factor is taken out
    a = model(x, s1) * 0.1
    b = model(x, s2) * 1.0
    assert not torch.allclose(a, b, atol=1e-4)
    # every residual block receives the σ embedding
    blocks = [m for m in model.modules() if m.__class__.__name__ == "ResBlock"]
    assert blocks and all(b.emb is not None for b in blocks)
    # and the gradient reaches the σ-embedding MLP
    model(x, s1).pow(2).mean().backward()
    assert model.sigma_embed.mlp[0].weight.grad.abs().sum() > 0


def test_no_batchnorm_and_samples_are_independent_of_the_batch():
    model = tiny()
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    x = torch.rand(5, 1, 8, 8)
    sig = torch.linspace(0.05, 1.0, 5)
    full = model(x, sig)
    single = torch.cat([model(x[i:i + 1], sig[i:i + 1]) for i in range(5)])
    assert torch.allclose(full, single, atol=1e-5)
    model.train()
    assert torch.allclose(model(x, sig), full, atol=1e-5)  # train/eval mode gives the same score


def test_bad_input_is_a_clear_error():
    model = tiny()
    with pytest.raises(InputError, match="expects images"):
        model(torch.rand(2, 3, 8, 8), torch.ones(2))
    with pytest.raises(InputError, match="sigma"):
        model(torch.rand(2, 1, 8, 8), torch.ones(3))
    with pytest.raises(InputError, match="channel_mults"):
        UNetConfig(channel_mults=())
