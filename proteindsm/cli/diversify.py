"""``proteindsm diversify``: variants of a given backbone by partial diffusion, PDB + report.

config → :func:`proteindsm.protein.generate.variants.load_diversify` (input, σ, kept residues, all
checked first; the sampling plan of ``proteindsm sample``) → :func:`~proteindsm.protein.generate.variants.run_diversify`
→ ``variant_000.pdb …`` (batch by batch; rerunning into a partial folder continues it),
``report.csv`` (TM-score and RMSD to the input, geometry) and ``manifest.json``."""

from __future__ import annotations

from omegaconf import DictConfig

from . import config
from .config import prepare_out_dir, require, resolve_path
from .protein_common import sampling_keys


def run(cfg: DictConfig) -> int:
    from proteindsm.protein.generate.variants import load_diversify, run_diversify

    # Everything about the input first: no model work, nothing written, until it all checks out.
    run = load_diversify(resolve_path(str(require(cfg, "input"))), cfg.get("sigma"), num=cfg.num, seed=cfg.seed,
                         chain=cfg.get("chain"), keep=cfg.get("keep"), mechanism=cfg.get("mechanism", "replacement"),
                         ss=cfg.get("ss", "none"), **sampling_keys(cfg, "diversify"))
    out = prepare_out_dir(cfg.out)
    result = run_diversify(run, out, command=config.LAST_COMMAND or None)
    print(f"wrote {len(result)} variants to {out}: TM-score to the input median "
          f"{result.manifest['summary']['tm_to_input_median']:.2f} ({result.manifest['seconds_total']} s)")
    return 0
