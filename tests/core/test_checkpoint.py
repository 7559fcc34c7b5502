"""Core checkpoints (one safetensors file): round trip of weights, EMA, optimiser, RNG and metadata;
clear CheckpointErrors for a missing, foreign, corrupt or mismatched file."""

from __future__ import annotations

import pytest
import torch

from proteindsm.core import Checkpoint, load_checkpoint, save_checkpoint
from proteindsm.core.checkpoint import FORMAT, load_weights_into, read_metadata
from proteindsm.errors import CheckpointError

from .tiny import TinyScore


def _checkpoint() -> Checkpoint:
    torch.manual_seed(0)
    model = TinyScore()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(4, 2), torch.ones(4)).sum().backward()
    opt.step()
    ema = {k: v + 1.0 for k, v in model.state_dict().items()}
    return Checkpoint(model=model.state_dict(), ema=ema, optimizer=opt.state_dict(),
                      rng_state=torch.get_rng_state(),
                      metadata={"model_class": "TinyScore", "model_config": model.config, "step": 7,
                                "sigmas": (0.1, 1.0), "note": "x"})


def test_round_trip(tmp_path):
    ck = _checkpoint()
    path = save_checkpoint(tmp_path / "c.safetensors", ck)
    back = load_checkpoint(path, expected_model_class="TinyScore")
    assert back.step == 7 and back.path == path
    for k in ck.model:
        assert torch.equal(back.model[k], ck.model[k]) and torch.equal(back.ema[k], ck.ema[k])
    assert back.weights() is back.ema and back.weights(prefer_ema=False) is back.model
    assert torch.equal(back.rng_state, ck.rng_state)
    assert back.optimizer["param_groups"][0]["lr"] == ck.optimizer["param_groups"][0]["lr"]
    assert back.optimizer["param_groups"][0]["params"] == ck.optimizer["param_groups"][0]["params"]
    assert set(back.optimizer["state"]) == set(ck.optimizer["state"])
    meta = read_metadata(path)
    assert meta["format"] == FORMAT and meta["sigmas"] == [0.1, 1.0] and meta["note"] == "x"
    assert not list(tmp_path.glob("*.tmp*"))                       # written atomically


def test_errors_name_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.safetensors")
    path = save_checkpoint(tmp_path / "c.safetensors", _checkpoint())
    with pytest.raises(CheckpointError, match="expected 'UNet'"):
        load_checkpoint(path, expected_model_class="UNet")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.safetensors"):
        load_checkpoint(bad)


def test_load_weights_into_names_mismatches():
    small, wide = TinyScore(hidden=16), TinyScore(hidden=32)
    with pytest.raises(CheckpointError, match=r"w.safetensors does not fit.*shape mismatch at net.0"):
        load_weights_into(small, wide.state_dict(), "w.safetensors")
    state = {k: v for k, v in wide.state_dict().items() if k != "net.2.bias"}
    with pytest.raises(CheckpointError, match="missing"):
        load_weights_into(wide, state, "w.safetensors")
    keep = wide.net[2].bias.detach().clone()
    load_weights_into(wide, {k: v * 0 for k, v in state.items()}, "w.safetensors", allow_missing=["net.2.bias"])
    assert float(wide.net[0].weight.abs().sum()) == 0.0 and torch.equal(wide.net[2].bias, keep)
