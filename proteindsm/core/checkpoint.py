"""Checkpoints as single safetensors files (safe to load: no pickle, no code execution).

Layout of one file:
* tensors ``model/<name>``, ``ema/<name>``, ``optim/<param index>/<key>``, ``rng/torch``;
* string metadata ``proteindsm`` = JSON with ``format``, ``model_class``, ``model_config``, ``step``,
  the training config, the optimiser's ``param_groups`` and whatever the domain records (σ range,
  data split, wall time, hardware).

Files are written atomically (temporary file + ``os.replace``) so an interrupted run never leaves a
half-written checkpoint.  Loading validates everything and raises :class:`CheckpointError` with the
file name and the problem, never a raw torch/safetensors traceback.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from proteindsm.errors import CheckpointError
from proteindsm.fileio import atomic_write_with

FORMAT = "proteindsm-checkpoint-v1"
_META_KEY = "proteindsm"


@dataclass
class Checkpoint:
    """What a checkpoint holds.  ``model``/``ema`` are state dicts; ``optimizer`` a torch optimiser
    state dict or None; ``metadata`` the JSON metadata (see module docstring)."""

    model: dict[str, torch.Tensor]
    metadata: dict[str, Any]
    ema: Optional[dict[str, torch.Tensor]] = None
    optimizer: Optional[dict[str, Any]] = None
    rng_state: Optional[torch.Tensor] = None
    path: Optional[Path] = None

    @property
    def step(self) -> int:
        return int(self.metadata.get("step", 0))

    def weights(self, prefer_ema: bool = True) -> dict[str, torch.Tensor]:
        """The weights to sample with: EMA when present and preferred, else the raw model."""
        return self.ema if (prefer_ema and self.ema) else self.model


def save_checkpoint(path: str | os.PathLike, checkpoint: Checkpoint) -> Path:
    """Write ``checkpoint`` to ``path`` atomically; returns the path."""
    tensors: dict[str, torch.Tensor] = {}
    for prefix, state in (("model", checkpoint.model), ("ema", checkpoint.ema or {})):
        for k, v in state.items():
            tensors[f"{prefix}/{k}"] = v.detach().cpu().contiguous().clone()
    meta = dict(checkpoint.metadata)
    meta["format"] = FORMAT
    if checkpoint.optimizer is not None:
        for idx, st in checkpoint.optimizer["state"].items():
            for key, val in st.items():
                t = val if torch.is_tensor(val) else torch.tensor(val)
                tensors[f"optim/{idx}/{key}"] = t.detach().cpu().contiguous().clone()
        meta["optimizer_param_groups"] = checkpoint.optimizer["param_groups"]
    if checkpoint.rng_state is not None:
        tensors["rng/torch"] = checkpoint.rng_state.clone()
    header = {_META_KEY: json.dumps(meta, default=_json_default)}
    return atomic_write_with(path, lambda tmp: save_file(tensors, tmp, metadata=header))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (set, tuple)):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    if torch.is_tensor(obj):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON metadata of a checkpoint without loading its tensors."""
    from safetensors import safe_open

    p = _existing(path)
    try:
        with safe_open(str(p), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {p} is not a readable safetensors file ({exc})") from None
    return _parse_meta(p, header)


def load_checkpoint(path: str | os.PathLike, *, expected_model_class: Optional[str] = None) -> Checkpoint:
    """Load and validate a checkpoint.  ``expected_model_class`` guards against a checkpoint of
    another model (e.g. an image U-Net given to the protein sampler)."""
    p = _existing(path)
    meta = read_metadata(p)
    if expected_model_class is not None and meta.get("model_class") != expected_model_class:
        raise CheckpointError(
            f"checkpoint {p} holds a {meta.get('model_class')!r} model, expected {expected_model_class!r}")
    try:
        tensors = load_file(str(p))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {p} is corrupt ({exc})") from None
    model, ema, optim_state = {}, {}, {}
    rng = None
    for name, t in tensors.items():
        kind, _, rest = name.partition("/")
        if kind == "model":
            model[rest] = t
        elif kind == "ema":
            ema[rest] = t
        elif kind == "optim":
            idx, _, key = rest.partition("/")
            optim_state.setdefault(int(idx), {})[key] = t
        elif kind == "rng":
            rng = t
    if not model:
        raise CheckpointError(f"checkpoint {p} holds no model weights")
    optimizer = None
    if "optimizer_param_groups" in meta:
        optimizer = {"state": optim_state, "param_groups": meta["optimizer_param_groups"]}
    return Checkpoint(model=model, ema=ema or None, optimizer=optimizer, rng_state=rng, metadata=meta, path=p)


def load_weights_into(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str | os.PathLike,
                      *, allow_missing: Sequence[str] = ()) -> None:
    """``model.load_state_dict(state)`` with a clear error naming the file and mismatched tensors.

    ``allow_missing``: names of the model's tensors that the file may lack (they keep their current
    values) — for warm starts of a model with new, zero-initialised inputs."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state) - set(allow_missing))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing[:3]}{'…' if len(missing) > 3 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:3]}{'…' if len(unexpected) > 3 else ''}")
        if wrong:
            k = wrong[0]
            parts.append(f"shape mismatch at {k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}")
        raise CheckpointError(
            f"checkpoint {source} does not fit this model ({'; '.join(parts)}): it was made for another "
            f"network or another configuration")
    model.load_state_dict({**{k: v for k, v in own.items() if k not in state}, **state})


def _existing(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint file not found: {p}")
    return p


def _parse_meta(p: Path, header: dict[str, str]) -> dict[str, Any]:
    if _META_KEY not in header:
        raise CheckpointError(f"checkpoint {p} is not a proteindsm checkpoint (no '{_META_KEY}' metadata)")
    try:
        meta = json.loads(header[_META_KEY])
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"checkpoint {p} has corrupt metadata ({exc})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {p} has format {meta.get('format')!r}, expected {FORMAT!r}")
    return meta
