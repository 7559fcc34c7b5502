"""Inpainting step of ``proteindsm image`` (``inpaint=MODE`` or ``inpaint_mask=FILE``; see :mod:`proteindsm.cli.image`).

:func:`inpaint_plan` checks the settings before any model work (images ``(C, H, W)`` in [0, 1], a
known-pixel mask ``(N, C, H, W)``); :func:`run_inpainting` completes held-out test images through
:mod:`proteindsm.image.inpainting`, next to cached unconditional samples from the same noise, and
returns the metrics entry.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Optional

import torch
from omegaconf import DictConfig

from proteindsm.errors import InputError

from .config import resolve_path

__all__ = ["inpaint_plan", "run_inpainting"]


def inpaint_plan(cfg: DictConfig, shape: tuple[int, int, int], num_test: int) -> Optional[dict[str, Any]]:
    """The checked inpainting settings (None when neither ``inpaint`` nor ``inpaint_mask`` is set):
    one :class:`InputError` for an unknown mode or method, both given, a bad mask file or bad numbers."""
    from proteindsm.image.inpainting import METHODS, MODES, build_mask, load_mask_file

    mode, mask_file = cfg.get("inpaint"), cfg.get("inpaint_mask")
    if mode is None and mask_file is None:
        return None
    if mode is not None and mask_file is not None:
        raise InputError("pass either inpaint=MODE or inpaint_mask=FILE, not both")
    method = str(cfg.get("inpaint_method"))
    if method not in METHODS[:2]:
        raise InputError(f"inpaint_method must be one of {', '.join(METHODS[:2])}, got {method!r}")
    p = cfg.inpainting
    num = p.num_images
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise InputError(f"inpainting.num_images must be a positive integer, got {num!r}")
    if num_test < 1:
        raise InputError("inpainting needs held-out images: the data set has an empty test split "
                         "(set dataset.test_fraction > 0)")
    num = min(num, num_test)
    steps = p.steps_per_level
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise InputError(f"inpainting.steps_per_level must be a positive integer or null, got {steps!r}")
    for key in ("scale", "tolerance"):
        if not isinstance(p[key], (int, float)) or isinstance(p[key], bool) or not float(p[key]) >= 0:
            raise InputError(f"inpainting.{key} must be a number >= 0, got {p[key]!r}")
    if mask_file is not None:
        path = resolve_path(str(mask_file))
        known = load_mask_file(path, shape).unsqueeze(0).expand(num, *shape)
        name, label = f"mask-{path.stem}", str(path)
    else:
        if str(mode) not in MODES:
            raise InputError(f"inpaint must be one of {', '.join(MODES)} (or pass inpaint_mask=FILE), got {mode!r}")
        known = build_mask(str(mode), shape, num=num, fraction=float(p.fraction), seed=int(p.mask_seed))
        name, label = str(mode), str(mode)
    options = {"scale": float(p.scale), "tolerance": float(p.tolerance),
               "sigma_data": None if p.sigma_data is None else float(p.sigma_data),
               "through_model": bool(p.through_model)} if method == "reconstruction" else {}
    tag = f"{name}_{method}"
    if method == "reconstruction" and float(p.scale) != 1.0:
        tag += f"_scale{float(p.scale):g}".replace(".", "p")
    if steps is not None:
        tag += f"_T{steps}"
    return {"mode": label, "name": name, "method": method, "known": known, "num": num, "seed": int(p.seed),
            "steps_per_level": steps, "options": options, "tag": tag, "baseline": bool(p.baseline),
            "grid": int(p.grid), "mask_file": None if mask_file is None else label,
            "fraction": float(p.fraction) if mode == "random" else None}


def _unconditional(out: Path, key: dict, make) -> "torch.Tensor":
    """Unconditional samples for the inpainting baseline, reused from ``out/inpainting_unconditional.pt``
    when they were drawn with the same ``key`` (step, weights, sampler, seed, number)."""
    from proteindsm.fileio import atomic_write_with

    path = out / "inpainting_unconditional.pt"
    if path.is_file():
        try:
            saved = torch.load(path, weights_only=True)
            if saved.get("key") == json.dumps(key, sort_keys=True):
                return saved["x"]
        except Exception:  # a stale or unreadable cache is redrawn
            pass
    x = make()
    atomic_write_with(path, lambda tmp: torch.save({"key": json.dumps(key, sort_keys=True), "x": x}, tmp))
    return x


def run_inpainting(cfg: DictConfig, plan: dict, data, score_model, sampler, schedule, num_levels: int,
                   feat_clf, out: Path, step: int) -> dict[str, Any]:
    """Complete the first ``plan['num']`` test images (``plan`` from :func:`inpaint_plan`); writes the
    grid PNG into ``out`` and returns the ``metrics.json`` ``inpainting`` entry."""
    from proteindsm.image.inpainting import inpaint_images, inpainting_metrics, masked_view
    from proteindsm.image.plots import save_inpainting_grid

    n, known = plan["num"], plan["known"]
    originals, labels = data.x_test[:n], (None if data.y_test is None else data.y_test[:n])
    run_sampler = sampler
    if plan["steps_per_level"] is not None:
        if not hasattr(sampler, "steps_per_level"):
            raise InputError(f"inpainting.steps_per_level needs a sampler with Langevin steps per level "
                             f"(annealed_langevin), not {type(sampler).__name__}")
        run_sampler = dataclasses.replace(sampler, steps_per_level=int(plan["steps_per_level"]))
    common = dict(num_levels=num_levels, seed=plan["seed"], batch_size=int(cfg.sampling.batch_size),
                  progress=bool(cfg.progress))
    t0 = time.time()
    raw = inpaint_images(score_model, run_sampler, schedule, originals, known, method=plan["method"],
                         composite=False, **common, **plan["options"])
    secs = time.time() - t0
    completions = torch.where(known, originals, raw)
    unconditional, base_secs = None, None
    if plan["baseline"]:
        key = {"step": step, "weights": str(cfg.sampling.weights), "sampler": repr(run_sampler),
               "num_levels": num_levels, "seed": plan["seed"], "num": n, "batch_size": common["batch_size"]}
        t1 = time.time()
        unconditional = _unconditional(out, key, lambda: inpaint_images(score_model, run_sampler, schedule, originals,
                                                                         known, method="none", composite=False,
                                                                         **common))
        base_secs = round(time.time() - t1, 2)
    entry: dict[str, Any] = {"tag": plan["tag"], "mode": plan["mode"], "method": plan["method"],
                             "mask_file": plan["mask_file"], "fraction": plan["fraction"], "num_images": n,
                             "images": f"the first {n} test images (held out from the score model and the classifier)",
                             "seed": plan["seed"], "step": step, "weights": str(cfg.sampling.weights),
                             "sampler": {"class": type(run_sampler).__name__, "num_levels": num_levels,
                                         "steps_per_level": getattr(run_sampler, "steps_per_level", None)},
                             "options": plan["options"], "sampling_seconds": round(secs, 2),
                             "unconditional_seconds": base_secs,
                             "known_pixel_max_error": float((raw - originals).abs()[known].max())}
    entry.update(inpainting_metrics(originals, known, completions, labels=labels,
                                    classifier=feat_clf if labels is not None else None, unconditional=unconditional))
    grid = out / f"inpaint_{plan['tag']}.png"
    g = min(plan["grid"], n)
    rows, names = [originals[:g], masked_view(originals[:g], known[:g]), completions[:g]], \
        ["original", "visible (hidden in red)", "completion"]
    if unconditional is not None:
        rows.append(unconditional[:g])
        names.append("unconditional")
    kept = entry.get("label_kept")
    save_inpainting_grid(grid, rows, names, ncols=16,
                         title=f"inpaint {plan['mode']} by {plan['method']}" +
                               (f": label kept {100 * kept:.0f}% of {n}" if kept is not None else ""))
    entry["grid"] = grid.name
    msg = f"proteindsm image: inpaint {plan['mode']} ({plan['method']}) on {n} held-out images: "
    if kept is not None:
        msg += (f"label kept {100 * kept:.1f}% (unconditional {100 * entry['label_kept_unconditional']:.1f}%, "
                if unconditional is not None else f"label kept {100 * kept:.1f}% (") + \
               f"originals {100 * entry['classifier_accuracy']:.1f}%), "
    msg += f"MSE on hidden pixels {entry['mse_hidden']:.4f}"
    if unconditional is not None:
        msg += f" (unconditional {entry['mse_hidden_unconditional']:.4f})"
    print(msg + f"; {secs:.0f} s; grid {grid}")
    return entry
