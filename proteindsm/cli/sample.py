"""``proteindsm sample``: backbones from a score-model checkpoint, written as PDB/mmCIF files.

config → :class:`proteindsm.protein.generate.SampleOptions` → plan → files: the backbones are
written batch by batch, ``manifest.json`` says whether the set is ``complete``, and the same command
into the same folder continues an interrupted run."""

from __future__ import annotations

from omegaconf import DictConfig

from . import config
from .config import prepare_out_dir
from .protein_common import design_sequences_for, options_from_config, sequence_settings


def run(cfg: DictConfig) -> int:
    from proteindsm.protein.generate import load_plan, run_plan

    options = options_from_config(cfg, "sample")
    out = prepare_out_dir(cfg.out)            # checked writable before the model loads
    plan = load_plan(options)
    samples = run_plan(plan, out, command=config.LAST_COMMAND or None, finish=False)
    files = [out / samples.writer.file_name(s.length, s.index) for s in samples]
    extra = {}
    seq_settings = sequence_settings(cfg)
    if seq_settings is not None:
        extra["sequences"] = design_sequences_for(out, files, samples, seq_settings, options.seed)
    if cfg.view:
        from proteindsm.protein.analysis.view import write_view
        page = write_view(out / "view.html", [(f.name, f.read_text()) for f in files], fmt=options.format)
        extra["view"] = page.name
    manifest = samples.writer.finish(**extra)
    if samples.writer.continued:
        print(f"continued a partial run: {samples.writer.continued} backbones were already written")
    print(f"wrote {len(files)} backbones to {out} ({manifest['seconds_total']} s)")
    return 0


def write_samples(samples, out, fmt: str) -> list:
    """Write each backbone (and its trajectory, if any) atomically; returns the structure paths."""
    files = []
    for s in samples:
        path = s.write(out / f"{s.name}.{fmt}")
        if s.trajectory is not None:
            s.write(out / f"{s.name}_trajectory.{fmt}", trajectory=True)
        files.append(path)
    return files
