"""The image config defines σ_d once (``model.sigma_data``); inpainting's reconstruction variance reads it."""

from __future__ import annotations

from omegaconf import OmegaConf

from proteindsm.cli.config import compose, config_root, to_container
from proteindsm.image.unet import UNetConfig


def test_sigma_data_defined_once() -> None:
    raw = OmegaConf.to_container(OmegaConf.load(config_root() / "image" / "image.yaml"))
    assert raw["inpainting"]["sigma_data"] == "${model.sigma_data}"            # no literal copy
    cfg = compose("image", "image", ["out=x"])
    assert cfg.model.sigma_data == cfg.inpainting.sigma_data == UNetConfig.sigma_data == 0.5
    assert UNetConfig(in_channels=1, **to_container(cfg.model)).sigma_data == 0.5
    moved = compose("image", "image", ["out=x", "model.sigma_data=0.3"])
    assert moved.inpainting.sigma_data == 0.3
    off = compose("image", "image", ["out=x", "inpainting.sigma_data=null"])   # r² = τ² + σ² still selectable
    assert off.inpainting.sigma_data is None and off.model.sigma_data == 0.5
