"""Digit classifiers for the image domain, trained through the core :class:`~proteindsm.core.Trainer`.

Two roles, one architecture (:class:`ImageClassifier`, a small GroupNorm/SiLU CNN):

* the **feature classifier** (``noise_conditional=False``) is trained on clean training images and then
  frozen.  Its penultimate activations ``(B, feature_dim)`` are the features of our FID (see
  :mod:`proteindsm.image.fid`), and its predicted labels give the class balance of generated samples
  and judge class-guided samples (it never sees the guidance classifier's weights);
* the **guidance classifier** (``noise_conditional=True``) sees noised images x + σε and σ (log-uniform on
  the score model's schedule) and gives log p(y | x, σ) for classifier guidance
  (:class:`proteindsm.core.ClassifierGuidance`).

The objectives below implement the core ``Objective`` protocol (``draw`` then ``__call__``), so
classifiers get the same deterministic data order, checkpoints and resume as score models.
Tensors: images ``(B, C, H, W)`` in [0, 1], σ ``(B,)`` in pixel units, labels int64 ``(B,)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from proteindsm.core import Batch, GeometricSchedule, LossOutput, Trainer, TrainConfig, load_checkpoint, load_weights_into
from proteindsm.errors import InputError

from .unet import ResBlock, SigmaEmbedding, _groups


@dataclass
class ClassifierConfig:
    """Hyper-parameters of :class:`ImageClassifier` (``model_config`` in checkpoints)."""

    in_channels: int = 1
    num_classes: int = 10
    width: int = 32
    feature_dim: int = 64
    noise_conditional: bool = False
    emb_dim: int = 64
    groups: int = 8
    sigma_data: float = 0.5
    data_center: float = 0.5

    def __post_init__(self) -> None:
        for name in ("in_channels", "num_classes", "width", "feature_dim", "emb_dim", "groups"):
            v = getattr(self, name)
            if int(v) != v or v < 1:
                raise InputError(f"classifier.{name} must be a positive integer, got {v!r}")
        if self.num_classes < 2:
            raise InputError(f"a classifier needs at least 2 classes, got {self.num_classes}")


class ImageClassifier(nn.Module):
    """Small CNN ``(x (B,C,H,W), sigma (B,) or None, cond) -> logits (B, num_classes)``.

    Three resolution levels (stride-2 convolutions), GroupNorm + SiLU, global average pooling, then
    ``Linear → SiLU`` to ``feature_dim`` features (:meth:`features`) and a linear read-out.  When
    ``noise_conditional`` a σ embedding enters every block and the input is scaled by 1/√(σ² + σ_data²).
    """

    model_class = "proteindsm.image.ImageClassifier"

    def __init__(self, config: Optional[ClassifierConfig] = None, **kwargs: Any) -> None:
        super().__init__()
        cfg = config if config is not None else ClassifierConfig(**kwargs)
        self.config = cfg
        w, emb = cfg.width, (cfg.emb_dim if cfg.noise_conditional else None)
        self.sigma_embed = SigmaEmbedding(cfg.emb_dim) if cfg.noise_conditional else None
        self.conv_in = nn.Conv2d(cfg.in_channels, w, 3, padding=1)
        self.blocks = nn.ModuleList([ResBlock(w, w, emb, cfg.groups), ResBlock(w, 2 * w, emb, cfg.groups),
                                     ResBlock(2 * w, 2 * w, emb, cfg.groups)])
        self.down = nn.ModuleList([nn.Conv2d(w, w, 3, stride=2, padding=1),
                                   nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1)])
        self.norm = nn.GroupNorm(_groups(2 * w, cfg.groups), 2 * w)
        self.feature = nn.Linear(2 * w, cfg.feature_dim)
        self.head = nn.Linear(cfg.feature_dim, cfg.num_classes)

    def _sigma(self, x: Tensor, sigma: Optional[Tensor]) -> Optional[Tensor]:
        if not self.config.noise_conditional:
            return None
        if sigma is None:
            raise InputError("this classifier is noise-conditional: pass sigma (B,)")
        sigma = sigma.to(x.dtype).reshape(-1)
        return sigma.expand(x.shape[0]) if sigma.numel() == 1 else sigma

    def features(self, x: Tensor, sigma: Optional[Tensor] = None) -> Tensor:
        """Penultimate activations ``(B, feature_dim)`` (the FID features)."""
        if x.dim() != 4 or x.shape[1] != self.config.in_channels:
            raise InputError(f"classifier expects images (B, {self.config.in_channels}, H, W), got {tuple(x.shape)}")
        sigma = self._sigma(x, sigma)
        scale = self.config.sigma_data if sigma is None else torch.sqrt(sigma ** 2 + self.config.sigma_data ** 2)[:, None, None, None]
        h = self.conv_in((x - self.config.data_center) / scale)
        emb = None if sigma is None else self.sigma_embed(sigma)
        h = self.blocks[0](h, emb)
        h = self.blocks[1](self.down[0](h), emb)
        h = self.blocks[2](self.down[1](h), emb)
        h = F.silu(self.norm(h)).mean(dim=(2, 3))
        return F.silu(self.feature(h))

    def forward(self, x: Tensor, sigma: Optional[Tensor] = None, cond: Optional[Mapping] = None) -> Tensor:
        return self.head(self.features(x, sigma))


# ---------------------------------------------------------------------------------------------- objectives
@dataclass
class CleanClassificationObjective:
    """Cross-entropy of ``model(x)`` against ``batch.target`` on clean images (no randomness)."""

    def draw(self, batch: Batch, generator: torch.Generator) -> dict[str, Tensor]:
        return {}

    def __call__(self, model: nn.Module, batch: Batch, draw: Mapping[str, Tensor]) -> LossOutput:
        logits = model(batch.x, None, None)
        loss = F.cross_entropy(logits, batch.target, reduction="none")
        return LossOutput(loss=loss, sigma=torch.full_like(loss, float("nan")))


@dataclass
class NoisyClassificationObjective:
    """Cross-entropy of ``model(x + σε, σ)`` against ``batch.target``, σ log-uniform on ``schedule``
    (the score model's), so the classifier gives log p(y | x, σ) at every noise level sampling visits."""

    schedule: GeometricSchedule

    def draw(self, batch: Batch, generator: torch.Generator) -> dict[str, Tensor]:
        sigma = self.schedule.sample_training_sigmas(len(batch), generator)
        noise = torch.randn(batch.x.shape, generator=generator, dtype=torch.float32)
        return {"sigma": sigma, "noise": noise}

    def __call__(self, model: nn.Module, batch: Batch, draw: Mapping[str, Tensor]) -> LossOutput:
        sigma = draw["sigma"].to(batch.x.device, batch.x.dtype)
        noise = draw["noise"].to(batch.x.device, batch.x.dtype)
        x = batch.x + sigma[:, None, None, None] * noise
        loss = F.cross_entropy(model(x, sigma, None), batch.target, reduction="none")
        return LossOutput(loss=loss, sigma=sigma)


# ---------------------------------------------------------------------------------------------- helpers
def labelled_batches(x: Tensor, y: Tensor, batch_size: int, seed: int):
    """``step -> Batch`` of ``batch_size`` random (with replacement across steps, without within a step)
    images and labels, deterministic in ``(seed, step)``."""
    n = len(x)
    bs = min(batch_size, n)

    def batch_for_step(step: int) -> Batch:
        idx = np.random.default_rng([seed, step]).choice(n, size=bs, replace=False)
        i = torch.from_numpy(idx)
        return Batch(x=x[i], target=None if y is None else y[i])

    return batch_for_step


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, sigma: Optional[float] = None, batch_size: int = 500, seed: int = 0) -> Tensor:
    """Logits ``(N, num_classes)`` for images ``x (N, C, H, W)``, batched on the model's device, returned on
    the CPU.  With ``sigma`` the images are first noised, x + σε (ε from a generator seeded with ``seed``),
    and the model is told σ — the accuracy of a noise-conditional classifier at that noise level."""
    model.eval()
    dev = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        s = None
        if sigma is not None:
            xb = xb + float(sigma) * torch.randn(xb.shape, generator=gen)
            s = torch.full((len(xb),), float(sigma), device=dev)
        out.append(model(xb.to(dev), s, None).float().cpu())
    return torch.cat(out)


def accuracy(model: nn.Module, x: Tensor, y: Tensor, sigma: Optional[float] = None) -> float:
    """Fraction of ``x`` classified as ``y`` (at noise level ``sigma`` when given: see :func:`predict`)."""
    return float((predict(model, x, sigma).argmax(1) == y).float().mean())


def train_classifier(x: Tensor, y: Tensor, config: ClassifierConfig, out_dir: str | Path, *, steps: int = 1500,
                     batch_size: int = 128, lr: float = 2e-3, seed: int = 0, device: str = "auto",
                     schedule: Optional[GeometricSchedule] = None, ema_decay: float = 0.99, progress: bool = False,
                     metadata: Optional[dict[str, Any]] = None) -> ImageClassifier:
    """Train (or resume / reuse from ``out_dir/checkpoint.safetensors``) a classifier on ``x (N,C,H,W)``,
    ``y (N,)`` through the core Trainer; returns the model with its **EMA** weights loaded, in eval mode.

    ``config.noise_conditional`` selects the objective (noisy images at σ from ``schedule`` or clean)."""
    if y is None:
        raise InputError("training a classifier needs a labelled data set (sub-folders per class, or 'y' in the .npz)")
    if config.noise_conditional and schedule is None:
        raise InputError("a noise-conditional classifier needs the score model's σ schedule")
    torch.manual_seed(seed)
    model = ImageClassifier(config)
    objective = NoisyClassificationObjective(schedule) if config.noise_conditional else CleanClassificationObjective()
    meta = {"model_class": ImageClassifier.model_class, "model_config": asdict(config)}
    if schedule is not None:
        meta["schedule"] = {"sigma_min": schedule.sigma_min, "sigma_max": schedule.sigma_max}
    meta.update(metadata or {})
    tc = TrainConfig(out_dir=str(out_dir), max_steps=steps, lr=lr, warmup_steps=min(100, steps // 10), ema_decay=ema_decay,
                     log_every=max(1, steps // 10), val_every=steps + 1, checkpoint_every=steps + 1, seed=seed,
                     device=device, progress=progress, lr_schedule="cosine")
    trainer = Trainer(model, objective, labelled_batches(x, y, batch_size, seed), tc, metadata=meta)
    if trainer.step < steps:
        trainer.fit()
    trainer.ema.copy_to(trainer.model)
    return trainer.model.eval()


def load_classifier(path: str | Path, device: str | torch.device = "cpu") -> ImageClassifier:
    """An :class:`ImageClassifier` from a checkpoint (EMA weights), in eval mode."""
    ckpt = load_checkpoint(path, expected_model_class=ImageClassifier.model_class)
    model = ImageClassifier(ClassifierConfig(**ckpt.metadata["model_config"]))
    load_weights_into(model, ckpt.weights(prefer_ema=True), path)
    return model.to(device).eval()
