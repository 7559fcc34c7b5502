"""Core EMA of weights: θ_ema ← d·θ_ema + (1 − d)·θ, the warm-up min(d, (1 + t)/(10 + t)), swapping
the averaged weights in and out, and its state round trip."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from proteindsm.core.ema import EMA
from proteindsm.errors import InputError


def _set(model: nn.Module, value: float) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)


def test_update_is_the_exponential_average():
    model = nn.Linear(3, 2)
    _set(model, 0.0)
    ema = EMA(model, decay=0.9)
    _set(model, 1.0)
    ema.update(model)
    assert torch.allclose(ema.shadow["weight"], torch.full((2, 3), 0.1))
    ema.update(model)
    assert torch.allclose(ema.shadow["weight"], torch.full((2, 3), 0.19))      # 1 − 0.9²
    # warm-up with the step: decay min(0.9, (1 + 0) / (10 + 0)) = 0.1 at step 0
    _set(model, 0.0)
    ema2 = EMA(model, decay=0.9)
    _set(model, 1.0)
    ema2.update(model, step=0)
    assert torch.allclose(ema2.shadow["bias"], torch.full((2,), 0.9))


def test_swapped_in_restores_and_state_round_trips():
    model = nn.Linear(3, 2)
    _set(model, 2.0)
    ema = EMA(model, decay=0.5)
    _set(model, 4.0)
    with ema.swapped_in(model):
        assert float(model.weight[0, 0].detach()) == 2.0
    assert float(model.weight[0, 0].detach()) == 4.0
    other = EMA(nn.Linear(3, 2))
    other.load_state_dict(ema.state_dict())
    assert torch.equal(other.shadow["weight"], ema.shadow["weight"])
    with pytest.raises(InputError, match="missing"):
        other.load_state_dict({"weight": ema.shadow["weight"]})
    with pytest.raises(InputError, match="decay"):
        EMA(model, decay=1.0)
