"""The toy MLP uses the core denoiser contract: its input scaling is the core ``c_in`` and its output
``F/σ`` (c_skip = 1, c_out = σ) of :class:`proteindsm.core.NoisePredictionPreconditioning`."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from proteindsm.core import EDMPreconditioning, NoisePredictionPreconditioning
from proteindsm.toy.model import ToyScoreMLP

SIGMAS = (0.01, 0.3, 2.0, 50.0)


class _Const(nn.Module):
    """Stands in for F: records its input, returns a fixed tensor."""

    def __init__(self, value: torch.Tensor) -> None:
        super().__init__()
        self.value, self.seen = value, None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        self.seen = h
        return self.value


def test_coefficients_come_from_the_core():
    torch.manual_seed(0)
    model = ToyScoreMLP(hidden=16, data_scale=2.5)
    pre = model.preconditioning
    assert isinstance(pre, NoisePredictionPreconditioning) and pre == NoisePredictionPreconditioning(2.5)
    x, g = torch.randn(6, 2) * 3 + 0.1, torch.randn(6, 2)
    for s in SIGMAS:
        sigma = torch.full((6,), s)
        c = pre.coefficients(sigma)
        f = _Const(torch.zeros(6, 2))
        model.net = f
        d = x + s ** 2 * model(x, sigma)  # Tweedie: D = x + σ² s
        assert torch.equal(d, x)  # c_skip = 1
        assert torch.equal(f.seen[:, :2], x * c.c_in[:, None])  # u = c_in x, the core's c_in
        torch.testing.assert_close(f.seen[:, :2] / x, EDMPreconditioning(2.5).c_in(sigma)[:, None].expand(6, 2),
                                   rtol=1e-6, atol=0)
        assert float(c.c_in[0]) == pytest.approx((s ** 2 + 2.5 ** 2) ** -0.5, rel=1e-6)
        model.net = _Const(g)
        torch.testing.assert_close(s ** 2 * model(torch.zeros_like(x), sigma) / g, torch.full_like(g, s),
                                   rtol=1e-6, atol=0)  # D(0; F = G) = c_out G, c_out = σ
        assert torch.equal(model(x, sigma), pre.score(x, sigma, g))
