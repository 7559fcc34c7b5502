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


NETWORKS = sorted(p.stem for p in (config_root() / "protein" / "network").glob("e3nn_*.yaml"))


@pytest.mark.parametrize("network", NETWORKS)
def test_network_sigma_data_is_the_schedule_s(network: str) -> None:
    """σ_d is written once, in the schedule group: every score network reads it by interpolation, so
    the composed network (and an override of ``schedule.sigma_data``) always agrees with the schedule."""
    from omegaconf import OmegaConf

    raw = OmegaConf.load(config_root() / "protein" / "network" / f"{network}.yaml")
    assert OmegaConf.to_container(raw)["sigma_data"] == "${schedule.sigma_data}"   # no literal copy
    cfg = compose("protein", "train", [f"network={network}"])
    assert cfg.network.sigma_data == cfg.schedule.sigma_data == 10.0
    moved = compose("protein", "train", [f"network={network}", "schedule.sigma_data=7.5"])
    assert moved.network.sigma_data == 7.5
    assert instantiate_checked(moved.network, "network").config["sigma_data"] == 7.5
    text = (config_root() / "protein" / "schedule" / "protein_ve.yaml").read_text()
    literal = [p for p in (config_root() / "protein").rglob("*.yaml")
               if any(line.split("#")[0].strip().startswith("sigma_data: 10") for line in p.read_text().splitlines())]
    assert literal == [config_root() / "protein" / "schedule" / "protein_ve.yaml"] and "sigma_data: 10.0" in text


def test_design_samples_like_sample_by_default() -> None:
    """`design` uses `sample`'s default sampler and steric potential (its benchmark in docs/design.md
    was measured with them), so a guided backbone is as clean as a sampled one."""
    from omegaconf import OmegaConf

    sample, design = compose("protein", "sample", []), compose("protein", "design", [])
    assert OmegaConf.to_container(design.sampler) == OmegaConf.to_container(sample.sampler)
    assert OmegaConf.to_container(design.steric) == OmegaConf.to_container(sample.steric)
    assert OmegaConf.to_container(design.compactness) == OmegaConf.to_container(sample.compactness)
    assert design.sampler.temperature == 0.5 and design.steric.scale == 1.0 and design.compactness.scale == 0.5
