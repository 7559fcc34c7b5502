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

from typing import Any

from omegaconf import DictConfig, OmegaConf

from proteindsm.errors import InputError

from . import config
from .config import prepare_out_dir
from .protein_common import design_sequences_for, options_from_config, sequence_settings


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


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def parse_requests(cfg: DictConfig) -> list:
    """The :class:`~proteindsm.protein.generate.targets.PropertyTarget` requests of a design config
    (``property``/``function`` + ``target``, ``scale``, ``tolerance``, ``predictor``, and ``properties``)."""
    from proteindsm.protein.generate.guided import property_requests

    items = cfg.get("properties") or []
    if not OmegaConf.is_list(items) and not isinstance(items, list):
        raise InputError("properties must be a list like [{property: helix_fraction, target: 0.8}, ...]")
    # function nodes stay config nodes, so a Hydra _target_ node is resolved by the CLI's resolver
    return property_requests(cfg.get("property"), cfg.get("target"), scale=cfg.scale, tolerance=cfg.get("tolerance"),
                             predictor=cfg.get("predictor"), function=cfg.get("function"),
                             properties=[dict(item) if OmegaConf.is_dict(item) else item for item in items],
                             resolve_function=resolve_property_function)


def run(cfg: DictConfig) -> int:
    from proteindsm.protein.generate import load_plan
    from proteindsm.protein.generate.guided import format_summary, load_design, run_design

    requests = parse_requests(cfg)
    options = options_from_config(cfg, "design")
    plan = load_plan(options)                 # (out= was checked writable before this, by the CLI)
    run = load_design(plan, requests, baseline=cfg.baseline, sheet=_plain(cfg.get("sheet")),
                      predictor_dir=config.resolve_path(cfg.predictor_dir) if cfg.get("predictor_dir") else None)
    out = prepare_out_dir(cfg.out)            # created only once every request has passed its checks
    designs = run_design(run, out, command=config.LAST_COMMAND or None, finish=False)
    writer = designs.guided.writer
    files = [out / f"{s.name}.{options.format}" for s in designs]
    extra = {}
    seq_settings = sequence_settings(cfg)
    if seq_settings is not None:
        extra["sequences"] = design_sequences_for(out, files, designs, seq_settings, options.seed)
    if cfg.get("view"):
        from proteindsm.protein.analysis.view import write_view
        base = [] if designs.unguided is None else [out / "unguided" / f"{s.name}.{options.format}"
                                                    for s in designs.unguided]
        page = write_view(out / "view.html", [(f.name, f.read_text()) for f in files]
                          + [(f"unguided/{f.name}", f.read_text()) for f in base], fmt=options.format)
        extra["view"] = page.name
    manifest = writer.finish(**extra)
    if writer.continued:
        print(f"continued a partial run: {writer.continued} guided backbones were already written")
    print(f"wrote {len(files)} guided backbones{' (+ unguided baseline)' if designs.unguided is not None else ''} "
          f"and design_report.csv to {out} ({manifest['seconds_total']} s)")
    print(format_summary(designs.summary))
    return 0
