"""Pieces shared by the protein commands (sample, design): checkpoint, lengths, sampler, output."""

from __future__ import annotations

import importlib.resources
import math
import re
from pathlib import Path
from typing import Any, NamedTuple, Optional

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from proteindsm.errors import InputError

from .config import instantiate_checked, resolve_path

SHIPPED_SCORE_CHECKPOINT = "backbone_score.safetensors"


def shipped_checkpoint(name: str) -> Path:
    """Path of a checkpoint shipped inside the package (``proteindsm/checkpoints/``)."""
    return Path(str(importlib.resources.files("proteindsm") / "checkpoints" / name))


def checkpoint_path(value: Optional[str], default_name: str = SHIPPED_SCORE_CHECKPOINT) -> Path:
    return shipped_checkpoint(default_name) if value in (None, "", "null") else resolve_path(value)


def parse_lengths(value: Any, max_length: int) -> list[int]:
    """``100`` | ``[60, 100]`` | ``"60:160:20"`` → list of lengths, each in [1, max_length]."""
    if isinstance(value, (list, tuple, ListConfig)):
        items = list(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*\d+\s*:\s*\d+\s*(:\s*\d+\s*)?", value):
        parts = [int(p) for p in value.split(":")]
        items = list(range(parts[0], parts[1], parts[2] if len(parts) > 2 else 1))
    elif isinstance(value, str) and "," in value:
        items = value.split(",")
    else:
        items = [value]
    lengths = []
    for item in items:
        try:
            n = int(item)
            if n != float(item):
                raise ValueError
        except (TypeError, ValueError):
            raise InputError(f"length must be an integer, a list of integers or start:stop:step, got {value!r}") from None
        if not 1 <= n <= max_length:
            raise InputError(f"length {n} is outside what the model supports (1–{max_length} residues)")
        lengths.append(n)
    if not lengths:
        raise InputError(f"length {value!r} gives no lengths")
    return lengths


def positive_int(name: str, value: Any) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if n < 1 or str(value).strip() not in (str(n),):
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return n


def named_sampler(name: str, steps: int | None = None) -> tuple[Any, int]:
    """The sampler of ``configs/protein/sampler/<name>.yaml`` exactly as ``proteindsm sample
    sampler=<name> [steps=N]`` builds it, and its number of σ levels (for scripts/benchmarks)."""
    from .config import compose

    overrides = [f"sampler={name}"] + ([f"steps={int(steps)}"] if steps is not None else [])
    return build_sampler(compose("protein", "sample", overrides))


def build_sampler(cfg: DictConfig) -> tuple[Any, int]:
    """The sampler instance and its number of σ levels (``steps`` overrides ``sampler.levels``)."""
    sampler_cfg = OmegaConf.to_container(cfg.sampler, resolve=True)
    levels = sampler_cfg.pop("levels", 100)
    if cfg.get("steps") is not None:
        levels = cfg.steps
    levels = positive_int("steps", levels)
    return instantiate_checked(sampler_cfg, "sampler"), levels


def sigma_grid(cfg: DictConfig, schedule: Any, levels: int) -> torch.Tensor:
    from proteindsm.core import GeometricSchedule

    s_min = float(cfg.sigma_min) if cfg.get("sigma_min") is not None else schedule.sigma_min
    s_max = float(cfg.sigma_max) if cfg.get("sigma_max") is not None else schedule.sigma_max
    return GeometricSchedule(sigma_min=s_min, sigma_max=s_max, num_levels=levels).levels()


class SamplingSetup(NamedTuple):
    """What ``sample`` and ``design`` both need, validated before any work."""

    fmt: str
    num: int
    batch_size: int
    sampler: Any
    levels: int
    device: torch.device
    checkpoint: Path
    loaded: Any  # proteindsm.protein.models.LoadedModel
    lengths: list[int]
    sigmas: torch.Tensor
    score_fn: Any  # the model's score, with the steric potential composed on when steric.scale > 0
    steric: Optional[dict]  # the steric potential's settings (None: off), for the manifest


def steric_potential(cfg: DictConfig) -> Optional[dict]:
    """Validated ``steric.{scale, sigma_max, margin}`` of a sample/design config; None when off."""
    st = cfg.get("steric")
    if st is None:
        return None
    out = {}
    for key, low, inclusive in (("scale", 0.0, True), ("sigma_max", 0.0, False), ("margin", 0.0, True)):
        try:
            v = float(st.get(key))
        except (TypeError, ValueError):
            raise InputError(f"steric.{key} must be a number, got {st.get(key)!r}") from None
        if not (math.isfinite(v) and (v >= low if inclusive else v > low)):
            raise InputError(f"steric.{key} must be {'>=' if inclusive else '>'} {low:g}, got {v:g}")
        out[key] = v
    if out["scale"] >= 2.0:
        raise InputError(f"steric.scale must be < 2 (the term is −(w/σ²)∇U: w >= 2 overshoots every "
                         f"Langevin step), got {out['scale']:g}")
    return out if out["scale"] > 0 else None


def steric_option(text: Optional[str]) -> Optional[dict]:
    """The ``--steric SCALE[:SIGMA_MAX]`` option of the benchmark scripts as the settings
    :func:`with_steric` takes (margin 0.2 Å, sigma_max 1 Å unless given), validated like
    ``steric.*`` of ``proteindsm sample``; None for an empty option or scale 0."""
    if not text:
        return None
    parts = str(text).split(":")
    if len(parts) > 2:
        raise InputError(f"--steric must be SCALE or SCALE:SIGMA_MAX, got {text!r}")
    cfg = OmegaConf.create({"steric": {"scale": parts[0], "sigma_max": parts[1] if len(parts) > 1 else 1.0,
                                       "margin": 0.2}})
    return steric_potential(cfg)


def with_steric(score_fn: Any, settings: Optional[dict]) -> Any:
    """``score_fn`` plus the steric-repulsion potential (:func:`proteindsm.protein.restraints.steric_clash_energy`
    on x̂₀, −(w/σ²)∇U at σ ≤ sigma_max), or ``score_fn`` itself when ``settings`` is None."""
    if settings is None:
        return score_fn
    import functools

    from proteindsm.core import PotentialGuidance, with_guidance
    from proteindsm.protein.restraints import steric_clash_energy

    energy = functools.partial(steric_clash_energy, margin=settings["margin"])
    return with_guidance(score_fn, [PotentialGuidance(energy, settings["scale"], settings["sigma_max"],
                                                      inverse_sigma_squared=True)])


def prepare_sampling(cfg: DictConfig) -> SamplingSetup:
    """Check format/num/batch_size/sampler/device, load the checkpoint, parse the lengths against
    the model's maximum and build the σ grid — one clear InputError before any work."""
    from proteindsm.core import resolve_device
    from proteindsm.protein.models import load_model

    fmt = str(cfg.format).lower()
    if fmt not in ("pdb", "cif"):
        raise InputError(f"format must be 'pdb' or 'cif', got {cfg.format!r}")
    num = positive_int("num", cfg.num)
    batch_size = positive_int("batch_size", cfg.batch_size)
    steric = steric_potential(cfg)
    sampler, levels = build_sampler(cfg)
    device = resolve_device(str(cfg.device))
    ckpt = checkpoint_path(cfg.checkpoint)
    loaded = load_model(ckpt, device=device)
    lengths = parse_lengths(cfg.length, loaded.max_length)
    sigmas = sigma_grid(cfg, loaded.schedule, levels)
    return SamplingSetup(fmt, num, batch_size, sampler, levels, device, ckpt, loaded, lengths, sigmas,
                         with_steric(loaded.model, steric), steric)
