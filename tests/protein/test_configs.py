"""Every shipped protein experiment composes, and its network builds from the composed config."""

from __future__ import annotations

import pytest

from proteindsm.cli.config import compose, config_root, instantiate_checked

EXPERIMENTS = sorted(p.stem for p in (config_root() / "protein" / "experiment").glob("*.yaml"))


def test_experiments_found() -> None:
    assert {"protein_small", "protein_local", "protein_local_cpu", "protein_tiny"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes_and_builds(experiment: str) -> None:
    cfg = compose("protein", "train", [f"experiment={experiment}"])
    assert cfg.kind in ("score", "predictor")
    assert int(cfg.data.tokens_per_batch) > 0 and int(cfg.train.max_steps) > 0
    if cfg.kind == "score":
        net = instantiate_checked(cfg.network, "network")
        assert net.config["sigma_data"] == float(cfg.schedule.sigma_data)
        if experiment.startswith("protein_local"):
            assert net.config["atom_pair_features"] and net.config["residue_invariants"]


def test_design_samples_like_sample_by_default() -> None:
    """`design` uses `sample`'s default sampler and steric potential (its benchmark in docs/design.md
    was measured with them), so a guided backbone is as clean as a sampled one."""
    from omegaconf import OmegaConf

    sample, design = compose("protein", "sample", []), compose("protein", "design", [])
    assert OmegaConf.to_container(design.sampler) == OmegaConf.to_container(sample.sampler)
    assert OmegaConf.to_container(design.steric) == OmegaConf.to_container(sample.steric)
    assert OmegaConf.to_container(design.compactness) == OmegaConf.to_container(sample.compactness)
    assert design.sampler.temperature == 0.5 and design.steric.scale == 1.0 and design.compactness.scale == 0.5
