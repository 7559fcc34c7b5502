"""Config → typed options for the protein commands (sample, design, scaffold, diversify).

The generation logic itself lives in :mod:`proteindsm.protein.generate`; this module only maps a
command's config onto it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf

from proteindsm.errors import InputError
from proteindsm.protein.generate import SampleOptions, SamplingPlan, load_plan, sample_options
from proteindsm.protein.generate.options import build_sampler as _build_sampler

from . import config


def build_sampler(cfg: DictConfig) -> tuple[Any, int]:
    """The sampler of a sample/design config and its number of σ levels (``steps`` overrides
    ``sampler.levels``)."""
    return _build_sampler(OmegaConf.to_container(cfg.sampler, resolve=True), cfg.get("steps"))


def _container(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def sampling_keys(cfg: DictConfig, command: str) -> dict:
    """The sampling settings of a protein command's config as the keyword arguments of
    :func:`~proteindsm.protein.generate.sample_options` (minus length/num/seed/ss)."""
    return dict(sampler=_container(cfg.sampler), steps=cfg.get("steps"), checkpoint=cfg.get("checkpoint"),
                steric=_container(cfg.get("steric")), compactness=_container(cfg.get("compactness")),
                sigma_min=cfg.get("sigma_min"), sigma_max=cfg.get("sigma_max"), device=str(cfg.device),
                batch_size=cfg.batch_size, ideal_output=cfg.get("ideal_output", False),
                progress=cfg.get("progress", True), ss_guidance=cfg.get("ss_guidance", 1.0),
                sampler_name=config.group_choice("protein", command, "sampler"))


def options_from_config(cfg: DictConfig, command: str = "sample") -> SampleOptions:
    """The typed, validated options of a sample/design/diversify config (no model work)."""
    sequence_settings(cfg)  # sequences=N: checked before any work
    for key in ("view", "baseline"):
        if key in cfg and not isinstance(cfg.get(key), bool):
            raise InputError(f"{key} must be true or false, got {cfg.get(key)!r}")
    return sample_options(
        length=_container(cfg.get("length")), num=cfg.num, seed=cfg.seed, ss=cfg.get("ss", "auto"),
        ss_file=cfg.get("ss_file"), pairs=cfg.get("pairs", "auto"), format=cfg.get("format", "pdb"),
        save_trajectory=cfg.get("save_trajectory", False), **sampling_keys(cfg, command))


def prepare_sampling(cfg: DictConfig, command: str = "sample") -> SamplingPlan:
    """Check every setting, load the checkpoint, check the lengths against the model and build
    the σ grid, potentials and ss layout — one clear InputError before any work."""
    return load_plan(options_from_config(cfg, command))


def sequence_settings(cfg: DictConfig) -> Optional[tuple[int, float, str]]:
    """``sequences=N`` (+ ``sequences_temperature``, ``sequences_model``) of sample/design, checked
    before any work (package installed, N > 0, T > 0, known model); None when ``sequences`` is 0."""
    value = cfg.get("sequences", 0)
    if value in (None, 0, "0", False):
        return None
    from proteindsm.protein.sequences import mpnn as sq
    from proteindsm.protein.sequences.mpnn_model import require_proteinmpnn
    settings = sq.check_settings(value, cfg.get("sequences_temperature", 0.1), cfg.get("sequences_model", "v_48_020"))
    require_proteinmpnn()
    return settings


def design_sequences_for(out: Path, files: list, samples: list, settings: tuple[int, float, str], seed: int) -> dict:
    """ProteinMPNN designs for freshly written backbones: ``out/sequences.fasta`` + ``.csv``; returns
    the manifest entry."""
    from proteindsm.protein.sequences import mpnn as sq
    n, temperature, model = settings
    res = sq.design_backbones([(f.name, s.coords, "G" * s.length) for f, s in zip(files, samples)], n,
                              temperature=temperature, model=model, seed=seed)
    fasta, table = sq.write_designs(out / "sequences.fasta", res, temperature=temperature, model=model, seed=seed)
    return {"fasta": fasta.name, "csv": table.name, "num_seqs": n, "temperature": temperature, "model": model,
            "summary": sq.summarise(res)}
