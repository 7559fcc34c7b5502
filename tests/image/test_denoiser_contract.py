"""The image U-Net uses the core denoiser contract: its input is the core ``c_in (x − data_center)``
and its output ``F/σ`` (c_skip = 1, c_out = σ) of :class:`proteindsm.core.NoisePredictionPreconditioning`."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from proteindsm.core import EDMPreconditioning, NoisePredictionPreconditioning
from proteindsm.image.unet import ImageUNet, UNetConfig

SIGMAS = (0.01, 0.2, 1.0, 30.0)


class _Const(nn.Module):
    def __init__(self, value: torch.Tensor) -> None:
        super().__init__()
        self.value = value

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.value


class _Record(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.seen = inner, None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        self.seen = h
        return self.inner(h)


def test_coefficients_come_from_the_core():
    torch.manual_seed(0)
    cfg = UNetConfig(channels=8, channel_mults=(1, 2), emb_dim=16, groups=4, sigma_data=0.4, data_center=0.5)
    model = ImageUNet(cfg).eval()
    pre = model.preconditioning
    assert isinstance(pre, NoisePredictionPreconditioning) and pre == NoisePredictionPreconditioning(0.4)
    x = torch.rand(3, 1, 8, 8) * 0.8 + 0.6  # away from the centre 0.5
    g = torch.randn(3, 1, 8, 8)
    rec = _Record(model.conv_in)
    model.conv_in = rec
    for s in SIGMAS:
        sigma = torch.full((3,), s)
        model.conv_out = _Const(torch.zeros_like(x))
        assert torch.equal(x + s ** 2 * model(x, sigma), x)  # D(x; F = 0) = x: c_skip = 1
        assert torch.equal(rec.seen, pre.scale_input(x, sigma, 0.5))
        c_in = rec.seen / (x - 0.5)
        torch.testing.assert_close(c_in, EDMPreconditioning(0.4).c_in(sigma)[:, None, None, None].expand_as(x),
                                   rtol=1e-5, atol=0)
        assert float(c_in.mean()) == pytest.approx((s ** 2 + 0.4 ** 2) ** -0.5, rel=1e-5)
        model.conv_out = _Const(g)
        torch.testing.assert_close(s ** 2 * model(torch.full_like(x, 0.5), sigma) / g, torch.full_like(g, s),
                                   rtol=1e-6, atol=0)  # D − x = c_out G, c_out = σ
        assert torch.equal(model(x, sigma), pre.score(x, sigma, g))
