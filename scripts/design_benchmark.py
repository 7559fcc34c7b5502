"""Benchmark of guided design: measured property vs guidance scale, against unguided samples from
the same seeds, with the geometry figures of ``proteindsm evaluate`` for every set.

Cases (the issue's "must show"): helix_fraction 0.2 and 0.8, strand_fraction 0.4, and
radius_of_gyration 20 % below / above the average Rg of corpus chains of the benchmark length.

Two phases, so the sampling can run on a GPU machine that has only torch + e3nn, and the exact
measurements (pydssp, biotite, TM-align) where the full environment is::

    # everything in one go
    python scripts/design_benchmark.py --checkpoint proteindsm/checkpoints/backbone_score_local.safetensors \\
        --out runs/design_benchmark
    # or: sample on the GPU box, report here
    python scripts/design_benchmark.py --phase sample --rg-average 14.6 --device cuda --out DIR ...
    python scripts/design_benchmark.py --phase report --out DIR

Writes ``DIR/samples.npz`` + ``DIR/samples.json`` (phase sample) and ``DIR/results.json``,
``DIR/results.md`` (tables), ``DIR/measured_vs_scale.png`` (phase report).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CASES = [  # (case id, property, target or ("rg", factor))
    ("helix_0.2", "helix_fraction", 0.2),
    ("helix_0.8", "helix_fraction", 0.8),
    ("strand_0.4", "strand_fraction", 0.4),
    ("rg_minus20", "radius_of_gyration", ("rg", 0.8)),
    ("rg_plus20", "radius_of_gyration", ("rg", 1.2)),
    # the same target through a differentiable function on the denoised estimate instead of the
    # learned predictor: Rg of all backbone atoms (tolerance 1 Å); measured as CA Rg like the others
    ("rg_minus20_fn", "radius_of_gyration", ("rg", 0.8)),
    ("rg_plus20_fn", "radius_of_gyration", ("rg", 1.2)),
    # a tighter tolerance: w/τ² sets the pull near the data (small σ); w alone sets it at large σ, where
    # a large w makes annealed Langevin unstable (w = 64 at τ = 1 diverged at σ ≈ 27 Å)
    ("rg_minus20_fn_tau0.5", "radius_of_gyration", ("rg", 0.8)),
    ("rg_plus20_fn_tau0.5", "radius_of_gyration", ("rg", 1.2)),
    # strands through the soft DSSP strand fraction of the denoised estimate (pydssp's smooth H-bond
    # map, proteindsm.protein.structure.soft_dssp) instead of the learned predictor; measured with DSSP
    ("strand_0.4_hbond", "strand_fraction", 0.4),
    # the same two strand terms plus the β-sheet blueprint of the target (design's sheet.fraction=auto,
    # proteindsm.protein.generate.sheet_blueprint; at scale 0 the blueprint alone): one layout per backbone
    # (sheet.vary=true, the design default) or one centred layout for all (SHEET_CASES below)
    ("strand_0.4_sheet", "strand_fraction", 0.4),
    ("strand_0.4_hbond_sheet", "strand_fraction", 0.4),
    ("strand_0.4_hbond_sheet_centred", "strand_fraction", 0.4),
]
# case -> (differentiable property as `design function=...` takes it, tolerance τ in property units)
_RG_FN = "proteindsm.protein.generate.targets.radius_of_gyration_property(atoms=backbone)"
FUNCTION_CASES = {"rg_minus20_fn": (_RG_FN, 1.0), "rg_plus20_fn": (_RG_FN, 1.0),
                  "rg_minus20_fn_tau0.5": (_RG_FN, 0.5), "rg_plus20_fn_tau0.5": (_RG_FN, 0.5),
                  "strand_0.4_hbond": ("proteindsm.protein.structure.soft_dssp.soft_strand_fraction", 0.1),
                  "strand_0.4_hbond_sheet": ("proteindsm.protein.structure.soft_dssp.soft_strand_fraction", 0.1),
                  "strand_0.4_hbond_sheet_centred": ("proteindsm.protein.structure.soft_dssp.soft_strand_fraction", 0.1)}
# cases that add design's β-sheet blueprint (configs/protein/design.yaml `sheet`) -> their overrides
SHEET_CASES = {"strand_0.4_sheet": {"vary": False}, "strand_0.4_hbond_sheet": {},
               "strand_0.4_hbond_sheet_centred": {"vary": False}}
# geometry may move this far from the unguided set before a guided set is called "off"
MARGINS = {"bond_mad": 0.005, "rama": 0.03, "clash_free": 0.125, "clash_pairs_factor": 1.5}


def _function(spec: str):
    """``pkg.mod.fn`` or ``pkg.mod.fn(key=value)`` (keyword arguments partially applied)."""
    import functools
    import importlib

    path, _, args = spec.partition("(")
    module, _, name = path.rpartition(".")
    fn = getattr(importlib.import_module(module), name)
    kwargs = dict(kv.split("=") for kv in args.rstrip(")").split(",") if kv)
    return functools.partial(fn, **kwargs) if kwargs else fn


def corpus_rg_average(corpus: Path, length: int, window: int = 10) -> float:
    """Mean CA radius of gyration (Å) of corpus chains with |L − length| <= window."""
    from proteindsm.protein.data.corpus import load_corpus
    from proteindsm.protein.structure.properties import radius_of_gyration

    c = load_corpus(corpus)
    near = np.flatnonzero(np.abs(c.lengths.astype(np.int64) - length) <= window)
    return float(np.mean([radius_of_gyration(c.chain(int(i))) for i in near]))


def case_targets(rg_average: float) -> list[tuple[str, str, float]]:
    out = []
    for cid, prop, t in CASES:
        out.append((cid, prop, float(rg_average * t[1]) if isinstance(t, tuple) else float(t)))
    return out


# ----------------------------------------------------------------------------------------------
def phase_sample(args) -> None:
    import torch

    from proteindsm.protein.generate.guided import SHEET_DEFAULTS, sheet_blueprints
    from proteindsm.protein.generate.sheet_blueprint import blueprint_guidance
    from proteindsm.protein.generate import compactness_option, named_sampler, steric_option, with_potentials
    from proteindsm.core import GeometricSchedule, with_guidance
    from proteindsm.protein.generate.targets import (PropertyTarget, guidance_terms, predictor_checkpoint_name,
                                           resolve_targets, shipped_dir)
    from proteindsm.errors import SamplerDivergedError
    from proteindsm.protein.model.checkpoints import load_model
    from proteindsm.protein.generate.sampling import sample_backbones

    device = torch.device(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    loaded = load_model(args.checkpoint, device=device)
    sched = loaded.schedule
    sampler, levels = named_sampler(args.sampler, args.steps)
    sigmas = GeometricSchedule(sigma_min=sched.sigma_min, sigma_max=sched.sigma_max, num_levels=levels).levels()
    pdir = Path(args.predictor_dir) if args.predictor_dir else None
    targets = [t for t in case_targets(args.rg_average) if not args.cases or t[0] in args.cases]
    sets: dict[str, np.ndarray] = {}
    steric, compactness = steric_option(args.steric), compactness_option(args.compactness)
    base = with_potentials(loaded.model, steric, compactness)   # the score every set uses, the unguided twin too
    meta = {"steric": steric, "compactness": compactness, "checkpoint": str(args.checkpoint), "checkpoint_step": loaded.metadata.get("step"),
            "device": str(device), "length": args.length, "num": args.num, "seed": args.seed,
            "steps": levels, "sampler": repr(sampler), "sampler_name": args.sampler,
            "rg_average": args.rg_average, "scales": args.scales, "tolerances": {},
            "cases": [{"id": c, "property": p, "target": t} for c, p, t in targets], "seconds": {}}

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    class OutOfTime(Exception):
        pass

    def save() -> None:                      # after every set, so a run cut short keeps what it made
        np.savez_compressed(out / "samples.npz", **sets)
        (out / "samples.json").write_text(json.dumps(meta, indent=2))

    def run(key: str, score_fn, smp=None, sig=None) -> None:
        if args.max_seconds and time.perf_counter() - t_start > args.max_seconds:
            raise OutOfTime
        t0 = time.perf_counter()
        try:
            samples = sample_backbones(score_fn, [args.length], args.num, smp or sampler,
                                       sigmas if sig is None else sig, seed=args.seed,
                                       batch_size=args.batch_size, device=device, progress=False)
        except SamplerDivergedError as err:   # recorded (a too-strong guidance scale), not fatal
            meta.setdefault("diverged", {})[key] = str(err)
            save()
            print(f"{key}: diverged: {err}", flush=True)
            return
        sets[key] = np.stack([s.coords for s in samples]).astype(np.float32)
        meta["seconds"][key] = round(time.perf_counter() - t0, 2)
        save()
        print(f"{key}: {meta['seconds'][key]} s", flush=True)

    sigma_range = (float(sigmas[-1]), float(sigmas[0]))
    sheet = SHEET_DEFAULTS                                  # the design command's blueprint settings
    meta["sheet"] = {**{k: sheet[k] for k in ("strand_length", "vary", "scale", "sigma_max")},
                     "case_overrides": SHEET_CASES}

    def guided(prop: str, target: float, scale: float, length: int, cid: str = ""):
        if cid in FUNCTION_CASES:
            spec, tol = FUNCTION_CASES[cid]
            req = PropertyTarget(cid, target, scale=scale, tolerance=tol, function=_function(spec))
        else:   # the learned predictor, named explicitly (strand_fraction's default is the soft DSSP function)
            req = PropertyTarget(prop, target, scale=scale,
                                 predictor=(pdir or shipped_dir()) / predictor_checkpoint_name(prop))
        (rt,) = resolve_targets([req], sigma_range=sigma_range, predictor_dir=pdir, device=device)
        terms = guidance_terms([rt], length)
        if cid in SHEET_CASES:        # exactly what `design ... sheet.fraction=<target>` lays out
            st = {**sheet, "fraction": target, **SHEET_CASES[cid]}
            bps, _ = sheet_blueprints(st, [], [length], args.num, args.seed)
            terms.append(blueprint_guidance(bps[length], float(st["scale"]), float(st["sigma_max"])))
        return rt, with_guidance(base, terms)

    try:
        if not args.skip_unguided:
            run("unguided", base)
        for scale in args.scales:                           # scale-major: a cut-short run covers every case
            for cid, prop, target in targets:
                rt, fn = guided(prop, target, scale, args.length, cid)
                meta["tolerances"][cid] = rt.tolerance
                run(f"{cid}@{scale:g}", fn)
        if args.langevin_scales:
            # the same cases with annealed Langevin (configs/protein/sampler/annealed_langevin.yaml)
            lsampler, llevels = named_sampler("annealed_langevin", args.langevin_levels)
            lsigmas = GeometricSchedule(sigma_min=sched.sigma_min, sigma_max=sched.sigma_max,
                                        num_levels=llevels).levels()
            meta["langevin"] = {"sampler": repr(lsampler),
                                "levels": llevels, "scales": args.langevin_scales,
                                "cases": args.langevin_cases}
            if not args.skip_unguided:
                run("langevin/unguided", base, lsampler, lsigmas)
            for scale in args.langevin_scales:
                for cid, prop, target in targets:
                    if cid in args.langevin_cases:
                        run(f"langevin/{cid}@{scale:g}", guided(prop, target, scale, args.length, cid)[1],
                            lsampler, lsigmas)
    except OutOfTime:
        meta["stopped"] = f"time budget of {args.max_seconds} s reached"
        print(meta["stopped"], flush=True)
    save()
    print(f"wrote {out / 'samples.npz'}")


# ----------------------------------------------------------------------------------------------
def _geometry(chains: list[np.ndarray], reference: list[np.ndarray]) -> tuple[dict, dict]:
    from proteindsm.protein.analysis.evaluate import evaluate_backbones

    res = evaluate_backbones(chains, reference, max_diversity_pairs=40, seed=0)

    def pick(s: dict) -> dict:
        return {"bond_mad": s["bond_length_mad_mean_A"], "angle_mad": s["bond_angle_mad_mean_deg"],
                "rama": s["ramachandran_allowed_fraction"], "clash_free": s["clash_free_fraction"],
                "clash_pairs": s["clash_pairs_mean"]}
    return pick(res["generated"]), pick(res["reference"])


def _load_sets(folder: Path) -> tuple[dict, dict[str, np.ndarray]]:
    meta = json.loads((folder / "samples.json").read_text())
    with np.load(folder / "samples.npz", allow_pickle=False) as d:
        return meta, {k: d[k] for k in d.files}


# sampler fields added after older runs were recorded, at the values that reproduce those runs
_DEFAULT_FIELDS = (", temperature=1.0", ", temperature_sigma_max=None")


def _canonical(key: str, value):
    """A recorded setting with later-added default fields removed, so equal samplers compare equal."""
    if key == "sampler" and isinstance(value, str):
        for field in _DEFAULT_FIELDS:
            value = value.replace(field, "")
    return value


def phase_report(args) -> None:
    from proteindsm.protein.structure.properties import PROPERTIES

    out = Path(args.out)
    meta, sets = _load_sets(out)
    for other in args.merge:                  # runs of other case subsets / scales, same seeds and settings
        m2, s2 = _load_sets(Path(other))
        for k in ("length", "num", "seed", "steps", "checkpoint", "sampler", "steric", "compactness"):
            if _canonical(k, m2.get(k)) != _canonical(k, meta.get(k)):
                raise SystemExit(f"--merge {other}: {k} differs ({m2.get(k)} vs {meta.get(k)})")
        sets.update({k: v for k, v in s2.items() if k not in sets})
        meta["seconds"].update(m2["seconds"])
        meta["tolerances"].update(m2["tolerances"])
        meta.setdefault("diverged", {}).update(m2.get("diverged", {}))
        meta["scales"] = sorted(set(meta["scales"]) | set(m2["scales"]))
        ids = {c["id"] for c in meta["cases"]}
        meta["cases"] += [c for c in m2["cases"] if c["id"] not in ids]
        if m2.get("langevin") and not meta.get("langevin"):
            meta["langevin"] = m2["langevin"]
        elif m2.get("langevin"):
            meta["langevin"]["scales"] = sorted(set(meta["langevin"]["scales"]) | set(m2["langevin"]["scales"]))
            meta["langevin"]["cases"] = sorted(set(meta["langevin"]["cases"]) | set(m2["langevin"]["cases"]))
    order = [c[0] for c in CASES]
    meta["cases"].sort(key=lambda c: order.index(c["id"]) if c["id"] in order else len(order))
    props = sorted({c["property"] for c in meta["cases"]})
    values = {key: {p: [PROPERTIES[p].function(X) for X in arr] for p in props} for key, arr in sets.items()}
    geo_unguided = None
    rows = []

    def add_rows(sampler: str, prefix: str, cases: list[dict], scales: list[float]) -> dict:
        baseline = list(sets[prefix + "unguided"])
        geo_ref = None
        for case in cases:
            cid, prop, target = case["id"], case["property"], case["target"]
            base_vals = np.asarray(values[prefix + "unguided"][prop])
            base_err = float(np.abs(base_vals - target).mean())
            for scale in sorted(scales):
                key = f"{prefix}{cid}@{scale:g}"
                if key not in sets:                 # a run cut short by its time budget
                    continue
                vals = np.asarray(values[key][prop])
                geo, geo_ref = _geometry(list(sets[key]), baseline)
                err = float(np.abs(vals - target).mean())
                ok = (geo["bond_mad"] <= geo_ref["bond_mad"] + MARGINS["bond_mad"]
                      and geo["rama"] >= geo_ref["rama"] - MARGINS["rama"]
                      and geo["clash_free"] >= geo_ref["clash_free"] - MARGINS["clash_free"]
                      and geo["clash_pairs"] <= MARGINS["clash_pairs_factor"] * geo_ref["clash_pairs"] + 1.0)
                rows.append({"sampler": sampler, "case": cid, "property": prop, "target": target, "scale": scale,
                             "tolerance": meta["tolerances"].get(cid),
                             "measured_mean": float(vals.mean()), "measured_std": float(vals.std()),
                             "abs_error": err, "unguided_measured_mean": float(base_vals.mean()),
                             "unguided_abs_error": base_err,
                             "error_ratio": err / base_err if base_err else float("nan"),
                             "geometry": geo, "geometry_within_margin": bool(ok),
                             "seconds": meta["seconds"].get(key)})
                print(f"{key:28s} measured {vals.mean():7.3f}  |err| {err:6.3f} (unguided {base_err:6.3f})  "
                      f"bondMAD {geo['bond_mad']:.4f} rama {geo['rama']:.3f} clash-free {geo['clash_free']:.2f} "
                      f"clashes {geo['clash_pairs']:.1f} (unguided {geo_ref['bond_mad']:.4f} {geo_ref['rama']:.3f} "
                      f"{geo_ref['clash_free']:.2f} {geo_ref['clash_pairs']:.1f}){'' if ok else '  (geometry off)'}",
                      flush=True)
        return geo_ref

    main_sampler = meta.get("sampler_name", "reverse_sde")
    geo_unguided = add_rows(main_sampler, "", meta["cases"], meta["scales"])
    if meta.get("langevin") and "langevin/unguided" in sets:
        lcases = [c for c in meta["cases"] if c["id"] in meta["langevin"]["cases"]]
        geo_l = add_rows("annealed_langevin", "langevin/", lcases, meta["langevin"]["scales"])
        meta["langevin"]["unguided_geometry"] = geo_l
    best = []
    for case in meta["cases"]:
        mine = [r for r in rows if r["case"] == case["id"] and r["sampler"] == main_sampler]
        cand = [r for r in mine if r["geometry_within_margin"]] or mine      # none within margin: say so
        if cand:
            best.append(min(cand, key=lambda r: r["abs_error"]))
    result = {"meta": meta, "margins": MARGINS, "unguided_geometry": geo_unguided, "rows": rows, "best": best,
              "unguided_values": {p: values["unguided"][p] for p in props}}
    (out / "results.json").write_text(json.dumps(result, indent=2))
    (out / "results.md").write_text(markdown(result))
    plot(result, values, out / "measured_vs_scale.png")
    print((out / "results.md").read_text())


def markdown(result: dict) -> str:
    m, g0 = result["meta"], result["unguided_geometry"]
    lines = [f"Score checkpoint `{m['checkpoint']}` (step {m['checkpoint_step']}), length {m['length']}, "
             f"{m['num']} samples per set, seed {m['seed']}, sampler {m.get('sampler_name', 'reverse_sde')} "
             f"(`{m['sampler']}`) with {m['steps']} σ levels, "
             f"device {m['device']}"
             + (f", steric potential {m['steric']} on guided and unguided sets" if m.get("steric") else "")
             + (f", compactness ceiling {m['compactness']} on guided and unguided sets" if m.get("compactness") else "")
             + f"; average Rg of corpus chains of this length {m['rg_average']:.2f} Å.",
             "",
             "Best scale per case among those whose geometry stays within the margins "
             f"(bond MAD +{MARGINS['bond_mad']} Å, Ramachandran −{MARGINS['rama']}, clash-free "
             f"−{MARGINS['clash_free']}, clashing pairs per chain ≤ {MARGINS['clash_pairs_factor']}× unguided + 1):", "",
             "| case | target | scale | measured (guided) | measured (unguided) | mean abs err guided | unguided | "
             "ratio | bond MAD Å | Rama allowed | clash-free | clash pairs |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["best"]:
        g = r["geometry"]
        off = "" if r["geometry_within_margin"] else " (geometry off)"
        lines.append(f"| {r['case']}{off} | {r['target']:.4g} | {r['scale']:g} | {r['measured_mean']:.3f} ± "
                     f"{r['measured_std']:.3f} | {r['unguided_measured_mean']:.3f} | {r['abs_error']:.3f} | "
                     f"{r['unguided_abs_error']:.3f} | {r['error_ratio']:.2f} | {g['bond_mad']:.4f} | "
                     f"{g['rama']:.3f} | {g['clash_free']:.2f} | {g['clash_pairs']:.1f} |")
    lines.append(f"| unguided | | 0 | | | | | | {g0['bond_mad']:.4f} | {g0['rama']:.3f} | {g0['clash_free']:.2f} | "
                 f"{g0['clash_pairs']:.1f} |")
    lines += ["", "All scales:", "",
              "| sampler | case | scale | measured | mean abs err | ratio to unguided | bond MAD Å | Rama | clash-free "
              "| clash pairs | within margin | s / set |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        g = r["geometry"]
        lines.append(f"| {r['sampler']} | {r['case']} | {r['scale']:g} | {r['measured_mean']:.3f} | {r['abs_error']:.3f} | "
                     f"{r['error_ratio']:.2f} | {g['bond_mad']:.4f} | {g['rama']:.3f} | {g['clash_free']:.2f} | "
                     f"{g['clash_pairs']:.1f} | {'yes' if r['geometry_within_margin'] else 'no'} | {r['seconds']} |")
    for key, why in sorted(m.get("diverged", {}).items()):
        lines.append(f"| {m.get('sampler_name', 'reverse_sde')} | {key} | | diverged: {why} | | | | | | | | |")
    gl = m.get("langevin", {}).get("unguided_geometry")
    if gl:
        lines.append(f"| annealed_langevin | unguided | 0 | | | | {gl['bond_mad']:.4f} | {gl['rama']:.3f} | "
                     f"{gl['clash_free']:.2f} | {gl['clash_pairs']:.1f} | | {m['seconds'].get('langevin/unguided')} |")
    lines.append(f"| {m.get('sampler_name', 'reverse_sde')} | unguided | 0 | | | | {g0['bond_mad']:.4f} | {g0['rama']:.3f} | "
                 f"{g0['clash_free']:.2f} | {g0['clash_pairs']:.1f} | | {m['seconds'].get('unguided')} |")
    return "\n".join(lines) + "\n"


def plot(result: dict, values: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = result["meta"]["cases"]
    ncols = min(4, len(cases))
    nrows = -(-len(cases) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.2 * nrows), squeeze=False)
    for ax in axes.flat[len(cases):]:
        ax.axis("off")
    for ax, case in zip(axes.flat, cases):
        prop = case["property"]
        done = sorted(s for s in result["meta"]["scales"] if f"{case['id']}@{s:g}" in values)
        scales = [0.0] + done
        ys = [np.asarray(values["unguided"][prop])] + [np.asarray(values[f"{case['id']}@{s:g}"][prop])
                                                      for s in done]
        xs = np.arange(len(scales))
        for x, y in zip(xs, ys):
            ax.scatter(np.full(len(y), x) + np.linspace(-0.15, 0.15, len(y)), y, s=6, alpha=0.35, color="C0")
        ax.errorbar(xs, [y.mean() for y in ys], yerr=[y.std() for y in ys], color="C1", marker="o", capsize=3)
        ax.axhline(case["target"], ls="--", color="k", lw=1, label="target")
        ax.set_xticks(xs, ["unguided"] + [f"{s:g}" for s in done], fontsize=8)
        ax.set_xlabel("guidance scale w" + (" (with the sheet blueprint)" if case["id"] in SHEET_CASES else ""))
        ax.set_ylabel(prop + (" (Å)" if prop == "radius_of_gyration" else ""))
        ax.set_title(f"{case['id']} (target {case['target']:.3g})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--phase", choices=("all", "sample", "report"), default="all")
    p.add_argument("--checkpoint", default=str(REPO / "proteindsm/checkpoints/backbone_score_local.safetensors"))
    p.add_argument("--predictor-dir", default=None, help="folder of predictor_<property>.safetensors (default: shipped)")
    p.add_argument("--corpus", default=str(REPO.parent / "shared/data/backbones_pdb_nr40.npz"))
    p.add_argument("--rg-average", type=float, default=None, help="Å; default: from --corpus")
    p.add_argument("--out", required=True)
    p.add_argument("--length", type=int, default=100)
    p.add_argument("--num", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sampler", default="reverse_sde", help="a config in configs/protein/sampler/ (as `sample`)")
    p.add_argument("--steps", type=int, default=None, help="σ levels; default: the sampler config's `levels`")
    p.add_argument("--scales", default="1,2,4,8,16")
    p.add_argument("--langevin-scales", default="", help="also sample --langevin-cases with annealed Langevin")
    p.add_argument("--langevin-cases", default="helix_0.8")
    p.add_argument("--langevin-levels", type=int, default=None, help="default: the config's `levels`")
    p.add_argument("--max-seconds", type=float, default=None, help="stop sampling new sets after this long")
    p.add_argument("--cases", default="", help="comma-separated subset of the case ids (default: all)")
    p.add_argument("--skip-unguided", action="store_true", help="(for a second run merged with --merge)")
    p.add_argument("--merge", default="", help="report: comma-separated further sample folders to merge")
    p.add_argument("--device", default="auto")
    p.add_argument("--steric", default=None, metavar="SCALE[:SIGMA_MAX]",
                   help="add the steric potential to the score (guided and unguided sets), as `design steric.scale=...`")
    p.add_argument("--compactness", default=None, metavar="SCALE[:SIGMA_MAX[:MAX]]",
                   help="add the compactness ceiling (guided and unguided sets), as `design compactness.scale=...`")
    args = p.parse_args()
    args.scales = [float(s) for s in args.scales.split(",") if s]
    args.langevin_scales = [float(s) for s in args.langevin_scales.split(",") if s]
    args.langevin_cases = [c for c in args.langevin_cases.split(",") if c]
    args.cases = [c for c in args.cases.split(",") if c]
    args.merge = [m for m in args.merge.split(",") if m]
    if args.phase in ("all", "sample"):
        if args.rg_average is None:
            args.rg_average = corpus_rg_average(Path(args.corpus), args.length)
        phase_sample(args)
    if args.phase in ("all", "report"):
        phase_report(args)


if __name__ == "__main__":
    main()
