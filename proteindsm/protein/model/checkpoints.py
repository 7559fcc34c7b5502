"""Loading protein models from checkpoints (untrusted input).

A checkpoint names its model class in metadata; only classes in :data:`SCORE_MODELS` (and the
predictor classes registered by :mod:`proteindsm.protein.model.predictors`) can be rebuilt, with keyword
arguments checked against the class signature — a checkpoint can never make us import or run
arbitrary code.  Weights are read with safetensors.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from proteindsm.core.checkpoint import load_checkpoint, load_weights_into, read_metadata
from proteindsm.core.schedules import GeometricSchedule
from proteindsm.errors import CheckpointError



class _LazyRegistry(Mapping):
    """``{class name: class}`` whose classes are imported on first use: the e3nn network's module
    imports e3nn (~1.3 s), which a run of the frame network never needs."""

    def __init__(self, paths: dict[str, str]) -> None:
        self._paths = dict(paths)

    def __getitem__(self, name: str) -> Callable[..., torch.nn.Module]:
        module, _, attr = self._paths[name].partition(":")
        return getattr(importlib.import_module(module), attr)

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


SCORE_MODELS: Mapping[str, Callable[..., torch.nn.Module]] = _LazyRegistry({
    "BackboneScoreNet": "proteindsm.protein.model.network:BackboneScoreNet",
    "FrameScoreNet": "proteindsm.protein.model.frame_network:FrameScoreNet",
})


@dataclass
class LoadedModel:
    """A model in eval mode with the metadata it was trained with."""

    model: torch.nn.Module
    metadata: dict[str, Any]
    path: Path

    @property
    def schedule(self) -> GeometricSchedule:
        """The training noise schedule (σ in Å) recorded in the checkpoint."""
        s = self.metadata.get("schedule")
        if not isinstance(s, dict):
            raise CheckpointError(f"checkpoint {self.path} records no noise schedule")
        return GeometricSchedule(**{k: v for k, v in s.items() if not k.startswith("_")})

    @property
    def max_length(self) -> int:
        return int(self.metadata.get("max_length", 256))


def build_model(registry: Mapping[str, Callable[..., torch.nn.Module]], metadata: dict[str, Any],
                path: str | os.PathLike) -> torch.nn.Module:
    """Instantiate ``metadata["model_class"]`` from ``registry`` with ``metadata["model_config"]``."""
    name = metadata.get("model_class")
    if name not in registry:
        raise CheckpointError(
            f"checkpoint {path} holds a {name!r} model; expected one of {sorted(registry)}")
    cls = registry[name]
    config = metadata.get("model_config") or {}
    params = inspect.signature(cls).parameters
    unknown = sorted(set(config) - set(params))
    if unknown or not all(isinstance(v, (int, float, str, bool, type(None), list)) for v in config.values()):
        raise CheckpointError(f"checkpoint {path} has an invalid model_config for {name}: {unknown or config}")
    return cls(**config)


def load_model(path: str | os.PathLike, registry: Mapping[str, Callable[..., torch.nn.Module]] | None = None,
               *, device: torch.device | str = "cpu", prefer_ema: bool = True) -> LoadedModel:
    """Load a model checkpoint (full training checkpoint or inference export) onto ``device``."""
    registry = SCORE_MODELS if registry is None else registry
    meta = read_metadata(path)
    model = build_model(registry, meta, path)
    ckpt = load_checkpoint(path)
    load_weights_into(model, ckpt.weights(prefer_ema), path)
    model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return LoadedModel(model=model, metadata=ckpt.metadata, path=Path(path))


def export_inference_checkpoint(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Write the EMA weights and metadata of training checkpoint ``src`` to ``dst`` (small file
    for shipping: no optimiser state)."""
    from proteindsm.core.checkpoint import Checkpoint, save_checkpoint

    ckpt = load_checkpoint(src)
    meta = dict(ckpt.metadata)
    meta.pop("optimizer_param_groups", None)
    meta["exported_from_step"] = ckpt.step
    return save_checkpoint(dst, Checkpoint(model=ckpt.weights(prefer_ema=True), metadata=meta))
