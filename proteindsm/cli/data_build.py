"""``proteindsm data build input=DIR out=FILE.npz``: a training corpus from PDB/mmCIF files."""

from __future__ import annotations

from omegaconf import DictConfig

from .config import require, resolve_path


def run(cfg: DictConfig) -> int:
    from proteindsm.protein.data.corpus_build import build_corpus, report_path

    report = build_corpus(resolve_path(require(cfg, "input")), str(require(cfg, "out")),
                          min_length=int(cfg.min_length), max_length=int(cfg.max_length),
                          workers=int(cfg.workers), dssp=bool(cfg.dssp), val_fraction=float(cfg.val_fraction),
                          seed=int(cfg.seed))
    print(f"{report.n_chains} chains ({report.n_residues} residues) from {report.n_files} files -> {report.out_path}")
    if report.skipped:
        print(f"skipped {len(report.skipped)} files (reasons in {report_path(report.out_path)}):")
        for path, reason in report.skipped[:20]:
            print(f"  {path}: {reason}")
    return 0
