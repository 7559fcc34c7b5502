"""The one training loop for every domain (toy, image, protein score models and property predictors).

Features: AdamW with linear warm-up, gradient clipping, EMA of weights, deterministic data order
(``batch_for_step(step)``) and noise (generator seeded by ``(seed, step)``) so a resumed run is
identical to an uninterrupted one, atomic checkpoints (safetensors) with the config and the
domain's metadata, resume from the last checkpoint, periodic validation loss per σ bucket, a progress
bar, a wall-clock budget, and data parallelism with DistributedDataParallel under ``torchrun``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Optional, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from proteindsm.errors import InputError

from .checkpoint import Checkpoint, load_checkpoint, load_weights_into, save_checkpoint
from .distributed import DistInfo, barrier, init_distributed, mean_across
from .ema import EMA
from .types import Batch, BatchFn, Objective, shard_draw

CHECKPOINT_NAME = "checkpoint.safetensors"
#: Metadata keys that describe where a run came from (e.g. the warm start of its first command); a
#: resumed run copies them from its checkpoint when the resuming command does not set them.
PROVENANCE_KEYS = ("initialised_from",)


@dataclass
class TrainConfig:
    """Training hyper-parameters.  ``out_dir`` receives ``checkpoint.safetensors`` (latest),
    ``metrics.jsonl`` (one JSON line per log/validation event) and ``train_config.json``."""

    out_dir: str
    max_steps: int = 1000
    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup_steps: int = 100
    lr_schedule: Literal["constant", "cosine"] = "constant"
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    log_every: int = 50
    val_every: int = 500
    checkpoint_every: int = 500
    seed: int = 0
    device: str = "auto"
    resume: bool = True
    max_minutes: Optional[float] = None  # wall-clock budget of this session; with a cosine schedule the
    # learning rate then decays over whichever budget (steps or time) runs out first
    progress: bool = True
    lr_multipliers: dict = field(default_factory=dict)  # {parameter-name prefix: factor}: e.g. a higher
    # rate for new, zero-initialised inputs of a warm-started model; the first matching prefix applies
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: forward passes under torch.autocast (weights,
    # optimiser and EMA stay float32) — for GPUs; on CPU it is supported but rarely faster
    lr_drops: dict = field(default_factory=dict)  # {step: factor}: from each listed step on, the learning
    # rate is multiplied by its factor (cumulative), e.g. {24500: 0.4} — a step-down of a campaign's
    # constant rate once its loss flattens, kept in the recipe so a rerun reproduces it
    compile: bool = False  # torch.compile the model in place (nn.Module.compile, dynamic shapes; weights,
    # state_dict and checkpoints unchanged): fused kernels, at the price of a first-step compile

    def __post_init__(self) -> None:
        for name in ("max_steps", "log_every", "val_every", "checkpoint_every"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"train.{name} must be a positive integer, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InputError(f"train.lr must be a positive number, got {self.lr}")
        if self.warmup_steps < 0:
            raise InputError(f"train.warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.precision not in ("fp32", "bf16"):
            raise InputError(f"train.precision must be 'fp32' or 'bf16', got {self.precision!r}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise InputError(f"train.lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")
        for step, factor in dict(self.lr_drops).items():
            if int(step) < 0 or not (float(factor) > 0 and math.isfinite(float(factor))):
                raise InputError(f"train.lr_drops: {step}: {factor} must map a step >= 0 to a factor > 0")


def resolve_device(name: str) -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; otherwise ``torch.device(name)`` with a clear
    error for an unavailable device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise InputError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {name!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device={name!r} asked for, but no CUDA GPU is available here; use device=cpu")
    return dev


@dataclass
class ValidationSet:
    """Fixed validation batches, evaluated at fixed σ values (one bucket per σ) with fixed noise.

    ``objective``: the objective to evaluate (None: the trainer's own); e.g. plain DSM without
    self-conditioning, so the figure is comparable with a model trained without it.  ``name``: the
    prefix of the logged keys (``val_loss`` / ``val_loss_per_sigma`` for ``"val"``)."""

    batches: Sequence[Batch]
    sigmas: torch.Tensor
    seed: int = 1234
    objective: Optional[Objective] = None
    name: str = "val"


@dataclass
class TrainResult:
    step: int
    last_loss: float
    checkpoint: Path
    wall_seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)


Callback = Callable[["Trainer", int], dict[str, Any]]
"""Called at each validation with ``(trainer, step)``; returns extra metrics to log."""


class Trainer:
    """Trains ``model`` on ``objective`` with batches from ``batch_for_step``.

    Args:
        model: the network (a score model, a predictor, ...).
        objective: see :class:`~proteindsm.core.types.Objective` (e.g. DSMObjective).
        batch_for_step: ``step -> Batch`` (global batch, deterministic in ``step``).
        config: :class:`TrainConfig`.
        validation: optional :class:`ValidationSet` (or several, logged under their names).
        metadata: recorded in every checkpoint: must hold ``model_class`` and ``model_config`` and
            may hold anything JSON-able the domain needs (σ range, data split, dataset path).
        callbacks: extra metrics at validation time (e.g. FID for images).
    """

    def __init__(self, model: nn.Module, objective: Objective, batch_for_step: BatchFn, config: TrainConfig,
                 *, validation: Optional[ValidationSet | Sequence[ValidationSet]] = None, metadata: Optional[dict[str, Any]] = None,
                 callbacks: Sequence[Callback] = ()) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        self.dist: DistInfo = init_distributed(self.device.type)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        if self.device.type == "cuda":
            torch.set_float32_matmul_precision("high")  # TF32 matmuls: ~1e-3 relative, fine for SGD
        self.model = model.to(self.device)
        if config.compile:
            self.model.compile(dynamic=True)
        self.objective = objective
        self.batch_for_step = batch_for_step
        self.validations: list[ValidationSet] = (
            [] if validation is None else [validation] if isinstance(validation, ValidationSet) else list(validation))
        self.validation = self.validations[0] if self.validations else None
        self.metadata = dict(metadata or {})
        self.callbacks = list(callbacks)
        self.out_dir = Path(config.out_dir)
        self.optimizer = torch.optim.AdamW(self._param_groups(), lr=config.lr, weight_decay=config.weight_decay)
        self.ema = EMA(self.model, config.ema_decay)
        self.step = 0
        self.elapsed_before = 0.0
        self.history: list[dict[str, Any]] = []
        if self.dist.enabled:
            self.ddp: nn.Module = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        else:
            self.ddp = self.model
        if config.resume and (self.out_dir / CHECKPOINT_NAME).is_file():
            self.load(self.out_dir / CHECKPOINT_NAME)

    def _param_groups(self) -> list[dict[str, Any]]:
        """One AdamW group per learning-rate multiplier (``TrainConfig.lr_multipliers``)."""
        groups: dict[float, list] = {}
        for name, p in self.model.named_parameters():
            factor = next((float(f) for prefix, f in self.config.lr_multipliers.items() if name.startswith(prefix)), 1.0)
            groups.setdefault(factor, []).append(p)
        return [{"params": ps, "lr_multiplier": f} for f, ps in sorted(groups.items())]

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_path(self) -> Path:
        return self.out_dir / CHECKPOINT_NAME

    def state(self) -> Checkpoint:
        meta = dict(self.metadata)
        meta.update(step=self.step, train_config=asdict(self.config),
                    wall_seconds=self.elapsed_before + self._session_seconds(),
                    hardware=self._hardware(), torch_version=torch.__version__)
        return Checkpoint(model=self.model.state_dict(), ema=self.ema.state_dict(),
                          optimizer=self.optimizer.state_dict(), rng_state=torch.get_rng_state(),
                          metadata=meta)

    def save(self) -> Path:
        path = self.checkpoint_path()
        if self.dist.is_main:
            save_checkpoint(path, self.state())
        barrier(self.dist)
        return path

    def load(self, path: Path) -> None:
        ckpt = load_checkpoint(path, expected_model_class=self.metadata.get("model_class"))
        load_weights_into(self.model, ckpt.model, path)
        if ckpt.ema:
            self.ema.load_state_dict({k: v.to(self.device) for k, v in ckpt.ema.items()})
        if ckpt.optimizer is not None:
            self.optimizer.load_state_dict(ckpt.optimizer)
        if ckpt.rng_state is not None:
            torch.set_rng_state(ckpt.rng_state)
        self.step = ckpt.step
        self.elapsed_before = float(ckpt.metadata.get("wall_seconds", 0.0))
        for key in PROVENANCE_KEYS:   # a warm-started run keeps its origin when a later command resumes it
            if key in ckpt.metadata and key not in self.metadata:
                self.metadata[key] = ckpt.metadata[key]
        self._drop_metrics_after(self.step)

    def _drop_metrics_after(self, step: int) -> None:
        """A run killed between checkpoints logged steps it will redo: drop those log lines so the
        resumed run's ``metrics.jsonl`` reads as one uninterrupted run."""
        path = self.out_dir / "metrics.jsonl"
        if not self.dist.is_main or not path.is_file():
            return
        lines = path.read_text().splitlines()
        keep = [line for line in lines if not line.strip() or json.loads(line).get("step", 0) <= step]
        if len(keep) != len(lines):
            from proteindsm.fileio import atomic_write_text
            atomic_write_text(path, "".join(line + "\n" for line in keep))

    def warm_start(self, path: str | os.PathLike, allow_missing: Sequence[str] = ()) -> bool:
        """Fine-tune: initialise the model (and its EMA) from another checkpoint's weights (its EMA
        weights when it has them), with a fresh optimiser and step counter.  ``allow_missing``: the
        model's tensors the checkpoint may lack (new inputs, which keep their initialisation).

        Only acts before the first step: a run resumed from ``out_dir`` keeps its own weights.
        Returns whether the weights were loaded.  Raises CheckpointError when the file holds another
        model class or tensors that do not fit this model."""
        if self.step > 0:
            return False
        ckpt = load_checkpoint(path, expected_model_class=self.metadata.get("model_class"))
        load_weights_into(self.model, ckpt.weights(prefer_ema=True), path, allow_missing=allow_missing)
        self.ema = EMA(self.model, self.config.ema_decay)
        return True

    # ------------------------------------------------------------------ training
    def _lr_at(self, step: int) -> float:
        c = self.config
        warm = min(1.0, (step + 1) / c.warmup_steps) if c.warmup_steps > 0 else 1.0
        if c.lr_schedule == "cosine":
            progress = min(1.0, step / max(1, c.max_steps))
            if c.max_minutes:  # time-boxed run: decay over whichever budget runs out first
                progress = max(progress, min(1.0, self._session_seconds() / (60 * c.max_minutes)))
            return c.lr * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        drop = math.prod(float(f) for s, f in c.lr_drops.items() if step >= int(s))
        return c.lr * warm * drop

    def _generator(self, step: int, salt: int = 0) -> torch.Generator:
        return torch.Generator().manual_seed(self.config.seed * 1_000_003 + step * 7919 + salt)

    def train_step(self) -> float:
        """One optimiser step on the global batch of the current step; returns the mean loss."""
        batch = self.batch_for_step(self.step)
        draw = self.objective.draw(batch, self._generator(self.step))
        if self.dist.enabled:
            batch = batch.shard(self.dist.rank, self.dist.world_size)
            draw = shard_draw(draw, self.dist.rank, self.dist.world_size)
        batch = batch.to(self.device)
        for group in self.optimizer.param_groups:
            group["lr"] = self._lr_at(self.step) * group.get("lr_multiplier", 1.0)
        self.ddp.train()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.precision == "bf16"):
            out = self.objective(self.ddp, batch, draw)
        loss = out.loss.mean()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss.item()} at step {self.step}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.ema.update(self.model, step=self.step)
        self.step += 1
        return float(mean_across(loss.detach(), self.dist))

    def validate(self, use_ema: bool = True, validation: Optional[ValidationSet] = None) -> dict[str, Any]:
        """Mean loss at each fixed validation σ (fixed noise), with EMA weights by default, on
        ``validation`` (default: the first validation set)."""
        v = self.validation if validation is None else validation
        if v is None:
            return {}
        objective = v.objective if v.objective is not None else self.objective
        self.model.eval()
        per_sigma: dict[str, float] = {}
        ctx = self.ema.swapped_in(self.model) if use_ema else _nullcontext(self.model)
        with ctx:
            for j, sigma in enumerate(v.sigmas.tolist()):
                total, count = 0.0, 0
                for b, batch in enumerate(v.batches):
                    gen = torch.Generator().manual_seed(v.seed + 100_003 * b + j)
                    draw = objective.draw(batch, gen)
                    if "sigma" in draw:
                        draw["sigma"] = torch.full_like(draw["sigma"], sigma)
                    # objectives that differentiate the model (sliced score matching) need autograd
                    with torch.set_grad_enabled(bool(getattr(objective, "needs_grad", False))):
                        out = objective(self.model, batch.to(self.device), draw)
                    total += float(out.loss.detach().sum())
                    count += len(batch)
                per_sigma[f"{sigma:.4g}"] = total / max(count, 1)
        mean = sum(per_sigma.values()) / max(len(per_sigma), 1)
        return {f"{v.name}_loss": mean, f"{v.name}_loss_per_sigma": per_sigma, "weights": "ema" if use_ema else "raw"}

    def fit(self) -> TrainResult:
        """Train until ``max_steps`` (or the wall-clock budget); saves a checkpoint at the end."""
        c = self.config
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if self.dist.is_main:
            from proteindsm.fileio import atomic_write_text
            atomic_write_text(self.out_dir / "train_config.json",
                              json.dumps({"train": asdict(c), "metadata": self.metadata}, indent=2, default=str))
        self._t0 = time.time()
        bar = tqdm(total=c.max_steps, initial=self.step, desc="train", disable=not (c.progress and self.dist.is_main),
                   unit="step", dynamic_ncols=True)
        last_loss, running, n_running = float("nan"), 0.0, 0
        try:
            while self.step < c.max_steps:
                last_loss = self.train_step()
                running += last_loss
                n_running += 1
                bar.update(1)
                if self.step % c.log_every == 0:
                    self._log({"step": self.step, "loss": running / n_running, "lr": self._lr_at(self.step),
                               "elapsed_s": round(self.elapsed_before + self._session_seconds(), 1)})
                    bar.set_postfix(loss=f"{running / n_running:.4g}")
                    running, n_running = 0.0, 0
                if self.step % c.val_every == 0:
                    self.run_validation()
                if self.step % c.checkpoint_every == 0:
                    self.save()
                if c.max_minutes is not None and self._session_seconds() > 60 * c.max_minutes:
                    self._log({"step": self.step, "event": "stopped: wall-clock budget reached"})
                    break
        finally:
            bar.close()
        if self.step % c.val_every != 0:  # not just validated in the loop
            self.run_validation()
        path = self.save() if self.step % c.checkpoint_every != 0 else self.checkpoint_path()
        return TrainResult(step=self.step, last_loss=last_loss, checkpoint=path,
                           wall_seconds=self.elapsed_before + self._session_seconds(), history=self.history)

    def run_validation(self) -> None:
        record: dict[str, Any] = {"step": self.step}
        for v in self.validations:
            record.update(self.validate(use_ema=True, validation=v))
        for cb in self.callbacks:
            record.update(cb(self, self.step))
        if len(record) > 1:
            self._log(record)

    # ------------------------------------------------------------------ helpers
    def _session_seconds(self) -> float:
        return time.time() - getattr(self, "_t0", time.time())

    def _log(self, record: dict[str, Any]) -> None:
        self.history.append(record)
        if self.dist.is_main:
            with open(self.out_dir / "metrics.jsonl", "a") as fh:
                fh.write(json.dumps(record) + "\n")

    def _hardware(self) -> str:
        if self.device.type == "cuda":
            return f"{torch.cuda.get_device_name(self.device)} x{self.dist.world_size}"
        return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads) x{self.dist.world_size}"


class _nullcontext:
    def __init__(self, value: Any) -> None:
        self.value = value

    def __enter__(self) -> Any:
        return self.value

    def __exit__(self, *exc: Any) -> None:
        return None
