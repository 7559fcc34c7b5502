"""Guided design runs (``proteindsm design``, :func:`proteindsm.protein.design`): target properties →
guided backbones + the unguided baseline from the same seeds → each property measured exactly.

The run is a sampling plan (:mod:`.plan`) whose score adds the targets' guidance terms (:mod:`.targets`;
one set per chain length: an Rg target in Å is a different Rg / L^0.4 at each length) and, for β-rich
targets, a β-sheet blueprint.  Files are written batch by batch as by ``proteindsm sample`` (``out/``,
``out/unguided/``), so the same call continues an interrupted run; the report comes last.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import torch

from proteindsm.core import with_guidance
from proteindsm.errors import InputError, SamplerDivergedError

from .plan import SamplingPlan
from .sheet_blueprint import SHEET_DEFAULTS, blueprint_guidance, sheet_blueprints
from .targets import PropertyTarget, ResolvedTarget, guidance_terms, import_function, resolve_targets

DEFAULT_SCALE = 16.0
"""The guidance weight of a request that gives none (``scale`` in ``configs/protein/design.yaml``)."""

REPORT_COLUMNS = ("file", "length", "seed", "property", "target", "measured", "unguided_measured",
                  "abs_error", "unguided_abs_error", "unguided_file")

_REQUEST_KEYS = {"property", "name", "target", "scale", "tolerance", "predictor", "function"}


def property_requests(property: Any = None, target: Any = None, *, scale: Any = None, tolerance: Any = None,
                      predictor: Any = None, function: Any = None,
                      properties: Optional[Sequence[Any]] = None,
                      resolve_function: Optional[Callable[[Any, str], Callable]] = None) -> list[PropertyTarget]:
    """The :class:`PropertyTarget` requests of a design run: the ``properties`` list (mappings with
    keys ``property``/``name``, ``target``, ``scale``, ``tolerance``, ``predictor``, ``function``, or
    PropertyTarget objects), then the single ``property``/``function`` request, if any.

    ``function``: a callable ``g(x̂₀ (B, L, 4, 3), cond) -> (B,)`` or a dotted path ``pkg.mod.fn``;
    ``resolve_function(value, where)`` turns other values (e.g. a CLI's config node) into callables.
    ``scale`` is the default weight of every request (:data:`DEFAULT_SCALE` when None)."""
    default_scale = DEFAULT_SCALE if scale is None else scale
    requests: list[PropertyTarget] = []
    items = properties or []
    if isinstance(items, (str, Mapping)) or not isinstance(items, Sequence):
        raise InputError("properties must be a list like [{property: helix_fraction, target: 0.8}, ...]")
    for k, item in enumerate(items):
        where = f"properties[{k}]"
        if isinstance(item, PropertyTarget):
            requests.append(item)
            continue
        if not isinstance(item, Mapping):
            raise InputError(f"{where} must be a mapping like {{property: helix_fraction, target: 0.8}}")
        unknown = sorted(set(item) - _REQUEST_KEYS)
        if unknown:
            raise InputError(f"{where}: unknown key(s) {unknown}; expected some of {sorted(_REQUEST_KEYS)}")
        requests.append(_request(item, where, default_scale, resolve_function))
    if property is not None or function is not None:
        requests.append(_request({"property": property, "target": target, "scale": None, "tolerance": tolerance,
                                  "predictor": predictor, "function": function},
                                 "design", default_scale, resolve_function))
    elif target is not None:
        raise InputError("target given without property=NAME (or function=your.module.property)")
    return requests


def _request(item: Mapping, where: str, default_scale: Any, resolve_function) -> PropertyTarget:
    fn = item.get("function")
    function = None
    if fn not in (None, "", "null"):
        function = _function(fn, where, resolve_function)
    name = item.get("property") or item.get("name")
    if name is None:
        if function is None:
            raise InputError(f"{where}: give property=NAME or function=your.module.property")
        name = fn if isinstance(fn, str) else function_name(function)
    scale = item.get("scale")
    return PropertyTarget(name=str(name), target=item.get("target"), scale=default_scale if scale is None else scale,
                          tolerance=item.get("tolerance"), predictor=item.get("predictor"), function=function)


def _function(value: Any, where: str, resolve_function) -> Callable:
    if callable(value):
        return value
    if resolve_function is not None:
        return resolve_function(value, where)
    if isinstance(value, str):
        return import_function(value, where)
    raise InputError(f"{where}: function must be a callable or a dotted path, got {value!r}")


def function_name(fn: Any) -> Optional[str]:
    """``module.name`` of a guidance function for the manifest (partials: their function's)."""
    if fn is None:
        return None
    inner = getattr(fn, "func", fn)
    return f"{getattr(inner, '__module__', '?')}.{getattr(inner, '__qualname__', type(inner).__name__)}"


def check_compactness_allows(targets: Sequence[ResolvedTarget], compactness: Optional[dict],
                             lengths: Sequence[int]) -> None:
    """An Rg target above the compactness ceiling (on by default) could not be reached: one clear
    error naming both settings, before sampling."""
    if compactness is None:
        return
    c = compactness["max_normalised"]
    for t in targets:
        worst = max(lengths, key=lambda L: t.spec.normalised_rg(t.target, L) or 0.0)
        wanted = t.spec.normalised_rg(t.target, worst)
        if wanted is None or wanted <= c:
            continue
        at = "" if t.spec.length_exponent == 0 else f" (ceiling {c * worst ** t.spec.length_exponent:.1f} Å at L = {worst})"
        raise InputError(f"{t.name} target {t.target:g} Å{at} is above the compactness ceiling "
                         f"(compactness.max_normalised = {c:g} Å on Rg/L^0.4); set compactness.scale=0 or "
                         "raise compactness.max_normalised")


class PerLengthScore:
    """A score function that uses ``fns[L]`` for chains of L residues (``x`` ``(B, L, 4, 3)``; every
    sampling batch holds one length), e.g. guidance whose target depends on the length."""

    def __init__(self, fns: Mapping[int, Callable]) -> None:
        self.fns = dict(fns)

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, cond: Any = None) -> torch.Tensor:
        return self.fns[int(x.shape[-3])](x, sigma, cond)


@dataclass
class DesignRun:
    """Everything a design run needs after its checks: the unguided ``plan``, the guided plan, the
    resolved ``targets``, the β-sheet settings and the ss make-up asked of ``ss=auto``."""

    plan: SamplingPlan
    guided_plan: SamplingPlan
    targets: list[ResolvedTarget]
    sheet: Optional[dict]
    ss_targets: Optional[dict]
    baseline: bool


def load_design(plan: SamplingPlan, requests: Sequence[PropertyTarget], *, baseline: bool = True,
                sheet: Optional[Mapping[str, Any]] = SHEET_DEFAULTS, predictor_dir: Optional[str | Path] = None,
                note: Callable[[str], None] = print) -> DesignRun:
    """Resolve the targets against ``plan``'s model (predictors loaded, σ range and compactness
    ceiling checked), lay out β-sheet blueprints and build the guided plan — every error before
    sampling."""
    from .options import ss_layout_for

    if not isinstance(baseline, bool):
        raise InputError(f"baseline must be true or false, got {baseline!r}")
    targets = resolve_targets(list(requests), sigma_range=(float(plan.sigmas[-1]), float(plan.sigmas[0])),
                              predictor_dir=None if predictor_dir is None else Path(predictor_dir),
                              device=plan.device)
    check_compactness_allows(targets, plan.options.compactness, plan.lengths)
    ss_targets = None
    if plan.ss_mode == "auto":  # layouts of the requested make-up (helix / strand fraction targets)
        ss_targets = {t.spec.ss_state: t.target for t in targets if t.spec.ss_state is not None}
        if ss_targets:
            plan = replace(plan, ss_layout=ss_layout_for("auto", None, plan.options.seed, plan.loaded.model,
                                                         composition=ss_targets))
    blueprints, sheet_settings = sheet_blueprints(sheet, targets, plan.lengths, plan.options.num, plan.options.seed,
                                                  note, layout_given=plan.ss_mode in ("string", "file"))
    per_length = {}
    for L in plan.lengths:
        terms = guidance_terms(targets, L)
        if blueprints[L] is not None:
            terms.append(blueprint_guidance(blueprints[L], sheet_settings["scale"], sheet_settings["sigma_max"]))
        per_length[L] = with_guidance(plan.score_fn, terms)
    wanted = ", ".join(f"{t.name} {t.target:g} (scale {t.scale:g})" for t in targets)
    guided_plan = replace(plan, score_fn=PerLengthScore(per_length), extra_remarks=(f"DESIGN TARGETS {wanted}",),
                          extra_settings={"design": design_settings(targets, sheet_settings)})
    plan = replace(plan, extra_remarks=("DESIGN UNGUIDED BASELINE (same seed, no guidance)",))
    return DesignRun(plan, guided_plan, targets, sheet_settings, ss_targets, baseline)


def design_settings(targets: Sequence[ResolvedTarget], sheet: Optional[dict]) -> dict:
    """The targets and blueprint settings as JSON-able values (manifest; compared on resume)."""
    return {"targets": [{"property": t.name, "target": t.target, "scale": t.scale, "tolerance": t.tolerance,
                         "kind": t.kind, "predictor": None if t.predictor_path is None else str(t.predictor_path),
                         "function": function_name(t.function)} for t in targets],
            "sheet": sheet}


class Designs(list):
    """The guided backbones of a design run (as :class:`~proteindsm.protein.generate.run.Samples`:
    ``b.coords`` float32 ``(L, 4, 3)`` Å, ``b.metadata``, ``b.write(path)``), with ``unguided``
    (the baseline from the same seeds, or None), ``report`` (one dict per backbone and property, the
    rows of ``design_report.csv``), ``summary`` (per property), ``targets`` and ``manifest``."""

    def __init__(self, guided, unguided, report: list[dict], summary: list[dict], targets, manifest: dict) -> None:
        super().__init__(guided)
        self.guided, self.unguided = guided, unguided
        self.report, self.summary, self.targets, self.manifest = report, summary, targets, manifest


def run_design(run: DesignRun, out: Optional[str | Path] = None, *, command: Optional[str] = None,
               finish: bool = True) -> Designs:
    """Sample the guided backbones (then the unguided baseline) of ``run`` and measure every target
    exactly on each.  With ``out``: files batch by batch (``out/``, ``out/unguided/``), then
    ``design_report.csv`` and the manifest; a partial run with the same settings is continued.
    ``finish=False`` leaves the manifest ``complete: false`` for the caller to add entries."""
    from proteindsm.fileio import atomic_write_csv

    from .run import run_plan

    out = None if out is None else Path(out)
    try:
        guided = run_plan(run.guided_plan, out, command=command, finish=False)
    except SamplerDivergedError as exc:
        scales = ", ".join(f"{t.name} {t.scale:g}" for t in run.targets)
        raise SamplerDivergedError(f"{exc}, or a smaller guidance scale (now: {scales})") from None
    unguided = None
    if run.baseline:
        unguided = run_plan(run.plan, None if out is None else out / "unguided", command=command, finish=False)
    fmt = run.plan.options.format
    rows = report_rows(run.targets, guided, unguided, run.plan.options.seed, fmt)
    summary = summarise(rows, run.targets)
    extra = {"lengths": run.plan.lengths, "num": run.plan.options.num, "sheet": run.sheet,
             "ss_targets": run.ss_targets, "targets": design_settings(run.targets, run.sheet)["targets"],
             "summary": summary, "unguided": None if unguided is None else "unguided"}
    if out is not None:
        atomic_write_csv(out / "design_report.csv", REPORT_COLUMNS,
                         ({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in row.items()} for row in rows))
        extra["report"] = "design_report.csv"
        if unguided is not None:
            unguided.writer.finish()
        guided.writer.manifest.update(extra)
        manifest = guided.writer.finish() if finish else guided.writer.manifest
    else:
        manifest = {**guided.manifest, **extra}
    return Designs(guided, unguided, rows, summary, run.targets, manifest)


def report_rows(targets: Sequence[ResolvedTarget], guided: Sequence, unguided: Optional[Sequence], seed: int,
                fmt: str) -> list[dict]:
    """One row per backbone and target: the property measured exactly on the guided backbone, its
    error, and the same for the unguided backbone of the same seed (``""`` without a baseline)."""
    rows = []
    for i, s in enumerate(guided):
        for t in targets:
            m = t.measure(s.coords)
            row = {"file": f"{s.name}.{fmt}", "length": s.length, "seed": seed, "property": t.name,
                   "target": t.target, "measured": m, "abs_error": t.error(m), "unguided_measured": "",
                   "unguided_abs_error": "", "unguided_file": ""}
            if unguided is not None:
                u = unguided[i]
                mu = t.measure(u.coords)
                row.update(unguided_measured=mu, unguided_abs_error=t.error(mu), unguided_file=f"unguided/{u.name}.{fmt}")
            rows.append(row)
    return rows


def summarise(rows: Sequence[dict], targets: Sequence[ResolvedTarget]) -> list[dict]:
    """Per property: mean measured and mean |measured − target|, guided and unguided."""
    out = []
    for t in targets:
        sel = [r for r in rows if r["property"] == t.name]
        rec = {"property": t.name, "target": t.target, "n": len(sel),
               "measured_mean": _mean(sel, "measured"), "abs_error_mean": _mean(sel, "abs_error")}
        if sel and sel[0]["unguided_measured"] != "":
            rec["unguided_measured_mean"] = _mean(sel, "unguided_measured")
            rec["unguided_abs_error_mean"] = _mean(sel, "unguided_abs_error")
        out.append(rec)
    return out


def _mean(rows: Sequence[dict], key: str) -> float:
    return float(sum(r[key] for r in rows) / len(rows)) if rows else float("nan")


def format_summary(summary: Sequence[dict]) -> str:
    """The per-property summary as a small text table (printed by ``proteindsm design``)."""
    w = max([20] + [len(s["property"]) for s in summary])
    lines = [f"  {'property':{w}s} {'target':>8s} {'guided':>8s} {'|err|':>7s} {'unguided':>9s} {'|err|':>7s}"]
    for s in summary:
        ug = s.get("unguided_measured_mean")
        lines.append(f"  {s['property']:{w}s} {s['target']:8.3f} {s['measured_mean']:8.3f} {s['abs_error_mean']:7.3f} "
                     + (f"{ug:9.3f} {s['unguided_abs_error_mean']:7.3f}" if ug is not None else f"{'-':>9s} {'-':>7s}"))
    return "\n".join(lines)


def design(property: Any = None, target: Any = None, *, length: Any = None, num: Any = 16, seed: Any = 0,
           scale: Any = DEFAULT_SCALE, tolerance: Any = None, predictor: Any = None, function: Any = None,
           properties: Optional[Sequence[Any]] = None, baseline: bool = True,
           sheet: Optional[Mapping[str, Any]] = SHEET_DEFAULTS, predictor_dir: Optional[str | Path] = None,
           out: Optional[str | Path] = None, batch_size: Any = 16, **options: Any) -> Designs:
    """Guided design: backbones steered toward target properties, with the unguided baseline.

    Args:
        property, target: one request, e.g. ``design("helix_fraction", 0.8)``; or ``function``: your
            differentiable ``g(x̂₀ (B, L, 4, 3), cond) -> (B,)`` (a callable or ``"pkg.mod.fn"``).
        scale, tolerance, predictor: its guidance weight w (also the default of every
            ``properties`` entry), τ (property units; None: the property's) and predictor file.
        properties: several requests, summed: ``[{"property": "rg_normalised", "target": 2.0}, ...]``.
        length, num, seed: as :func:`proteindsm.protein.sample` (``num`` backbones per length).
        baseline: also sample without guidance from the same seeds (``.unguided``, ``out/unguided/``).
        sheet: β-sheet blueprint settings (:data:`SHEET_DEFAULTS`; None: off).
        predictor_dir: folder of ``predictor_<property>.safetensors`` (None: the shipped ones).
        out: optional folder: files batch by batch, ``design_report.csv`` and ``manifest.json`` (an
            interrupted run into the same folder is continued).
        **options: the sampling keys of :func:`proteindsm.protein.sample` (``sampler``, ``steps``,
            ``checkpoint``, ``ss``, ``steric``, ``compactness``, ``device``, ``format``, ...).

    Returns:
        :class:`Designs`: the guided backbones (a list) with ``.unguided``, ``.report``, ``.summary``.

    Raises:
        proteindsm.errors.InputError: a bad request or setting, before anything is sampled.
    """
    from .plan import load_plan, sample_options

    requests = property_requests(property, target, scale=scale, tolerance=tolerance, predictor=predictor,
                                 function=function, properties=properties)
    plan = load_plan(sample_options(length=length, num=num, seed=seed, batch_size=batch_size, **options))
    run = load_design(plan, requests, baseline=baseline, sheet=sheet, predictor_dir=predictor_dir)
    return run_design(run, out)
