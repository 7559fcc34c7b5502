"""``proteindsm sequences samples=DIR [out=FILE.fasta]``: ProteinMPNN sequence designs for backbones."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from .config import require, resolve_path
from .evaluate import read_structure_chains


def read_backbone_inputs(folder: Path) -> list[tuple[str, object, str]]:
    """``(name, coords (L, 4, 3), sequence)`` of every chain in ``folder``: the file name, with
    ``:<chain>`` appended when a file holds several chains."""
    chains, files = read_structure_chains(folder, "samples")
    count = {f: files.count(f) for f in files}
    return [(f if count[f] == 1 else f"{f}:{ch.id.split('_', 1)[-1]}", ch.coords, ch.seq)
            for ch, f in zip(chains, files)]


def scaffold_motif_positions(folder: Path) -> dict[str, list[int]]:
    """``{file: 1-based motif positions}`` from a ``proteindsm scaffold`` folder's report.csv
    (column ``motif_positions``, e.g. ``22-36 40-45``); empty for other folders."""
    import csv

    report = folder / "report.csv"
    if not report.is_file():
        return {}
    out: dict[str, list[int]] = {}
    with open(report, newline="") as fh:
        for row in csv.DictReader(fh):
            spec = (row.get("motif_positions") or "").strip()
            if not row.get("file") or not spec:
                continue
            pos: list[int] = []
            for part in spec.replace(",", " ").split():
                lo, _, hi = part.partition("-")
                pos += list(range(int(lo), int(hi or lo) + 1))
            out[row["file"]] = pos
    return out


def run(cfg: DictConfig) -> int:
    from proteindsm.protein.sequences import design_reports, fixed_residues, mpnn_model
    from proteindsm.protein.sequences import mpnn as sq
    samples_dir = resolve_path(require(cfg, "samples"))
    mpnn_model.require_proteinmpnn()
    num_seqs, temperature, model = sq.check_settings(cfg.num_seqs, cfg.temperature, cfg.model)
    seed = int(cfg.seed)
    backbones = read_backbone_inputs(samples_dir)
    fixed_spec = cfg.get("fixed")
    if OmegaConf.is_config(fixed_spec):
        fixed_spec = OmegaConf.to_container(fixed_spec, resolve=True)
    fixed = fixed_residues.parse_fixed(fixed_spec, [b[0] for b in backbones])
    for name, positions in scaffold_motif_positions(samples_dir).items():  # scaffold outputs: motif kept
        if name in {b[0] for b in backbones}:
            fixed[name] = sorted(set(fixed.get(name, [])) | set(positions))
    for name, X, seq in backbones:
        fixed_residues.check_fixed(fixed.get(name, []), seq, name)
    out = Path(str(cfg.out)) if cfg.get("out") else samples_dir / "sequences.fasta"

    def progress(k: int, n: int) -> None:
        if cfg.get("progress", True):
            print(f"\r  designed {k}/{n} backbones", end="" if k < n else "\n", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    results = sq.design_backbones(backbones, num_seqs, temperature=temperature, model=model, seed=seed,
                                  fixed=fixed, progress=progress)
    seconds = time.perf_counter() - t0
    fasta, csv_path = design_reports.write_designs(out, results, temperature=temperature, model=model, seed=seed)
    s = design_reports.summarise(results)
    passing = s["backbones_passing"]
    print(f"wrote {s['n_designs']} sequences for {s['n_backbones']} backbones to {fasta} and {csv_path} "
          f"({seconds:.1f} s, {seconds / len(results):.2f} s per backbone)")
    print(f"  mean score {s['score_mean']:.3f} nats/residue (global {s['global_score_mean']:.3f}); "
          f"backbones whose designs pass Gly+Pro <= 30 %: {passing['gly_pro']:.2f}, hydrophobic >= 20 %: "
          f"{passing['hydrophobic']:.2f}, Ala+Glu+Lys+Leu <= 70 %: {passing['aekl']:.2f}, all: {passing['all']:.2f}"
          + ("" if s["recovery_mean"] is None else f"; recovery vs input sequences {s['recovery_mean']:.3f}"))
    return 0
