"""``proteindsm design property=NAME target=VALUE [scale=W] [length=100] [num=16] [out=DIR]``.

Guided sampling toward target properties (classifier guidance with the shipped noise-conditional
predictors, or a user's differentiable property on the denoised estimate), with the same samplers
as ``proteindsm sample``.  Writes the guided backbones to ``out/``, the unguided baseline from the
same seeds to ``out/unguided/`` (``baseline=true``), ``out/design_report.csv`` (one row per
backbone and property: the property measured exactly on the final structure, the target, the
unguided value from the same seed, and both absolute errors) and ``out/manifest.json``.

Every request is checked (known property, target in range, predictor present and trained on the
score model's σ range) before anything is sampled.
"""

from __future__ import annotations

import json
import time
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from proteindsm.core import with_guidance
from proteindsm.errors import InputError, SamplerDivergedError
from proteindsm.fileio import atomic_write_csv, atomic_write_text

from .config import prepare_out_dir, resolve_path
from .protein_common import design_sequences_for, prepare_sampling, sequence_settings

REPORT_COLUMNS = ("file", "length", "seed", "property", "target", "measured", "unguided_measured",
                  "abs_error", "unguided_abs_error", "unguided_file")
_REQUEST_KEYS = {"property", "name", "target", "scale", "tolerance", "predictor", "function"}


def resolve_property_function(value: Any, where: str):
    """A user property from a dotted path (``mypkg.my_prop``) or a Hydra node with ``_target_``
    (partially applied: extra keys are keyword arguments of the function)."""
    from hydra.utils import get_method, instantiate

    try:
        if isinstance(value, str):
            return get_method(value)
        node = OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig) else dict(value)
        if "_target_" not in node:
            raise InputError(f"{where}: a function node needs _target_: your.module.function")
        node.setdefault("_partial_", True)
        return instantiate(node)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - import errors of user code, shown as one line
        raise InputError(f"{where}: cannot import the property function {value!r} "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None


def parse_requests(cfg: DictConfig) -> list:
    """:class:`~proteindsm.protein.generate.targets.PropertyTarget` requests from ``property``/``function``
    (+ ``target``, ``scale``, ``tolerance``, ``predictor``) and the ``properties`` list."""
    from proteindsm.protein.generate.targets import PropertyTarget

    requests = []
    items = cfg.get("properties") or []
    if not isinstance(items, (list, ListConfig)):
        raise InputError("properties must be a list like [{property: helix_fraction, target: 0.8}, ...]")
    for k, item in enumerate(items):
        where = f"properties[{k}]"
        if not isinstance(item, (dict, DictConfig)):
            raise InputError(f"{where} must be a mapping like {{property: helix_fraction, target: 0.8}}")
        unknown = sorted(set(item.keys()) - _REQUEST_KEYS)
        if unknown:
            raise InputError(f"{where}: unknown key(s) {unknown}; expected some of {sorted(_REQUEST_KEYS)}")
        requests.append(_request(item, where, PropertyTarget, default_scale=cfg.scale))
    if cfg.get("property") is not None or cfg.get("function") is not None:
        requests.append(_request({k: cfg.get(k) for k in ("property", "target", "scale", "tolerance",
                                                         "predictor", "function")},
                                 "design", PropertyTarget, default_scale=cfg.scale))
    elif cfg.get("target") is not None:
        raise InputError("target given without property=NAME (or function=your.module.property)")
    return requests


def _request(item, where: str, cls, default_scale: Any):
    fn = item.get("function")
    function = resolve_property_function(fn, where) if fn not in (None, "", "null") else None
    name = item.get("property") or item.get("name")
    if name is None:
        if function is None:
            raise InputError(f"{where}: give property=NAME or function=your.module.property")
        name = fn if isinstance(fn, str) else str(OmegaConf.select(fn, "_target_"))
    scale = item.get("scale")
    return cls(name=str(name), target=item.get("target"), scale=default_scale if scale is None else scale,
               tolerance=item.get("tolerance"), predictor=item.get("predictor"), function=function)


def check_compactness_allows(targets, compactness: dict | None, lengths: list[int]) -> None:
    """An Rg target above the compactness ceiling (on by default) could not be reached: one clear
    error naming both settings, before sampling."""
    if compactness is None:
        return
    c = compactness["max_normalised"]
    for t in targets:
        if t.name == "rg_normalised" and t.target > c:
            wanted = f"rg_normalised target {t.target:g} Å"
        elif t.name == "radius_of_gyration" and any(t.target > c * L ** 0.4 for L in lengths):
            wanted = f"radius_of_gyration target {t.target:g} Å (ceiling {c * min(lengths) ** 0.4:.1f} Å at L = {min(lengths)})"
        else:
            continue
        raise InputError(f"{wanted} is above the compactness ceiling (compactness.max_normalised = {c:g} Å on "
                         f"Rg/L^0.4); set compactness.scale=0 or raise compactness.max_normalised")


SHEET_AUTO_NOTE = ("sheet.fraction=auto: no β-sheet blueprint for L = {L} (strand_fraction target {t:g}: "
                   "{why}); guidance alone")


def sheet_blueprints(cfg: DictConfig, targets, lengths: list[int], num: int, seed: int) -> tuple[dict, dict | None]:
    """The β-sheet blueprints per length (``sheet.*``, docs/design.md "β-rich designs") — a list of
    ``num`` (one per backbone, ``sheet.vary=true``) or one for all — and the validated settings
    (None when off).

    ``sheet.fraction``: ``auto`` (default) lays out the strand_fraction target when one is requested
    — lengths too short for it get none, with a note — a number in (0, 1) lays out that fraction at
    every length (one clear error if it does not fit), ``null`` / 0 is off."""
    import math

    from proteindsm.protein.generate.sheet_blueprint import check_strand_length, meander_blueprint, varied_meanders

    st = cfg.get("sheet")
    frac = None if st is None else st.get("fraction")
    auto = isinstance(frac, str) and frac.strip().lower() == "auto"
    if auto:
        strand = [t for t in targets if t.name == "strand_fraction"]
        frac = strand[-1].target if strand else None
    elif isinstance(frac, str):
        try:
            frac = float(frac)
        except ValueError:
            raise InputError(f"sheet.fraction must be auto, null or a number in (0, 1), got {frac!r}") from None
    if frac is None or frac == 0:
        return {L: None for L in lengths}, None
    settings = {}
    for key, ok, want in (("scale", lambda v: 0 < v <= 1, "in (0, 1] (1: land on the blueprint each step)"),
                          ("sigma_max", lambda v: v > 0, "> 0 Å")):
        try:
            v = float(st.get(key))
        except (TypeError, ValueError):
            raise InputError(f"sheet.{key} must be a number {want}, got {st.get(key)!r}") from None
        if not (math.isfinite(v) and ok(v)):
            raise InputError(f"sheet.{key} must be {want}, got {v:g}")
        settings[key] = v
    strand_length = st.get("strand_length")
    if isinstance(strand_length, float) and strand_length.is_integer():
        strand_length = int(strand_length)
    check_strand_length(strand_length)          # before the layouts: under auto a layout error is only a note
    vary = st.get("vary", True)
    if not isinstance(vary, bool):
        raise InputError(f"sheet.vary must be true or false, got {vary!r}")
    out = {}
    for L in lengths:
        try:
            out[L] = (varied_meanders(L, float(frac), num, seed, strand_length) if vary
                      else meander_blueprint(L, float(frac), strand_length))
        except InputError as exc:
            if not auto:
                raise InputError(f"{exc} (L = {L})") from None
            out[L] = None
            print(SHEET_AUTO_NOTE.format(L=L, t=float(frac), why=str(exc).split(": ", 1)[-1]))
    settings.update(fraction=float(frac), fraction_from="strand_fraction target" if auto else "sheet.fraction",
                    strand_length=strand_length, vary=vary,
                    blueprints={str(L): (None if b is None else [x.describe() for x in b] if vary else b.describe())
                                for L, b in out.items()})
    return out, settings


def run(cfg: DictConfig) -> int:
    from proteindsm.protein.generate.targets import abs_error, guidance_terms, measure, resolve_targets
    from proteindsm.protein.generate.sampling import sample_backbones

    from proteindsm.protein.data.secondary_structure import tokens_to_string

    from .sample import write_samples

    requests = parse_requests(cfg)
    setup = prepare_sampling(cfg, "design")
    fmt, num, batch_size, sampler, levels = (setup.options.format, setup.options.num, setup.batch_size,
                                             setup.sampler, setup.levels)
    device, ckpt, loaded, lengths, sigmas = setup.device, setup.checkpoint, setup.loaded, setup.lengths, setup.sigmas
    score_fn, potentials = setup.score_fn, setup.potentials
    pdir = resolve_path(cfg.predictor_dir) if cfg.get("predictor_dir") else None
    from proteindsm.core import GeometricSchedule
    grid = GeometricSchedule(sigma_min=float(sigmas[-1]), sigma_max=float(sigmas[0]))
    targets = resolve_targets(requests, score_schedule=grid, predictor_dir=pdir, device=device)
    check_compactness_allows(targets, potentials["compactness"], lengths)
    seed, baseline = setup.options.seed, bool(cfg.baseline)
    ss_layout, ss_targets = setup.ss_layout, None
    if setup.ss_mode == "auto":  # layouts of the requested make-up (helix / strand fraction targets)
        from proteindsm.protein.generate import ss_layout_for
        ss_targets = {k: t.target for t in targets for k in ("helix", "strand") if t.name == f"{k}_fraction"}
        if ss_targets:
            ss_layout = ss_layout_for("auto", None, seed, loaded.model, composition=ss_targets)
    # The blueprint stays on under sheet.fraction=auto for conditioned models too: the campaign model
    # at step 2,550 still makes almost no strand from labels alone (docs/training.md).
    blueprints, sheet = sheet_blueprints(cfg, targets, lengths, num, seed)
    out = prepare_out_dir(cfg.out)

    t0 = time.perf_counter()
    guided_all, unguided_all = [], []
    for L in lengths:
        terms = guidance_terms(targets, L)
        if blueprints[L] is not None:
            from proteindsm.protein.generate.sheet_blueprint import blueprint_guidance
            terms.append(blueprint_guidance(blueprints[L], sheet["scale"], sheet["sigma_max"]))
        guided_fn = with_guidance(score_fn, terms)
        common = dict(seed=seed, batch_size=batch_size, device=device, progress=bool(cfg.progress),
                      ss_layout=ss_layout, ideal_output=bool(cfg.get("ideal_output", False)))
        try:
            guided_all += sample_backbones(guided_fn, [L], num, sampler, sigmas, **common)
        except SamplerDivergedError as exc:
            scales = ", ".join(f"{t.name} {t.scale:g}" for t in targets)
            raise SamplerDivergedError(f"{exc}, or a smaller guidance scale (now: {scales})") from None
        if baseline:
            unguided_all += sample_backbones(score_fn, [L], num, sampler, sigmas, **common)
    wanted = ", ".join(f"{t.name} {t.target:g} (scale {t.scale:g})" for t in targets)
    for s in guided_all:
        s.remarks = setup.remarks(s) + [f"DESIGN TARGETS {wanted}"]
    for s in unguided_all:
        s.remarks = setup.remarks(s) + ["DESIGN UNGUIDED BASELINE (same seed, no guidance)"]
    files = write_samples(guided_all, out, fmt)
    base_files = []
    if baseline:
        (out / "unguided").mkdir(exist_ok=True)
        base_files = write_samples(unguided_all, out / "unguided", fmt)

    rows = []
    for i, (f, s) in enumerate(zip(files, guided_all)):
        for t in targets:
            m = measure(t, s.coords)
            row = {"file": f.name, "length": s.length, "seed": seed, "property": t.name, "target": t.target,
                   "measured": m, "abs_error": abs_error(t, m), "unguided_measured": "",
                   "unguided_abs_error": "", "unguided_file": ""}
            if baseline:
                mu = measure(t, unguided_all[i].coords)
                row.update(unguided_measured=mu, unguided_abs_error=abs_error(t, mu),
                           unguided_file=f"unguided/{base_files[i].name}")
            rows.append(row)
    atomic_write_csv(out / "design_report.csv", REPORT_COLUMNS,
                     ({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in row.items()} for row in rows))
    summary = summarise(rows, targets)
    manifest = {
        "checkpoint": str(ckpt), "checkpoint_step": loaded.metadata.get("step"),
        "sampler": {"class": type(sampler).__name__, **vars(sampler)},
        "sigma_grid": {"levels": levels, "sigma_max": float(sigmas[0]), "sigma_min": float(sigmas[-1])},
        **potentials, "sheet": sheet, "ss_mode": setup.ss_mode, "ss_targets": ss_targets,
        "files": [{"file": f.name, "length": s.length, **({} if s.ss is None else {"ss": tokens_to_string(s.ss)})}
                  for f, s in zip(files, guided_all)],
        "seed": seed, "device": str(device), "batch_size": batch_size, "lengths": lengths, "num": num,
        "targets": [{"property": t.name, "target": t.target, "scale": t.scale, "tolerance": t.tolerance,
                     "kind": t.kind, "predictor": None if t.predictor_path is None else str(t.predictor_path),
                     "function": _function_name(t.function)}
                    for t in targets],
        "summary": summary, "seconds_total": round(time.perf_counter() - t0, 2),
    }
    seq_settings = sequence_settings(cfg)
    if seq_settings is not None:
        manifest["sequences"] = design_sequences_for(out, files, guided_all, seq_settings, seed)
    if cfg.get("view"):
        from proteindsm.protein.analysis.view import write_view
        page = write_view(out / "view.html", [(f.name, f.read_text()) for f in files]
                          + [(f"unguided/{f.name}", f.read_text()) for f in base_files], fmt=fmt)
        manifest["view"] = page.name
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2))
    print(f"wrote {len(files)} guided backbones{' (+ unguided baseline)' if baseline else ''} and "
          f"design_report.csv to {out} ({manifest['seconds_total']} s)")
    print(format_summary(summary))
    return 0


def _function_name(fn) -> str | None:
    """``module.name`` of a guidance function for the manifest (partials: their function's)."""
    if fn is None:
        return None
    inner = getattr(fn, "func", fn)
    return f"{getattr(inner, '__module__', '?')}.{getattr(inner, '__qualname__', type(inner).__name__)}"


def summarise(rows: list[dict], targets) -> list[dict]:
    """Per property: mean measured and mean |measured − target|, guided and unguided."""
    out = []
    for t in targets:
        sel = [r for r in rows if r["property"] == t.name]
        rec = {"property": t.name, "target": t.target, "n": len(sel),
               "measured_mean": _mean([r["measured"] for r in sel]),
               "abs_error_mean": _mean([r["abs_error"] for r in sel])}
        if sel and sel[0]["unguided_measured"] != "":
            rec["unguided_measured_mean"] = _mean([r["unguided_measured"] for r in sel])
            rec["unguided_abs_error_mean"] = _mean([r["unguided_abs_error"] for r in sel])
        out.append(rec)
    return out


def _mean(values) -> float:
    return float(sum(values) / len(values)) if values else float("nan")


def format_summary(summary: list[dict]) -> str:
    w = max([20] + [len(s["property"]) for s in summary])
    lines = [f"  {'property':{w}s} {'target':>8s} {'guided':>8s} {'|err|':>7s} {'unguided':>9s} {'|err|':>7s}"]
    for s in summary:
        ug = s.get("unguided_measured_mean")
        lines.append(f"  {s['property']:{w}s} {s['target']:8.3f} {s['measured_mean']:8.3f} {s['abs_error_mean']:7.3f} "
                     + (f"{ug:9.3f} {s['unguided_abs_error_mean']:7.3f}" if ug is not None else f"{'-':>9s} {'-':>7s}"))
    return "\n".join(lines)
