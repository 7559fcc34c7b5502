"""``proteindsm evaluate samples=DIR out=FILE.json``: metrics of generated vs real backbones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from proteindsm.errors import InputError

from .config import require, resolve_path


def read_structure_dir(folder: Path, what: str) -> tuple[list[np.ndarray], list[str]]:
    """All backbones in a folder of structure files (trajectory files are skipped).

    Chains are NOT split at long C–N distances: a generated backbone is judged as written, and a
    broken peptide bond shows up in the bond-length figures instead of silently splitting it."""
    from proteindsm.protein.io import read_backbones, structure_format

    if not folder.is_dir():
        raise InputError(f"{what} folder not found: {folder}")
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and structure_format(p) and "_trajectory" not in p.name)
    if not files:
        raise InputError(f"{what} folder {folder} holds no .pdb/.cif files")
    chains, names = [], []
    for f in files:
        for ch in read_backbones(f, min_length=3, max_peptide_bond=float("inf")):
            chains.append(ch.coords)
            names.append(f.name)
    return chains, names


def run(cfg: DictConfig) -> int:
    from proteindsm.protein.evaluate import (evaluate_backbones, load_corpus_chains, reference_from_corpus,
                                             write_evaluation)

    samples, _ = read_structure_dir(resolve_path(require(cfg, "samples")), "samples")
    ref_path = resolve_path(require(cfg, "reference"))
    lengths = [len(s) for s in samples]
    if ref_path.is_dir():
        reference, _ = read_structure_dir(ref_path, "reference")
    elif ref_path.is_file():
        reference = reference_from_corpus(ref_path, lengths, split=str(cfg.reference_split), seed=int(cfg.seed))
    else:
        raise InputError(f"reference not found: {ref_path} (a corpus .npz or a folder of structures)")
    novelty = None
    if cfg.get("novelty_corpus"):
        novelty, _ = load_corpus_chains(resolve_path(cfg.novelty_corpus), split="train")
    result = evaluate_backbones(samples, reference, train_set_for_novelty=novelty,
                                novelty_subset_size=int(cfg.novelty_subset_size),
                                max_diversity_pairs=int(cfg.max_diversity_pairs), seed=int(cfg.seed))
    out = Path(str(cfg.out))
    plots = Path(str(cfg.plots)) if cfg.get("plots") else out.with_name(out.stem + "_plots")
    write_evaluation(result, out, plots)
    print(f"wrote {out} and plots in {plots}")
    print(format_summary(result))
    return 0


def headline(summary: dict) -> dict[str, float | None]:
    """The figures the README table reports, from one side (generated/reference) of a result."""
    return {
        "bond length MAD (Å)": summary["bond_length_mad_mean_A"],
        "bond angle MAD (°)": summary["bond_angle_mad_mean_deg"],
        "Ramachandran allowed": summary["ramachandran_allowed_fraction"],
        "helices right-handed": summary["helix_handedness"]["right_handed_fraction"],
        "clash-free samples": summary["clash_free_fraction"],
        "helix fraction": summary["helix_fraction_mean"],
        "strand fraction": summary["strand_fraction_mean"],
        "Rg / L^0.4 (Å)": summary["rg_normalised_mean"],
        "mean pairwise TM": summary["diversity"]["mean_pairwise_tm"],
    }


def format_summary(result: dict) -> str:
    """A two-column text table: generated vs reference."""
    g, r = headline(result["generated"]), headline(result["reference"])
    lines = [f"  {'metric':24s} {'generated':>10s} {'reference':>10s}"]
    for k in g:
        fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
        lines.append(f"  {k:24s} {fmt(g[k]):>10s} {fmt(r[k]):>10s}")
    return "\n".join(lines)
