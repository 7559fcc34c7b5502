"""The typed plan of a sampling run: plain options checked first (:class:`SampleOptions`, no model
work), then the loaded model, σ grid, priors and secondary-structure layout (:class:`SamplingPlan`).

``proteindsm sample`` and :func:`proteindsm.protein.sample` both build their run here, so the same
settings give the same backbones through either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import torch

from proteindsm.core.validation import positive_number
from proteindsm.errors import InputError
from proteindsm.resources import checkpoint_path, version

from . import options as opt

DEFAULT_SAMPLER = "langevin_sheet_wide"
"""The sampler preset of ``proteindsm sample`` (``configs/protein/sample.yaml``; a test keeps them equal)."""

_OFF = (None, False, 0, "off", "none", "null")


@dataclass(frozen=True)
class SampleOptions:
    """Validated plain settings of a sampling run (nothing loaded yet).

    ``length``: the raw length request (checked against the model when the plan is loaded);
    ``ss_mode`` / ``ss_tokens``: see :func:`~proteindsm.protein.generate.options.parse_ss`;
    ``pairs_mode`` / ``pairs``: which strands pair, :func:`~proteindsm.protein.generate.options.parse_pairs_option`;
    ``steric`` / ``compactness``: validated potential settings, None when off."""

    length: Any
    num: int
    seed: int
    sampler: Any
    sampler_name: str
    levels: int
    checkpoint: Path
    ss_mode: str
    ss_tokens: Any
    pairs_mode: str
    pairs: Any
    steric: Optional[dict]
    compactness: Optional[dict]
    sigma_min: Optional[float]
    sigma_max: Optional[float]
    device: torch.device
    batch_size: int
    format: str = "pdb"
    rho: Optional[float] = None     # σ-grid spacing of the sampler preset (None: geometric)
    ideal_output: bool = True
    save_trajectory: bool = False
    progress: bool = True
    ss_guidance: float = 1.0        # classifier-free guidance weight on ss labels + strand pairs (1: off)

    def ss_guidance_entry(self) -> dict:
        """``{"ss_guidance": w}`` for a run's recorded settings, ``{}`` when off (as older manifests)."""
        return {} if self.ss_guidance == 1.0 else {"ss_guidance": self.ss_guidance}


def _potential(name: str, value: Any) -> Optional[dict]:
    """A potential's settings: a mapping (validated; missing keys take the defaults) or off."""
    if isinstance(value, Mapping):
        return opt.potential_settings(name, value)
    if value is None or value is False or (isinstance(value, str) and value.strip().lower() in _OFF) \
            or (isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0):
        return None
    raise InputError(f"{name} must be a mapping like {dict(opt.POTENTIAL_DEFAULTS[name])} or None (off), "
                     f"got {value!r}")


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{name} must be true or false, got {value!r}")
    return value


def sample_options(*, length: Any = None, num: Any = 8, seed: Any = 0, sampler: Any = DEFAULT_SAMPLER,
                   steps: Any = None, checkpoint: Any = None, ss: Any = "auto", ss_file: Any = None,
                   pairs: Any = "auto", steric: Any = "default", compactness: Any = "default", sigma_min: Any = None,
                   sigma_max: Any = None, device: Any = "auto", batch_size: Any = 8, format: Any = "pdb",
                   ideal_output: Any = True, save_trajectory: Any = False, progress: Any = True,
                   ss_guidance: Any = 1.0, sampler_name: Optional[str] = None) -> SampleOptions:
    """Check every plain setting of a sampling run (one :class:`InputError` naming the setting).

    The keys and defaults are those of ``proteindsm sample`` (``configs/protein/sample.yaml``).
    ``sampler``: a preset name (``configs/protein/sampler/``), a mapping with ``_target_`` (and
    optionally ``levels``), or a sampler object; ``steps`` overrides its σ levels.  ``steric`` /
    ``compactness``: ``"default"``, a mapping of settings (missing keys: the defaults) or None (off).
    ``ss_guidance``: the classifier-free guidance weight w ≥ 0 on the secondary-structure labels and
    strand pairs (:func:`~proteindsm.protein.generate.options.model_score_fn`; 1 = the conditional
    model, no extra evaluations).
    """
    from proteindsm.core import resolve_device

    seed = opt.seed_value(seed)
    num = opt.positive_int("num", num)
    batch_size = opt.positive_int("batch_size", batch_size)
    fmt = opt.checked_format(format)
    ss_mode, ss_tokens = opt.parse_ss(ss, ss_file, length)
    pairs_mode, pairs = opt.parse_pairs_option(pairs, ss_mode, ss_tokens)
    pots = {name: _potential(name, opt.POTENTIAL_DEFAULTS[name] if value == "default" else value)
            for name, value in (("steric", steric), ("compactness", compactness))}
    rho = None
    if isinstance(sampler, str):
        name = sampler
        rho = opt.grid_rho(opt.preset_settings(sampler))
        sampler, levels = opt.named_sampler(sampler, steps)
    elif isinstance(sampler, Mapping):
        name = str(sampler.get("_target_", "custom")).rpartition(".")[2]
        rho = opt.grid_rho(sampler)
        sampler, levels = opt.build_sampler(sampler, steps)
    elif hasattr(sampler, "sample") and hasattr(sampler, "num_evaluations"):
        name = type(sampler).__name__
        levels = opt.positive_int("steps", 100 if steps is None else steps)
    else:
        raise InputError(f"sampler must be a preset name ({', '.join(opt.sampler_presets())}), a mapping with "
                         f"_target_, or a sampler object, got {sampler!r}")
    return SampleOptions(
        length=length, num=num, seed=seed, sampler=sampler, sampler_name=sampler_name or name, levels=levels,
        checkpoint=checkpoint_path(checkpoint), ss_mode=ss_mode, ss_tokens=ss_tokens,
        pairs_mode=pairs_mode, pairs=pairs, steric=pots["steric"],
        compactness=pots["compactness"], sigma_min=positive_number("sigma_min", sigma_min, unit="Å", allow_none=True),
        sigma_max=positive_number("sigma_max", sigma_max, unit="Å", allow_none=True), device=resolve_device(str(device)),
        batch_size=batch_size, format=fmt, rho=rho, ideal_output=_bool("ideal_output", ideal_output),
        save_trajectory=_bool("save_trajectory", save_trajectory), progress=_bool("progress", progress),
        ss_guidance=opt.ss_guidance_weight(ss_guidance))


@dataclass
class SamplingPlan:
    """Everything a sampling run needs, loaded and checked.

    ``counts``: backbones per length (``{L: n}``, in sampling order); ``sigmas``: descending σ grid
    (Å); ``score_fn``: the model's score with the potentials that are on (and, for a design run,
    the guidance terms); ``ss_layout``: the secondary structure of each backbone (None:
    unconditional); ``extra_remarks``: REMARK lines added to every file; ``extra_settings``: settings
    beyond the sampler's that determine the backbones (e.g. design targets), recorded in the manifest
    and compared when a partial run is continued."""

    options: SampleOptions
    loaded: Any  # proteindsm.protein.model.checkpoints.LoadedModel
    counts: dict[int, int]
    sigmas: torch.Tensor
    score_fn: Any
    ss_layout: Any = None
    ss_mode: str = "none"
    extra_remarks: tuple[str, ...] = ()
    extra_settings: dict = field(default_factory=dict)

    @property
    def lengths(self) -> list[int]:
        return list(self.counts)

    @property
    def sampler(self) -> Any:
        return self.options.sampler

    @property
    def device(self) -> torch.device:
        return self.options.device

    @property
    def batch_size(self) -> int:
        return self.options.batch_size

    @property
    def checkpoint(self) -> Path:
        return self.options.checkpoint

    @property
    def levels(self) -> int:
        return self.options.levels

    @property
    def potentials(self) -> dict:
        return {"steric": self.options.steric, "compactness": self.options.compactness}

    def settings(self) -> dict:
        """The settings that determine the backbones (JSON-able), recorded in the manifest and
        compared when a partial run is continued."""
        o = self.options
        return {
            "checkpoint": str(o.checkpoint), "checkpoint_step": self.loaded.metadata.get("step"),
            "sampler": {"name": o.sampler_name, "class": type(o.sampler).__name__, **_fields(o.sampler)},
            "sigma_grid": {"levels": o.levels, "sigma_max": float(self.sigmas[0]), "sigma_min": float(self.sigmas[-1]),
                           "rho": o.rho},
            "steric": o.steric, "compactness": o.compactness, "seed": o.seed, "batch_size": o.batch_size,
            "counts": {str(L): n for L, n in self.counts.items()}, "ss_mode": self.ss_mode,
            "ss": _ss_settings(o), **_pairs_settings(o), "format": o.format, "ideal_output": o.ideal_output,
            "save_trajectory": o.save_trajectory, **o.ss_guidance_entry(),
            **self.extra_settings,
        }

    def remarks(self, backbone: Any) -> list[str]:
        """The ``REMARK`` lines of one backbone's PDB file (generator, checkpoint, sampler, seed, ss)."""
        from proteindsm.protein.data.secondary_structure import tokens_to_string

        o = self.options
        step = self.loaded.metadata.get("step")
        lines = [f"GENERATOR proteindsm {version()}",
                 f"CHECKPOINT {o.checkpoint.name}" + ("" if step is None else f" (step {step})"),
                 f"SAMPLER {o.sampler_name} ({type(o.sampler).__name__}, {o.levels} sigma levels "
                 f"{float(self.sigmas[0]):.4g}-{float(self.sigmas[-1]):.4g} A)",
                 f"SEED {o.seed} LENGTH {backbone.length} INDEX {backbone.index}"]
        if backbone.ss is not None:
            lines.append(f"SECONDARY STRUCTURE {tokens_to_string(backbone.ss)}")
        if getattr(backbone, "pairs", None) is not None:
            lines.append(f"STRAND PAIRS {backbone.pairs or 'NONE'} (STRAND SEGMENTS NUMBERED FROM 1)")
        lines.append("RESIDUES ARE GLYCINE PLACEHOLDERS: A BACKBONE ONLY (DESIGN A SEQUENCE NEXT, "
                     "E.G. proteindsm sequences)")
        return lines + list(self.extra_remarks)


def _fields(sampler: Any) -> dict:
    try:
        return dict(vars(sampler))
    except TypeError:
        return {}


def _ss_settings(o: SampleOptions) -> Any:
    from proteindsm.protein.data.secondary_structure import tokens_to_string

    if o.ss_mode == "string":
        return tokens_to_string(o.ss_tokens)
    if o.ss_mode == "file":
        from proteindsm.protein.data.strand_pairing import as_layout

        def text(entry: Any) -> str:
            layout = as_layout(entry)
            return tokens_to_string(layout.tokens) + ("" if layout.pairs is None else f" pairs={layout.pairs_text}")
        return {str(L): [text(t) for t in group] for L, group in o.ss_tokens.items()}
    return o.ss_mode


def _pairs_settings(o: SampleOptions) -> dict:
    """The ``pairs`` entry of the settings: only when not the default (older manifests have none)."""
    from proteindsm.protein.data.strand_pairing import format_pairs

    if o.pairs_mode == "auto":
        return {}
    return {"pairs": "none" if o.pairs_mode == "none" else format_pairs(o.pairs)}


def load_plan(o: SampleOptions, composition: Optional[dict] = None) -> SamplingPlan:
    """Load the checkpoint of ``o`` and build the plan: lengths checked against the model, the σ
    grid, the score with its potentials and the ss layout (``composition``: optional
    ``{"helix": f, "strand": f}`` targets for ``ss=auto``)."""
    from proteindsm.protein.model.checkpoints import load_model

    loaded = load_model(o.checkpoint, device=o.device)
    length = o.length
    if o.ss_mode == "file":
        counts = {L: len(group) * o.num for L, group in o.ss_tokens.items()}
        opt.parse_lengths(list(counts), loaded.max_length)
    else:
        if length is None:
            length = len(o.ss_tokens) if o.ss_tokens is not None else 100
        counts = {L: o.num for L in opt.parse_lengths(length, loaded.max_length)}
    sigmas = opt.sigma_grid(loaded.schedule, o.levels, o.sigma_min, o.sigma_max, rho=o.rho)
    ss_layout = opt.ss_layout_for(o.ss_mode, o.ss_tokens, o.seed, loaded.model, composition=composition,
                                  per_string=o.num, pairs_mode=o.pairs_mode, pairs=o.pairs)
    score_fn = opt.with_potentials(opt.model_score_fn(loaded.model, o.ss_guidance), o.steric, o.compactness)
    return SamplingPlan(o, loaded, counts, sigmas, score_fn, ss_layout,
                        o.ss_mode if ss_layout is not None else "none")
