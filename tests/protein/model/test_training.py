"""Protein score-model training: overfit check, 2-process DDP parity (CPU, gloo), the campaign recipe's
exact resume, fine-tuning through the CLI.  The core Trainer's own resume / warm-start tests are in
tests/core/test_training.py."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from proteindsm.core import DSMObjective, GeometricSchedule, TrainConfig, Trainer, load_checkpoint
from proteindsm.protein.data.batching import BackboneBatches
from proteindsm.protein.data.corpus import load_corpus
from proteindsm.protein.structure.domain import project_zero_ca_centroid
from proteindsm.protein.model.network import BackboneScoreNet
from tests.core.tiny import fixed_sigma_loss

TINY = dict(scalar_channels=16, vector_channels=4, num_layers=2, k_neighbors=8, seq_neighbors=2, lmax=1,
            max_relative_position=16, num_rbf=8, sigma_data=10.0)
SCHEDULE = GeometricSchedule(sigma_min=0.02, sigma_max=60.0, sigma_data=10.0)


@pytest.fixture(scope="module")
def corpus(corpus_path):
    return load_corpus(corpus_path)


def _trainer(corpus, out: Path, steps: int, *, chains=None, seed=0, tokens=128, lr=3e-3) -> Trainer:
    torch.manual_seed(seed)
    idx = corpus.indices("train")[:8] if chains is None else chains
    batches = BackboneBatches(corpus, idx, tokens_per_batch=tokens, crop_length=48, seed=seed)
    cfg = TrainConfig(out_dir=str(out), max_steps=steps, lr=lr, warmup_steps=0, log_every=5, val_every=10_000,
                      checkpoint_every=5, seed=seed, device="cpu", progress=False, ema_decay=0.9)
    meta = {"model_class": "BackboneScoreNet", "model_config": TINY}
    return Trainer(BackboneScoreNet(**TINY), DSMObjective(SCHEDULE, project=project_zero_ca_centroid), batches,
                   cfg, metadata=meta)


def test_small_model_overfits_a_few_real_chains(corpus, tmp_path):
    chains = corpus.indices("train")[:4]
    tr = _trainer(corpus, tmp_path, 300, chains=chains)
    batch = tr.batch_for_step(0)
    before = fixed_sigma_loss(tr, batch)
    tr.fit()
    after = fixed_sigma_loss(tr, batch)
    assert after < 0.65 * before, (before, after)  # measured: 0.655 -> 0.378 after 300 steps


DDP_SCRIPT = textwrap.dedent("""
    import sys, json, torch
    sys.path.insert(0, {repo!r})
    from tests.protein.model.test_training import _trainer
    from proteindsm.protein.data.corpus import load_corpus
    torch.set_num_threads(1)
    corpus = load_corpus({corpus!r})
    tr = _trainer(corpus, {out!r}, 4, tokens=192)
    tr.config.log_every = 1
    res = tr.fit()
    if tr.dist.is_main:
        print("LOSSES", json.dumps([h["loss"] for h in res.history if "loss" in h]))
""")


def test_two_process_ddp_matches_single_process(corpus_path, corpus, tmp_path):
    repo = str(Path(__file__).resolve().parents[3])
    single = _trainer(corpus, tmp_path / "single", 4, tokens=192)
    single.config.log_every = 1
    single.fit()
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT.format(repo=repo, corpus=str(corpus_path), out=str(tmp_path / "ddp")))
    env = {**os.environ, "PYTHONPATH": repo, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533",
                           str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a = load_checkpoint(tmp_path / "single" / "checkpoint.safetensors")
    b = load_checkpoint(tmp_path / "ddp" / "checkpoint.safetensors")
    assert a.step == b.step == 4
    for k in a.model:
        assert torch.allclose(a.model[k], b.model[k], atol=1e-4, rtol=1e-3), k
    single_losses = [h["loss"] for h in single.history if "loss" in h]
    ddp_line = [ln for ln in proc.stdout.splitlines() if ln.startswith("LOSSES")][0]
    import json
    ddp_losses = json.loads(ddp_line.split(" ", 1)[1])
    assert np.allclose(single_losses[-1], ddp_losses[-1], rtol=1e-4)


def _small_corpus(corpus, tmp_path: Path) -> Path:
    """8 training + 4 validation chains of <= 64 residues as a corpus file."""
    from proteindsm.protein.data.corpus import save_corpus

    small = tmp_path / "small.npz"
    short = lambda idx: idx[corpus.lengths[idx] <= 64]              # noqa: E731
    save_corpus(small, corpus.subset(np.concatenate([short(corpus.indices("train"))[:8],
                                                     short(corpus.indices("val"))[:4]])))
    return small


def _tiny_train_args(small: Path) -> list[str]:
    return ["train", "experiment=protein_tiny", f"data.path={small}", "device=cpu", "train.progress=false",
            "train.max_steps=2", "train.val_every=2", "train.checkpoint_every=2", "data.val_chains=2"]


def test_train_command_fine_tunes_from_init_from(corpus, tmp_path, capsys):
    from proteindsm.cli import main
    small = _small_corpus(corpus, tmp_path)
    common = _tiny_train_args(small)
    assert main([*common, f"out={tmp_path / 'a'}"]) == 0
    src = tmp_path / "a" / "checkpoint.safetensors"
    assert main([*common, f"out={tmp_path / 'b'}", f"init_from={src}"]) == 0
    meta = load_checkpoint(tmp_path / "b" / "checkpoint.safetensors").metadata
    assert meta["initialised_from"]["path"] == str(src) and meta["initialised_from"]["step"] == 2
    # another network configuration: one clear error (exit 2) naming the field, before training
    assert main([*common, f"out={tmp_path / 'c'}", f"init_from={src}", "network.num_layers=3"]) == 2
    assert "num_layers" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()                            # nothing written for bad input
    assert main([*common, f"out={tmp_path / 'd'}", f"init_from={tmp_path / 'missing.safetensors'}"]) == 2
    assert "missing.safetensors" in capsys.readouterr().err and not (tmp_path / "d").exists()


def _campaign_trainer(corpus, out: Path, steps: int) -> Trainer:
    """The campaign's recipe at tiny size: labels with dropout, self-conditioning, ideal geometry."""
    torch.manual_seed(0)
    net = BackboneScoreNet(**TINY, ss_conditioning=True, self_conditioning=True, ideal_geometry=True)
    batches = BackboneBatches(corpus, corpus.indices("train")[:8], tokens_per_batch=128, crop_length=48, seed=0,
                              ss_labels=True)
    cfg = TrainConfig(out_dir=str(out), max_steps=steps, lr=3e-3, warmup_steps=0, log_every=5, val_every=10_000,
                      checkpoint_every=3, seed=0, device="cpu", progress=False, ema_decay=0.9)
    meta = {"model_class": "BackboneScoreNet", "model_config": net.config}
    objective = DSMObjective(SCHEDULE, project=project_zero_ca_centroid, self_conditioning_rate=0.5)
    return Trainer(net, objective, batches, cfg, metadata=meta)


def _assert_resume_bit_exact(make_trainer, tmp_path: Path):
    """3 steps, then a resume to 6 = 6 steps straight, bit for bit (weights and EMA); returns the
    straight run's checkpoint."""
    make_trainer(tmp_path / "a", 6).fit()
    make_trainer(tmp_path / "b", 3).fit()
    resumed = make_trainer(tmp_path / "b", 6)
    assert resumed.step == 3
    resumed.fit()
    a = load_checkpoint(tmp_path / "a" / "checkpoint.safetensors")
    b = load_checkpoint(tmp_path / "b" / "checkpoint.safetensors")
    for k in a.model:
        assert torch.equal(a.model[k], b.model[k]), k
        assert torch.equal(a.ema[k], b.ema[k]), k
    return a


def test_campaign_recipe_resumes_bit_exact(corpus, tmp_path):
    """Interrupted after 3 steps and resumed = 6 steps straight, bit for bit (labels, dropout and
    self-conditioning draws are functions of (seed, step))."""
    a = _assert_resume_bit_exact(lambda out, steps: _campaign_trainer(corpus, out, steps), tmp_path)
    assert not torch.equal(a.model["ss_node.weight"], torch.zeros_like(a.model["ss_node.weight"]))  # it learns
    # a run killed after logging steps past its last checkpoint: the resumed log has no repeats
    metrics = tmp_path / "b" / "metrics.jsonl"
    metrics.write_text(metrics.read_text() + json.dumps({"step": 99, "loss": 1.0}) + "\n")
    _campaign_trainer(corpus, tmp_path / "b", 6)
    assert all(json.loads(line)["step"] <= 6 for line in metrics.read_text().splitlines())


@pytest.mark.parametrize("run", ["run1", "run2_local_distance", "run3_clash", "run4_rollout", "run5_strand_weight",
                                 "run6_estimate_neighbours", "run7_sigma_focus", "run8_multistep_rollout"])
def test_frame_campaign_recipe_resumes_bit_exact(corpus, tmp_path, run):
    """The frame-network campaign at tiny size (labels, strand pairs with dropout, self-conditioning;
    run 2 adds the local-distance loss, run 3 also the overlap and H-bond losses, run 4 rollout
    training, run 5 strand-weighted chain draws, run 6 edge slots from the estimate, run 7 run 6 with
    strand-weighted draws and a training-σ focus, run 8 run 7 with 4-step rollouts): 3 steps + resume
    to 6 = 6 steps straight, bit for bit."""
    from proteindsm.core import sum_of_denoised_losses
    from proteindsm.protein.model.clash_loss import ClashLoss
    from proteindsm.protein.model.frame_network import FrameScoreNet
    from proteindsm.protein.model.hbond_loss import HBondLoss
    from proteindsm.protein.model.local_distance_loss import LocalDistanceLoss

    geometry = sum_of_denoised_losses(LocalDistanceLoss(sigma_max=100.0), ClashLoss(weight=3.0, sigma_max=100.0),
                                      HBondLoss(weight=0.1, sigma_max=100.0))
    auxiliary = {"run1": None, "run2_local_distance": LocalDistanceLoss(sigma_max=100.0),
                 "run3_clash": geometry}.get(run, geometry)
    rollout = 0.0 if run in ("run1", "run2_local_distance", "run3_clash") else 0.5

    def trainer(out: Path, steps: int) -> Trainer:
        torch.manual_seed(0)
        net = FrameScoreNet(node_dim=16, edge_dim=8, num_layers=1, num_heads=2, attn_dim=8, k_neighbors=4,
                            seq_neighbors=1, num_pair_rbf=2, pair_conditioning=True, partner_neighbors=2,
                            sc_neighbors=3 if run in ("run6_estimate_neighbours", "run7_sigma_focus", "run8_multistep_rollout") else 0)
        batches = BackboneBatches(corpus, corpus.indices("train")[:8], tokens_per_batch=128, crop_length=48,
                                  seed=0, ss_labels=True, strand_pairs=True,
                                  strand_weight=8.0 if run in ("run5_strand_weight", "run7_sigma_focus", "run8_multistep_rollout") else 0.0)
        cfg = TrainConfig(out_dir=str(out), max_steps=steps, lr=3e-3, warmup_steps=0, log_every=5,
                          val_every=10_000, checkpoint_every=3, seed=0, device="cpu", progress=False, ema_decay=0.9)
        schedule = (dataclasses.replace(SCHEDULE, training_focus=(0.3, 5.0, 0.5))
                    if run in ("run7_sigma_focus", "run8_multistep_rollout") else SCHEDULE)
        objective = DSMObjective(schedule, project=project_zero_ca_centroid, self_conditioning_rate=0.5,
                                 auxiliary=auxiliary, rollout_rate=rollout,
                                 rollout_steps=4 if run == "run8_multistep_rollout" else 1)
        return Trainer(net, objective, batches, cfg,
                       metadata={"model_class": "FrameScoreNet", "model_config": net.config})

    a = _assert_resume_bit_exact(trainer, tmp_path)
    assert not torch.equal(a.model["pair_edge.weight"], a.ema["pair_edge.weight"])  # it trains


def test_batches_carry_labels_with_dropout(corpus):
    from proteindsm.protein.data.secondary_structure import SS_UNKNOWN, dssp_to_tokens

    idx = corpus.indices("train")[:64]
    batches = BackboneBatches(corpus, idx, tokens_per_batch=512, crop_length=256, seed=3, ss_labels=True)
    b1, b2 = batches(7), batches(7)
    assert torch.equal(b1.cond["ss"], b2.cond["ss"])                # deterministic in (seed, step)
    assert (b1.cond["ss"][~b1.mask] == SS_UNKNOWN).all()
    full = BackboneBatches(corpus, idx, crop_length=256, ss_labels=True).make_batch(idx[:2])
    off, n = corpus.offsets[idx[0]], corpus.lengths[idx[0]]
    assert full.cond["ss"][0, :n].tolist() == dssp_to_tokens(corpus.dssp[off:off + n]).tolist()
    known = [(batches(s).cond["ss"][batches(s).mask] != SS_UNKNOWN).float().mean().item() for s in range(40)]
    assert 0.3 < float(np.mean(known)) < 0.9                        # some labels dropped, most kept


def test_additive_options_warm_start_from_a_plain_checkpoint(corpus, tmp_path, capsys):
    """init_from a checkpoint without the new inputs: allowed, and the new inputs start at zero."""
    from proteindsm.cli import main
    small = _small_corpus(corpus, tmp_path)
    common = _tiny_train_args(small)
    assert main([*common, f"out={tmp_path / 'a'}"]) == 0
    src = tmp_path / "a" / "checkpoint.safetensors"
    new = ["network.ss_conditioning=true", "network.self_conditioning=true", "network.ideal_geometry=true",
           "data.ss_labels=true", "objective.self_conditioning_rate=0.5", "train.max_steps=1"]
    assert main([*common, f"out={tmp_path / 'b'}", f"init_from={src}", *new]) == 0
    ckpt = load_checkpoint(tmp_path / "b" / "checkpoint.safetensors")
    assert ckpt.metadata["model_config"]["ss_conditioning"] and ckpt.metadata["self_conditioning_rate"] == 0.5
    metrics = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert any("val_cond_loss" in m for m in metrics) and any("val_loss" in m for m in metrics)
    # self-conditioning asked of a network without it: one clear error
    assert main([*common, f"out={tmp_path / 'c'}", "objective.self_conditioning_rate=0.5"]) == 2
    assert "self_conditioning" in capsys.readouterr().err
    # rollout training: recorded in the metadata; without self-conditioning, or out of range, one error
    assert main([*common, f"out={tmp_path / 'd'}", f"init_from={src}", *new, "objective.rollout_rate=0.5"]) == 0
    assert load_checkpoint(tmp_path / "d" / "checkpoint.safetensors").metadata["rollout_rate"] == 0.5
    capsys.readouterr()
    assert main([*common, f"out={tmp_path / 'e'}", "objective.rollout_rate=0.5"]) == 2
    assert "objective.rollout_rate" in capsys.readouterr().err and not (tmp_path / "e").exists()
    assert main([*common, f"out={tmp_path / 'f'}", *new, "objective.rollout_rate=1.5"]) == 2
    assert "[0, 1]" in capsys.readouterr().err
    # strand-weighted chain draws: recorded; a negative or non-numeric weight is one error, nothing written
    assert main([*common, f"out={tmp_path / 'g'}", f"init_from={src}", *new, "data.strand_weight=4"]) == 0
    assert load_checkpoint(tmp_path / "g" / "checkpoint.safetensors").metadata["strand_weight"] == 4.0
    capsys.readouterr()
    for bad in ("-1", "many"):
        assert main([*common, f"out={tmp_path / 'h'}", f"data.strand_weight={bad}"]) == 2
        assert "data.strand_weight must be a number >= 0" in capsys.readouterr().err
        assert not (tmp_path / "h").exists()
    # labels or strand weights asked of a corpus without DSSP codes (saved with only '-'): one error each
    from proteindsm.protein.data.corpus import load_corpus, save_corpus
    no_dssp = save_corpus(tmp_path / "no_dssp.npz", dataclasses.replace(load_corpus(small), dssp=None))
    bare = [a for a in common if not a.startswith("data.path=")] + [f"data.path={no_dssp}"]
    for opt in ("data.ss_labels=true", "data.strand_weight=2"):
        assert main([*bare, f"out={tmp_path / 'i'}", opt]) == 2
        assert "dssp" in capsys.readouterr().err and not (tmp_path / "i").exists()


def test_gpu_recipe_runs_at_tiny_size_on_cpu(corpus, tmp_path):
    """scripts/train_gpu.py: the one-command GPU recipe, on a CPU at tiny size — the frame-network
    campaign (its default experiment), bf16 autocast, writes metrics and an EMA export."""
    import importlib.util

    small = _small_corpus(corpus, tmp_path)
    spec = importlib.util.spec_from_file_location("train_gpu", Path(__file__).resolve().parents[3] / "scripts" / "train_gpu.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    argv = sys.argv
    sys.argv = ["train_gpu.py", "--device", "cpu", "--tokens", "128", "--minutes", "1", "--corpus", str(small),
                "--out", str(tmp_path / "run"), "--export", str(tmp_path / "export.safetensors"),
                "train.max_steps=2", "data.val_chains=2"]
    try:
        assert mod.main() == 0
    finally:
        sys.argv = argv
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.safetensors")
    assert ckpt.step == 2 and ckpt.metadata["train_config"]["precision"] == "bf16"
    assert ckpt.metadata["model_config"]["ss_conditioning"] and (tmp_path / "export.safetensors").is_file()
    assert ckpt.metadata["model_class"] == "FrameScoreNet" and ckpt.metadata["model_config"]["pair_conditioning"]
    assert ckpt.metadata["local_distance"] == {"weight": 0.25, "cutoff": 6.0, "sigma_max": 2.0}  # run 3's recipe
    assert ckpt.metadata["clash_loss"] == {"weight": 3.0, "distance": 3.0, "min_separation": 3, "sigma_max": 1.0}
    assert ckpt.metadata["hbond_loss"] == {"weight": 0.1, "sigma_max": 1.0}
    assert ckpt.metadata["rollout_rate"] == 0.5 and ckpt.metadata["rollout_steps"] == 8   # run 8's recipe
