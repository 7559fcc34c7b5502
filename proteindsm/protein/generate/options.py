"""Plain-value options of a sampling run, validated: lengths, counts, seed, potentials, ``ss``,
sampler presets.  Each raises :class:`proteindsm.errors.InputError` naming the option and what was
expected; none loads a model, so all of them run before any work."""

from __future__ import annotations

import functools
import math
import re
from typing import Any, Callable, Mapping, Optional

import numpy as np
import torch

from proteindsm.errors import InputError
from proteindsm.resources import config_root, resolve_path

SsLayout = Callable[[int, int], Optional[np.ndarray]]
"""``(length, index) -> tokens (length,) | None``: the secondary structure of each backbone."""


def parse_lengths(value: Any, max_length: int) -> list[int]:
    """``100`` | ``[60, 100]`` | ``"60:160:20"`` | ``"60,100"`` → list of lengths in [1, max_length]."""
    if isinstance(value, (list, tuple)) or (hasattr(value, "__iter__") and not isinstance(value, (str, bytes))
                                            and not hasattr(value, "shape")):
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
    """``value`` as an integer >= 1 (``"8"`` and ``8`` yes; ``8.5``, ``"abc"``, ``0`` no)."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if isinstance(value, bool) or n < 1 or str(value).strip() not in (str(n),):
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return n


def seed_value(value: Any, name: str = "seed") -> int:
    """A seed: an integer >= 0 (``"3"`` and ``3`` yes; ``"abc"``, ``1.5``, ``-1`` no)."""
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"\d+", text):
        raise InputError(f"{name} must be a non-negative integer, got {value!r}")
    return int(text)


POTENTIAL_FIELDS = {
    # name: ((key, lower bound, bound inclusive), ...); every potential also has scale < 2
    "steric": (("scale", 0.0, True), ("sigma_max", 0.0, False), ("margin", 0.0, True)),
    "compactness": (("scale", 0.0, True), ("sigma_max", 0.0, False), ("max_normalised", 0.0, False)),
}
POTENTIAL_DEFAULTS = {
    # the defaults of `proteindsm sample` (configs/protein/sample.yaml; a test keeps them equal)
    "steric": {"scale": 1.0, "sigma_max": 1.0, "margin": 0.2},
    "compactness": {"scale": 0.5, "sigma_max": 10.0, "max_normalised": 3.3},
}


def potential_settings(name: str, settings: Optional[Mapping]) -> Optional[dict]:
    """Validated ``{scale, sigma_max, ...}`` of the potential ``name`` (a key of
    :data:`POTENTIAL_FIELDS`); None when ``settings`` is None or its scale is 0.  Keys left out take
    the :data:`POTENTIAL_DEFAULTS`."""
    if settings is None:
        return None
    unknown = sorted(set(settings) - {k for k, _, _ in POTENTIAL_FIELDS[name]})
    if unknown:
        raise InputError(f"{name}: unknown key(s) {unknown}; expected some of "
                         f"{[k for k, _, _ in POTENTIAL_FIELDS[name]]}")
    st = {**POTENTIAL_DEFAULTS[name], **dict(settings)}
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


def _option(name: str, text: Optional[str], exposed: int, defaults: dict) -> Optional[dict]:
    """A script option ``SCALE[:SIGMA_MAX[:...]]`` — the first ``exposed`` fields of
    :data:`POTENTIAL_FIELDS` ``[name]`` in order, trailing ones optional, the rest from ``defaults``."""
    if not text:
        return None
    keys = [k for k, _, _ in POTENTIAL_FIELDS[name]][:exposed]
    parts = str(text).split(":")
    if len(parts) > exposed:
        raise InputError(f"--{name} must be {':'.join(k.upper() for k in keys)} (trailing fields optional), "
                         f"got {text!r}")
    return potential_settings(name, dict(defaults, **dict(zip(keys, parts))))


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
    (:func:`proteindsm.protein.generate.restraints.steric_clash_energy`) and the compactness ceiling
    (:func:`proteindsm.protein.generate.restraints.compactness_energy`).  ``score_fn`` itself when both are None."""
    from proteindsm.core import PotentialGuidance, with_guidance
    from proteindsm.protein.generate.restraints import compactness_energy, steric_clash_energy

    terms = []
    if steric is not None:
        energy = functools.partial(steric_clash_energy, margin=steric["margin"])
        terms.append(PotentialGuidance(energy, steric["scale"], steric["sigma_max"], inverse_sigma_squared=True))
    if compactness is not None:
        energy = functools.partial(compactness_energy, max_normalised=compactness["max_normalised"])
        terms.append(PotentialGuidance(energy, compactness["scale"], compactness["sigma_max"],
                                       inverse_sigma_squared=True))
    return with_guidance(score_fn, terms)


SS_GUIDANCE_KEYS = ("ss", "ss_pairs")
"""The ``cond`` entries that classifier-free ``ss_guidance`` drops for its unconditional pass."""


def ss_guidance_weight(value: Any) -> float:
    """``ss_guidance``: a number w ≥ 0 (1 = off), checked before any model work."""
    import math

    try:
        w = float("nan") if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        w = float("nan")
    if not (math.isfinite(w) and w >= 0):
        raise InputError(f"ss_guidance must be a number >= 0 (1 = off; 2-3 follows ss= more strictly), got {value!r}")
    return w


def model_score_fn(model: Any, ss_guidance: float = 1.0) -> Any:
    """The model as a score function for sampling: with classifier-free guidance of weight
    ``ss_guidance`` on its secondary-structure labels and strand pairs
    (:class:`proteindsm.core.ClassifierFreeGuidance`, keys :data:`SS_GUIDANCE_KEYS`; 1 = off), then
    wrapped in :class:`proteindsm.core.SelfConditioning` when it was trained with self-conditioning
    (both guided passes get the same previous estimate; the estimate fed on is the guided one)."""
    config = getattr(model, "config", {}) or {}
    score = model
    if ss_guidance != 1.0:
        if not config.get("ss_conditioning", False):
            raise InputError(f"ss_guidance={ss_guidance:g} needs a checkpoint with secondary-structure conditioning")
        from proteindsm.core import ClassifierFreeGuidance
        score = ClassifierFreeGuidance(float(ss_guidance), SS_GUIDANCE_KEYS).wrap(model)
    if bool(config.get("self_conditioning", False)):
        from proteindsm.core import SelfConditioning
        return SelfConditioning(score)
    return score


# ------------------------------------------------------------------------------ secondary structure
def parse_ss(ss: Any = "auto", ss_file: Any = None, length: Any = None) -> tuple[str, Any]:
    """``ss=auto | none | STRING`` (or ``ss_file=PATH``) → ``(mode, tokens)``: ``("auto", None)``,
    ``("none", None)``, ``("string", tokens)`` or ``("file", {length: [tokens, ...]})``, with the
    length a string implies checked against ``length`` (one error naming both)."""
    from proteindsm.protein.data.secondary_structure import parse_ss_string

    if ss_file:
        return "file", read_ss_file(ss_file, length)
    if ss is None or (isinstance(ss, str) and ss.strip().lower() in ("none", "null", "off")):
        return "none", None
    if isinstance(ss, bool) or not isinstance(ss, str):
        raise InputError(f"ss must be 'auto', 'none' or a string over H/E/L, got {ss!r}")
    if ss.strip().lower() == "auto":
        return "auto", None
    tokens = parse_ss_string(ss.strip())
    if length is not None:
        lengths = parse_lengths(length, 10**9)
        if len(lengths) != 1:
            raise InputError(f"ss=STRING fixes one backbone length ({len(tokens)}); length= gives several "
                             f"({length}): use ss=auto or ss=none with several lengths")
        if lengths[0] != len(tokens):
            raise InputError(f"ss has {len(tokens)} residues but length={lengths[0]}: they must agree "
                             f"(or leave length= out)")
    return "string", tokens


def read_ss_file(ss_file: Any, length: Any = None) -> dict[int, list]:
    """``ss_file=PATH``: one secondary-structure string per line (blank lines and FASTA ``>`` headers
    skipped), optionally followed by ``pairs=S:T/...`` (which of its strand segments pair) →
    ``{length: [tokens or PairedLayout, ...]}``.  One error naming the file and line for a bad string
    or pairs; ``length`` must be None."""
    from proteindsm.protein.data.secondary_structure import parse_ss_string
    from proteindsm.protein.data.strand_pairing import PairedLayout, parse_pairs, strand_segments

    path = resolve_path(ss_file)
    if not path.is_file():
        raise InputError(f"ss_file={ss_file}: file not found")
    if length is not None:
        raise InputError("ss_file sets the backbone lengths (one per string): leave length= out")
    groups: dict[int, list] = {}
    for n, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith(">"):
            continue
        fields = text.split()
        where = f"ss_file {path.name}: line {n}"
        tokens = parse_ss_string(fields[0], field=where)
        entry: Any = tokens
        if len(fields) > 1:
            if len(fields) > 2 or not fields[1].startswith("pairs="):
                raise InputError(f"{where}: after the string only 'pairs=S:T/...' may follow, got {' '.join(fields[1:])!r}")
            entry = PairedLayout(tokens, tuple(parse_pairs(fields[1][len("pairs="):], strand_segments(tokens),
                                                           source=where)))
        groups.setdefault(len(tokens), []).append(entry)
    if not groups:
        raise InputError(f"ss_file={ss_file}: no secondary-structure strings in the file")
    return dict(sorted(groups.items()))


def parse_pairs_option(pairs: Any, ss_mode: str, ss_tokens: Any) -> tuple[str, Any]:
    """``pairs=auto | none | "S:T/..."`` → ``(mode, adjacency)``: ``("auto", None)`` (``ss=auto``: the
    drawn chain's pairing; a string: not given), ``("none", None)`` or ``("given", [(s, t), ...])``
    (0-based strand segments of the ``ss`` string, checked: one error naming the entry)."""
    from proteindsm.protein.data.strand_pairing import parse_pairs, strand_segments

    if pairs is None or (isinstance(pairs, str) and pairs.strip().lower() in ("none", "null", "off")):
        return "none", None
    if isinstance(pairs, str) and pairs.strip().lower() == "auto":
        return "auto", None
    if not isinstance(pairs, str) or isinstance(pairs, bool):
        raise InputError(f"pairs must be 'auto', 'none' or strand pairs like '1:2/2:3', got {pairs!r}")
    if ss_mode != "string":
        raise InputError("pairs=S:T/... numbers the strand segments of an ss= string: give ss=STRING too "
                         f"(ss is {ss_mode})")
    return "given", parse_pairs(pairs, strand_segments(ss_tokens))


def ss_layout_for(mode: str, tokens: Any, seed: int, model: Any, composition: Optional[dict] = None,
                  per_string: int = 1, pairs_mode: str = "auto", pairs: Any = None) -> Optional[SsLayout]:
    """The ``ss_layout`` callable of :func:`proteindsm.protein.generate.sampling.sample_backbones` for an
    ``ss`` mode: ``auto`` draws a real chain's layout per backbone
    (:func:`proteindsm.protein.data.ss_layouts.draw_layout`), a string is used for every backbone, ``none``
    gives None.  Models without secondary-structure conditioning get None for ``auto`` and an error
    for a string.  ``composition``: optional ``{"helix": f, "strand": f}`` targets for ``auto``.
    ``file``: ``tokens`` is ``{length: [tokens, ...]}``; each string serves ``per_string``
    consecutive backbones of its length.  ``pairs_mode`` / ``pairs``: :func:`parse_pairs_option`; a
    model with strand-pair conditioning gets :class:`~proteindsm.protein.data.strand_pairing.PairedLayout`
    objects (``auto``: the drawn chain's pairing), others plain tokens (and an error for given pairs)."""
    from proteindsm.protein.data.strand_pairing import PairedLayout, as_layout

    conditioned = bool(getattr(model, "config", {}).get("ss_conditioning", False))
    paired = bool(getattr(model, "config", {}).get("pair_conditioning", False))
    if pairs_mode == "given" and not paired:
        raise InputError("pairs=S:T/... needs a checkpoint with strand-pair conditioning (network.pair_conditioning); "
                         "this one has none (leave pairs= out)")
    if mode == "none" or (mode == "auto" and not conditioned):
        return None
    if not conditioned:
        raise InputError(f"{'ss_file' if mode == 'file' else 'ss=STRING'} needs a checkpoint with secondary-structure conditioning; this one has "
                         "none (use ss=none, or checkpoint= a model trained with network.ss_conditioning=true)")
    if mode == "string":
        if pairs_mode == "given":
            layout = PairedLayout(tokens, tuple(pairs))
            return lambda length, index: layout
        return lambda length, index: tokens
    if mode == "file":
        entries = [e for group in tokens.values() for e in group]
        if any(isinstance(e, PairedLayout) for e in entries) and pairs_mode != "none" and not paired:
            raise InputError("ss_file gives strand pairs (pairs=...), which need a checkpoint with strand-pair "
                             "conditioning (network.pair_conditioning); this one has none (add pairs=none to ignore them)")
        if pairs_mode == "none":
            return lambda length, index: as_layout(tokens[length][index // per_string]).tokens
        return lambda length, index: tokens[length][index // per_string]
    from proteindsm.protein.data.ss_layouts import draw_layout
    comp = dict(composition or {})
    if paired and pairs_mode == "auto":
        return lambda length, index: draw_layout(length, seed, index, **comp)
    return lambda length, index: draw_layout(length, seed, index, **comp).tokens


# ---------------------------------------------------------------------------------------- samplers
def sampler_presets() -> list[str]:
    """Names of the sampler presets (``configs/protein/sampler/*.yaml``)."""
    return sorted(p.stem for p in (config_root() / "protein" / "sampler").glob("*.yaml"))


def build_sampler(settings: Mapping, steps: Any = None) -> tuple[Any, int]:
    """A sampler from its settings (``_target_`` the class, ``levels`` the σ levels, the rest its
    fields) and its number of σ levels (``steps`` overrides ``levels``)."""
    import importlib

    node = dict(settings)
    levels = node.pop("levels", 100)
    node.pop("rho", None)          # the σ-grid spacing: grid_rho(settings), used by sigma_grid
    if steps is not None:
        levels = steps
    levels = positive_int("steps", levels)
    target = str(node.pop("_target_", ""))
    module, _, name = target.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        raise InputError(f"sampler class {target!r} not found") from None
    try:
        return cls(**node), levels
    except InputError:
        raise
    except (TypeError, ValueError) as exc:
        raise InputError(f"invalid sampler settings: {str(exc).splitlines()[0]}") from None


def grid_rho(settings: Mapping) -> Optional[float]:
    """The σ-grid spacing ``rho`` of a sampler's settings (None: geometric; see :func:`sigma_grid`)."""
    from proteindsm.core.validation import positive_number

    return positive_number("sampler.rho", dict(settings).get("rho"), allow_none=True, note="null: a geometric grid")


def preset_settings(name: str) -> dict:
    """The settings of ``configs/protein/sampler/<name>.yaml`` (one error naming the presets)."""
    from omegaconf import OmegaConf

    path = config_root() / "protein" / "sampler" / f"{name}.yaml"
    if not path.is_file():
        raise InputError(f"unknown sampler {name!r}; available: {', '.join(sampler_presets())}")
    return OmegaConf.to_container(OmegaConf.load(path), resolve=True)


def named_sampler(name: str, steps: int | None = None, **fields: Any) -> tuple[Any, int]:
    """The sampler of ``configs/protein/sampler/<name>.yaml`` exactly as ``proteindsm sample
    sampler=<name> [steps=N]`` builds it, and its number of σ levels; ``fields`` override the
    preset's (``temperature=0.3``)."""
    return build_sampler({**preset_settings(name), **fields}, steps)


def sigma_grid(schedule: Any, levels: int, sigma_min: Optional[float] = None,
               sigma_max: Optional[float] = None, rho: Optional[float] = None) -> torch.Tensor:
    """The descending σ grid (Å) of ``levels`` levels between the checkpoint's training range
    (``schedule.sigma_min/max``) or the given bounds: geometric, or with ``rho`` the spacing of
    Karras et al. 2022 (:func:`proteindsm.core.sampling_sigmas`)."""
    from proteindsm.core import sampling_sigmas

    s_min = float(sigma_min) if sigma_min is not None else schedule.sigma_min
    s_max = float(sigma_max) if sigma_max is not None else schedule.sigma_max
    return sampling_sigmas(s_min, s_max, levels, rho=rho)


def checked_format(fmt: Any) -> str:
    """``pdb`` or ``cif`` (case-insensitive)."""
    out = str(fmt).lower()
    if out not in ("pdb", "cif"):
        raise InputError(f"format must be 'pdb' or 'cif', got {fmt!r}")
    return out


__all__ = ["parse_lengths", "positive_int", "seed_value", "potential_settings", "steric_option",
           "compactness_option", "with_potentials", "model_score_fn", "ss_guidance_weight", "SS_GUIDANCE_KEYS", "parse_ss", "read_ss_file",
           "ss_layout_for", "parse_pairs_option", "sampler_presets", "build_sampler", "named_sampler", "sigma_grid", "grid_rho",
           "preset_settings",
           "checked_format", "POTENTIAL_FIELDS", "POTENTIAL_DEFAULTS"]
