"""``proteindsm scaffold``: backbones that hold a motif (RFdiffusion contig syntax), PDB + report."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from proteindsm.errors import InputError

from .config import prepare_out_dir, require, resolve_path
from .protein_common import sampling_keys


def run(cfg: DictConfig) -> int:
    from proteindsm.protein.generate.scaffolding import load_scaffold, run_scaffold

    from .design import parse_requests

    # Everything about the input first: no model work, nothing written, until it all checks out.
    if "view" in cfg and not isinstance(cfg.get("view"), bool):
        raise InputError(f"view must be true or false, got {cfg.get('view')!r}")
    requests = parse_requests(cfg)            # [] without property/function/target/properties
    guidance = cfg.get("guidance")
    run = load_scaffold(resolve_path(str(require(cfg, "motif"))), require(cfg, "contig"), num=cfg.num,
                        length=cfg.get("length"), seed=cfg.seed, mechanism=cfg.get("mechanism", "guidance"),
                        guidance=OmegaConf.to_container(guidance, resolve=True) if guidance is not None else None,
                        ss=cfg.get("ss"), requests=requests,
                        predictor_dir=resolve_path(cfg.predictor_dir) if cfg.get("predictor_dir") else None,
                        **sampling_keys(cfg, "scaffold"))
    out = prepare_out_dir(cfg.out)           # created once the problem has passed every check
    result = run_scaffold(run, out, view=bool(cfg.get("view")))
    s = result.manifest["summary"]
    print(f"wrote {len(result)} scaffolds to {out}: motif RMSD median {s['motif_rmsd_median']:.2f} Å, "
          f"{s['fraction_motif_rmsd_below_1A']:.0%} below 1 Å ({result.manifest['seconds_total']} s)")
    return 0
