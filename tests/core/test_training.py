"""The core Trainer, with a tiny domain-free model: it learns, a resumed run equals an uninterrupted
one, and a warm start copies another checkpoint's EMA weights only before the first step.
(Domain recipes — protein batches, DDP parity, the campaign recipe — are in tests/protein/model/test_training.py.)"""

from __future__ import annotations

import torch

from proteindsm.core import load_checkpoint

from .tiny import batches, fixed_sigma_loss, trainer


def test_loss_goes_down(tmp_path):
    tr = trainer(tmp_path, 60, checkpoint_every=60)
    before = fixed_sigma_loss(tr, batches(0), (0.1, 1.0))
    result = tr.fit()
    assert result.step == 60 and result.checkpoint.is_file()
    assert fixed_sigma_loss(tr, batches(0), (0.1, 1.0)) < 0.8 * before


def test_resume_continues_with_identical_ema(tmp_path):
    """Interrupted at step 5 and resumed to 10 = 10 steps straight (weights and EMA)."""
    trainer(tmp_path / "a", 10).fit()
    trainer(tmp_path / "b", 5).fit()
    resumed = trainer(tmp_path / "b", 10)
    assert resumed.step == 5
    resumed.fit()
    a = load_checkpoint(tmp_path / "a" / "checkpoint.safetensors")
    b = load_checkpoint(tmp_path / "b" / "checkpoint.safetensors")
    assert a.step == b.step == 10
    for k in a.model:
        assert torch.allclose(a.model[k], b.model[k], atol=1e-6), k
        assert torch.allclose(a.ema[k], b.ema[k], atol=1e-6), k


def test_compiled_training_matches_eager_and_keeps_checkpoint_keys(tmp_path):
    """train.compile: the same checkpoint keys as an eager run, and the same weights to float
    rounding after 10 steps (compiled kernels may fuse operations differently)."""
    trainer(tmp_path / "eager", 10).fit()
    compiled = trainer(tmp_path / "compiled", 10, compile=True)
    compiled.fit()
    a = load_checkpoint(tmp_path / "eager" / "checkpoint.safetensors")
    b = load_checkpoint(tmp_path / "compiled" / "checkpoint.safetensors")
    assert set(a.model) == set(b.model) and set(a.ema) == set(b.ema)
    for k in a.model:
        assert torch.allclose(a.model[k], b.model[k], atol=1e-4), k


def test_lr_drops_step_the_constant_rate_down(tmp_path):
    import pytest

    from proteindsm.core import TrainConfig, Trainer
    from proteindsm.errors import InputError

    tr = trainer(tmp_path, 10)
    tr.config = TrainConfig(out_dir=str(tmp_path), lr=1e-3, warmup_steps=0, lr_drops={5: 0.5, 8: 0.2})
    assert [round(Trainer._lr_at(tr, s), 8) for s in (0, 4, 5, 7, 8, 20)] == [1e-3, 1e-3, 5e-4, 5e-4, 1e-4, 1e-4]
    with pytest.raises(InputError, match="lr_drops"):
        TrainConfig(out_dir=str(tmp_path), lr_drops={5: 0.0})


def test_warm_start_copies_weights_then_resume_keeps_own(tmp_path):
    trainer(tmp_path / "src", 5).fit()
    src_path = tmp_path / "src" / "checkpoint.safetensors"
    src = load_checkpoint(src_path)
    tuned = trainer(tmp_path / "ft", 5, seed=1)                     # other random init
    assert tuned.warm_start(src_path)
    for k, v in tuned.model.state_dict().items():                   # starts from the source's EMA weights
        assert torch.equal(v, src.ema[k]), k
        assert torch.equal(tuned.ema.shadow[k], src.ema[k]), k
    tuned.fit()
    again = trainer(tmp_path / "ft", 8, seed=1)                      # resumes at step 5 ...
    assert again.step == 5 and not again.warm_start(src_path)
    mine = load_checkpoint(tmp_path / "ft" / "checkpoint.safetensors")
    for k, v in again.model.state_dict().items():                   # ... with its own weights
        assert torch.equal(v, mine.model[k]), k


def test_resume_keeps_the_runs_provenance(tmp_path):
    """The first command records where the run came from (the CLI's warm-start record); a later
    command that resumes it without ``init_from`` keeps that record in its checkpoints and
    train_config.json; a run that never had one gets none."""
    import json
    first = trainer(tmp_path, 5)
    first.metadata["initialised_from"] = {"path": "src.safetensors", "step": 7}
    first.fit()
    again = trainer(tmp_path, 8)                                    # no record in this command's metadata
    assert again.step == 5 and again.metadata["initialised_from"] == {"path": "src.safetensors", "step": 7}
    again.fit()
    assert load_checkpoint(tmp_path / "checkpoint.safetensors").metadata["initialised_from"]["step"] == 7
    assert json.loads((tmp_path / "train_config.json").read_text())["metadata"]["initialised_from"]["step"] == 7
    assert "initialised_from" not in trainer(tmp_path / "fresh", 1).metadata      # nothing to copy
