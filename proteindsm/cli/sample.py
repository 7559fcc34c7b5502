"""``proteindsm sample``: backbones from a score-model checkpoint, written as PDB/mmCIF files."""

from __future__ import annotations

import json
import time
from pathlib import Path

from omegaconf import DictConfig

from proteindsm.fileio import atomic_write_text

from .config import prepare_out_dir
from .protein_common import design_sequences_for, prepare_sampling, sequence_settings


def run(cfg: DictConfig) -> int:
    from proteindsm.protein.sampling import sample_backbones
    from proteindsm.protein.secondary_structure import tokens_to_string

    setup = prepare_sampling(cfg)
    fmt, num, batch_size, sampler, levels, device, ckpt, loaded, lengths, sigmas, score_fn, potentials = setup[:12]
    out = prepare_out_dir(cfg.out)

    t0 = time.perf_counter()
    groups = [(lengths, num)] if setup.counts is None else [([L], setup.counts[L]) for L in lengths]
    samples = []
    for group_lengths, count in groups:  # ss_file: each length has its own number of backbones
        samples += sample_backbones(score_fn, group_lengths, count, sampler, sigmas, seed=int(cfg.seed),
                                    batch_size=batch_size, device=device,
                                    return_trajectory=bool(cfg.save_trajectory), progress=bool(cfg.progress),
                                    ss_layout=setup.ss_layout, ideal_output=bool(cfg.get("ideal_output", False)))
    files = write_samples(samples, out, fmt)
    manifest = {
        "checkpoint": str(ckpt), "checkpoint_step": loaded.metadata.get("step"),
        "sampler": {"class": type(sampler).__name__, **vars(sampler)},
        "sigma_grid": {"levels": levels, "sigma_max": float(sigmas[0]), "sigma_min": float(sigmas[-1])},
        **potentials, "seed": int(cfg.seed), "device": str(device), "batch_size": batch_size,
        "ss_mode": setup.ss_mode, "ideal_output": bool(cfg.get("ideal_output", False)),
        "files": [{"file": f.name, "length": s.length, "seconds": round(s.seconds, 3),
                   **({} if s.ss is None else {"ss": tokens_to_string(s.ss)})}
                  for f, s in zip(files, samples)],
        "seconds_total": round(time.perf_counter() - t0, 2),
    }
    seq_settings = sequence_settings(cfg)
    if seq_settings is not None:
        manifest["sequences"] = design_sequences_for(out, files, samples, seq_settings, int(cfg.seed))
    if cfg.view:
        from proteindsm.protein.view import write_view
        page = write_view(out / "view.html", [(f.name, f.read_text()) for f in files], fmt=fmt)
        manifest["view"] = page.name
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2))
    print(f"wrote {len(files)} backbones to {out} ({manifest['seconds_total']} s)")
    return 0


def write_samples(samples, out: Path, fmt: str) -> list[Path]:
    """Write each backbone (and its trajectory, if any) atomically; returns the structure paths."""
    from proteindsm.protein.io import write_structure

    files = []
    for s in samples:
        path = out / f"len{s.length}_{s.index:03d}.{fmt}"
        write_structure(path, s.coords)
        if s.trajectory is not None:
            write_structure(out / f"len{s.length}_{s.index:03d}_trajectory.{fmt}", list(s.trajectory))
        files.append(path)
    return files
