"""Config → typed components of ``proteindsm toy`` (see :mod:`proteindsm.cli.toy`), checked before any work.

The data set, the σ schedule, the training objective and the samplers (:class:`SamplerSpec`: the
core sampler, its σ grid ``(levels,)`` and how its ``(n, 2)`` chain starts), and the value checks
the toy command uses (each raises one :class:`InputError` naming the key).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from omegaconf import DictConfig

from proteindsm.core import GeometricSchedule, prior_sample
from proteindsm.core.validation import positive_number
from proteindsm.errors import InputError

from .config import instantiate_checked, to_container

__all__ = ["INITS", "SAMPLER_EXTRA_KEYS", "SamplerSpec", "build_dataset", "build_objective", "build_samplers",
           "build_schedule", "checked_float", "checked_int", "checked_positive_float", "checked_positive_int",
]

INITS = ("uniform", "prior")
SAMPLER_EXTRA_KEYS = ("levels", "sigma_min", "sigma_max", "init", "init_box")


def checked_positive_int(name: str, value: Any) -> int:
    """``value`` as an int >= 1 (an integral float is accepted); :class:`InputError` naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def checked_positive_float(name: str, value: Any) -> float:
    """``value`` as a finite float > 0; :class:`InputError` naming ``name`` otherwise."""
    return positive_number(name, value)


def checked_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int >= ``minimum``; :class:`InputError` naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def checked_float(name: str, value: Any, minimum: float) -> float:
    """``value`` as a finite float >= ``minimum``; :class:`InputError` naming ``name`` otherwise."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number >= {minimum}, got {value!r}") from None
    if not (math.isfinite(v) and v >= minimum):
        raise InputError(f"{name} must be a number >= {minimum}, got {value!r}")
    return v


def build_dataset(cfg: DictConfig):
    """The data set from the ``dataset`` config group (``_target_`` + keyword arguments)."""
    from proteindsm.toy.datasets import ToyDataset

    node = to_container(cfg.dataset)
    if not isinstance(node, dict) or "_target_" not in node:
        raise InputError("dataset must be chosen from the dataset group (dataset=two_gaussians, ring, ...)")
    ds = instantiate_checked(node, "dataset")
    if not isinstance(ds, ToyDataset):
        raise InputError(f"dataset._target_ {node['_target_']!r} is not a proteindsm.toy data set")
    return ds


def build_schedule(cfg: DictConfig) -> GeometricSchedule:
    """The training σ schedule from ``schedule.*`` (σ in data units)."""
    s = cfg.schedule
    return GeometricSchedule(sigma_min=checked_positive_float("schedule.sigma_min", s.sigma_min),
                             sigma_max=checked_positive_float("schedule.sigma_max", s.sigma_max),
                             num_levels=checked_positive_int("schedule.num_levels", s.num_levels),
                             weight_power=checked_float("schedule.weight_power", s.weight_power, 0.0))


def build_objective(cfg: DictConfig, schedule: GeometricSchedule) -> tuple[str, Any]:
    """``(name, objective)`` from the ``objective`` config group, built on ``schedule``."""
    node = dict(to_container(cfg.objective))
    name = str(node.pop("name", "custom"))
    make = instantiate_checked(node, "objective", _partial_=True)  # the schedule is passed as the object itself
    try:
        return name, make(schedule=schedule)
    except TypeError as exc:
        raise InputError(f"objective: {exc}") from None


class SamplerSpec:
    """One configured sampler: the core sampler, its σ grid, and how its chain starts."""

    def __init__(self, name: str, node: dict, schedule: GeometricSchedule, score_mode: str) -> None:
        self.name = name
        where = f"samplers.{name}"
        node = dict(node)
        extra = {k: node.pop(k, None) for k in SAMPLER_EXTRA_KEYS}
        if "_target_" not in node:
            raise InputError(f"{where} needs a _target_ (e.g. proteindsm.core.AnnealedLangevin)")
        self.sampler = instantiate_checked(node, where)
        if not hasattr(self.sampler, "sample"):
            raise InputError(f"{where}._target_ {node['_target_']!r} is not a sampler")
        self.levels = checked_positive_int(f"{where}.levels", extra["levels"] if extra["levels"] is not None
                                    else schedule.num_levels)
        s_min = schedule.sigma_min if extra["sigma_min"] is None else checked_positive_float(f"{where}.sigma_min",
                                                                                   extra["sigma_min"])
        s_max = schedule.sigma_max if extra["sigma_max"] is None else checked_positive_float(f"{where}.sigma_max",
                                                                                   extra["sigma_max"])
        if s_min >= s_max and self.levels > 1:
            raise InputError(f"{where}: sigma_min ({s_min}) must be smaller than sigma_max ({s_max})")
        if score_mode == "net" and (s_min < schedule.sigma_min * (1 - 1e-6) or s_max > schedule.sigma_max * (1 + 1e-6)):
            raise InputError(f"{where}: σ range [{s_min}, {s_max}] lies outside the trained range "
                             f"[{schedule.sigma_min}, {schedule.sigma_max}] (schedule.sigma_min/max)")
        self.grid = (GeometricSchedule(s_min, s_max, self.levels).levels(dtype=torch.float32) if self.levels > 1
                     else torch.tensor([s_min], dtype=torch.float32))
        self.init = str(extra["init"] or "prior")
        if self.init not in INITS:
            raise InputError(f"{where}.init must be one of {', '.join(INITS)}, got {self.init!r}")
        self.init_box = checked_positive_float(f"{where}.init_box", extra["init_box"] if extra["init_box"] is not None
                                        else 8.0)

    def initial_state(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``(n, 2)``: uniform on [−box, box]² (Song & Ermon 2019) or σ_max·N(0, I)."""
        if self.init == "uniform":
            return (torch.rand(n, 2, generator=generator) * 2 - 1) * self.init_box
        return prior_sample((n, 2), float(self.grid[0]), generator=generator)

    def describe(self) -> dict[str, Any]:
        fields = {k: v for k, v in vars(self.sampler).items() if not k.startswith("_")}
        return {"class": type(self.sampler).__name__, **fields, "levels": self.levels,
                "sigma_max": float(self.grid[0]), "sigma_min": float(self.grid[-1]), "init": self.init,
                **({"init_box": self.init_box} if self.init == "uniform" else {})}


def build_samplers(cfg: DictConfig, schedule: GeometricSchedule, score_mode: str) -> list[SamplerSpec]:
    """The samplers named in ``sample.samplers``, each from its ``samplers.<name>`` entry."""
    available = to_container(cfg.samplers) or {}
    chosen = to_container(cfg.sample.samplers)
    if isinstance(chosen, str):
        chosen = [chosen]
    if not chosen:
        raise InputError(f"sample.samplers is empty; choose from: {', '.join(available)}")
    specs = []
    for name in chosen:
        if name not in available:
            raise InputError(f"unknown sampler {name!r} in sample.samplers; available: {', '.join(available)}")
        specs.append(SamplerSpec(str(name), available[name], schedule, score_mode))
    return specs

