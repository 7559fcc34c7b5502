"""The protein networks use the core denoiser contract: the c_skip / c_out / c_in measured through
``BackboneScoreNet`` and ``EGNNBaseline`` (F replaced by a known tensor) are those of
:class:`proteindsm.core.EDMPreconditioning` and of Karras et al. 2022, Table 1 (docs/maths.md)."""

from __future__ import annotations

import pytest
import torch

from proteindsm.core import EDMPreconditioning
from proteindsm.protein.model.egnn_baseline import EGNNBaseline
from proteindsm.protein.model.network import BackboneScoreNet, edm_coefficients

SMALL = dict(scalar_channels=16, vector_channels=4, num_layers=2, k_neighbors=8, seq_neighbors=2, lmax=2)
SIGMAS = (0.05, 1.0, 10.0, 60.0)


def _zero_ca_centroid(v: torch.Tensor) -> torch.Tensor:
    return v - v[:, :, 1:2, :].mean(dim=1, keepdim=True)


@pytest.fixture(params=["backbone", "egnn"])
def model(request):
    torch.manual_seed(0)
    if request.param == "backbone":
        return BackboneScoreNet(**SMALL, sigma_data=7.0).double().eval()
    return EGNNBaseline(hidden_channels=16, num_layers=2, sigma_data=7.0).double().eval()


def test_coefficients_come_from_the_core(model, monkeypatch):
    pre = model.preconditioning
    assert isinstance(pre, EDMPreconditioning) and pre == EDMPreconditioning(model.sigma_data)
    torch.manual_seed(1)
    x = _zero_ca_centroid(torch.randn(2, 12, 4, 3, dtype=torch.float64) * 5 + 0.5)
    g = _zero_ca_centroid(torch.randn(2, 12, 4, 3, dtype=torch.float64))
    out = {"f": torch.zeros_like(x)}
    monkeypatch.setattr(model, "network", lambda x_c, sigma, mask, res_idx, cond=None: out["f"])
    sd = model.sigma_data
    for s in SIGMAS:
        sigma = torch.full((2,), s, dtype=torch.float64)
        c = pre.coefficients(sigma)
        out["f"] = torch.zeros_like(x)
        c_skip = model.denoise(x, sigma) / x  # D(x; F = 0) = c_skip x
        torch.testing.assert_close(c_skip, c.c_skip[:, None, None, None].expand_as(x), rtol=1e-12, atol=0)
        torch.testing.assert_close(model(x, sigma), (c.c_skip - 1)[:, None, None, None] / s ** 2 * x,
                                   rtol=1e-10, atol=0)
        out["f"] = g
        c_out = model.denoise(torch.zeros_like(x), sigma) / g  # D(0; F = G) = c_out G
        torch.testing.assert_close(c_out, c.c_out[:, None, None, None].expand_as(x), rtol=1e-12, atol=0)
        torch.testing.assert_close(model(torch.zeros_like(x), sigma), c.c_out[:, None, None, None] / s ** 2 * g,
                                   rtol=1e-10, atol=0)
        # Table 1 (docs/maths.md)
        assert float(c.c_skip[0]) == pytest.approx(sd ** 2 / (s ** 2 + sd ** 2), rel=1e-12)
        assert float(c.c_out[0]) == pytest.approx(s * sd / (s ** 2 + sd ** 2) ** 0.5, rel=1e-12)


def test_network_input_scaling_and_score_go_through_the_core(model, monkeypatch):
    calls = {"coefficients": 0, "score": 0, "denoise": 0}
    for name in calls:
        original = getattr(EDMPreconditioning, name)

        def spy(self, *args, _name=name, _original=original):
            calls[_name] += 1
            return _original(self, *args)

        monkeypatch.setattr(EDMPreconditioning, name, spy)
    torch.manual_seed(2)
    x, sigma = torch.randn(1, 10, 4, 3, dtype=torch.float64) * 5, torch.tensor([2.0], dtype=torch.float64)
    model(x, sigma)
    assert calls == {"coefficients": 1, "score": 1, "denoise": 0}  # c_in, c_noise for F; the score from F
    model.denoise(x, sigma)
    assert calls["denoise"] == 1 and calls["coefficients"] == 3  # c_in, c_noise for F; c_skip, c_out for D


def test_edm_coefficients_is_the_core_function():
    sigma = torch.tensor([0.1, 3.0])
    assert all(torch.equal(a, b) for a, b in zip(edm_coefficients(sigma, 10.0),
                                                 EDMPreconditioning(10.0).coefficients(sigma)))
