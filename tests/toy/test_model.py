"""The toy score network: shapes, the 1/σ output scaling, reproducible construction, bad arguments."""

from __future__ import annotations

import pytest
import torch

from proteindsm.errors import InputError
from proteindsm.toy.model import ToyScoreMLP


def test_shapes_scaling_and_finiteness():
    torch.manual_seed(0)
    model = ToyScoreMLP(hidden=32, data_scale=4.0)
    x = torch.randn(7, 2) * 30
    for s in (1e-3, 0.1, 1.0, 50.0, 1e3):
        sigma = torch.full((7,), s)
        out = model(x, sigma)
        assert out.shape == (7, 2) and torch.isfinite(out).all()
    # s = F/σ: σ·s depends on σ only through the embedding and c_in, so it stays O(1)
    a = model(x, torch.full((7,), 0.01)) * 0.01
    b = model(x, torch.full((7,), 100.0)) * 100.0
    assert a.abs().max() < 10 and b.abs().max() < 10


def test_config_rebuilds_the_same_network():
    torch.manual_seed(0)
    model = ToyScoreMLP(hidden=16, fourier_features=8, fourier_seed=3, data_scale=2.0)
    twin = ToyScoreMLP(**model.config)
    twin.load_state_dict(model.state_dict())
    x, sigma = torch.randn(5, 2), torch.rand(5) + 0.1
    assert torch.equal(model(x, sigma), twin(x, sigma))
    assert "fourier" in model.state_dict()  # the random frequencies travel with the checkpoint
    assert ToyScoreMLP(fourier_features=0, hidden=8)(x, sigma).shape == (5, 2)


@pytest.mark.parametrize("kwargs", [{"hidden": 0}, {"depth": 1.5}, {"data_scale": 0.0}, {"fourier_scale": -1.0},
                                    {"fourier_features": -2}])
def test_bad_arguments(kwargs):
    with pytest.raises(InputError):
        ToyScoreMLP(**kwargs)
