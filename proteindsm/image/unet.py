"""A small σ-conditioned U-Net score model for images ``(B, C, H, W)`` in [0, 1].

Design (NCSN/NCSNv2-style, kept small for CPU training):

* GroupNorm + SiLU everywhere, **no BatchNorm**: batch statistics make the score of one image depend on
  the rest of the batch and on train/eval mode, which breaks Langevin sampling.
* A σ embedding (sinusoidal features of log σ → MLP) is added inside **every** residual block.
* Input pre-conditioning x_in = (x − c)/√(σ² + σ_data²) keeps the network's input at unit scale over the
  whole σ range (Karras et al. 2022); the output is divided by σ (NCSNv2 technique 3), so the network
  predicts −ε and the score is ``net(x, σ)/σ``.  Both come from the core denoiser contract
  :class:`proteindsm.core.denoiser.NoisePredictionPreconditioning` (see :class:`ImageUNet`).
* Images whose side is not a multiple of 2^(levels−1) are zero-padded inside the network and the output is
  cropped back, so any size works (8×8 digits, 28×28 MNIST, a user's folder).

The model follows the core score contract ``model(x (B,C,H,W), sigma (B,), cond) -> score (B,C,H,W)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from proteindsm.core.denoiser import NoisePredictionPreconditioning
from proteindsm.errors import InputError


def _groups(channels: int, groups: int) -> int:
    g = math.gcd(channels, groups)
    return max(g, 1)


class SigmaEmbedding(nn.Module):
    """σ ``(B,)`` → ``(B, dim)``: sin/cos of log σ at geometric frequencies, then a 2-layer MLP."""

    def __init__(self, dim: int, num_frequencies: int = 16) -> None:
        super().__init__()
        freqs = torch.exp(torch.linspace(math.log(0.25), math.log(32.0), num_frequencies))
        self.register_buffer("freqs", freqs, persistent=False)
        self.mlp = nn.Sequential(nn.Linear(2 * num_frequencies, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, sigma: Tensor) -> Tensor:
        arg = torch.log(sigma.float()).unsqueeze(-1) * self.freqs
        return self.mlp(torch.cat([arg.sin(), arg.cos()], dim=-1))


class ResBlock(nn.Module):
    """GroupNorm → SiLU → conv3×3 (+ σ embedding) → GroupNorm → SiLU → dropout → conv3×3, plus skip."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: Optional[int], groups: int = 8, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(in_ch, groups), in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, out_ch) if emb_dim else None
        self.norm2 = nn.GroupNorm(_groups(out_ch, groups), out_ch)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: Tensor, emb: Optional[Tensor] = None) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        if self.emb is not None and emb is not None:
            h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(self.drop(F.silu(self.norm2(h))))
        return h + self.skip(x)


@dataclass
class UNetConfig:
    """Hyper-parameters of :class:`ImageUNet` (recorded in checkpoints as ``model_config``).

    ``channel_mults`` gives one resolution level each (2 → one down-sampling by 2); ``sigma_data`` and
    ``data_center`` set the input pre-conditioning (data in [0, 1]: centre 0.5, spread ≈ 0.5)."""

    in_channels: int = 1
    channels: int = 32
    channel_mults: Sequence[int] = field(default_factory=lambda: (1, 2, 2))
    num_res_blocks: int = 1
    groups: int = 8
    emb_dim: int = 128
    dropout: float = 0.0
    sigma_data: float = 0.5
    data_center: float = 0.5

    def __post_init__(self) -> None:
        self.channel_mults = tuple(int(m) for m in self.channel_mults)
        for name in ("in_channels", "channels", "num_res_blocks", "groups", "emb_dim"):
            v = getattr(self, name)
            if int(v) != v or v < 1:
                raise InputError(f"model.{name} must be a positive integer, got {v!r}")
        if not self.channel_mults or any(m < 1 for m in self.channel_mults):
            raise InputError(f"model.channel_mults must be a non-empty list of positive integers, got "
                             f"{list(self.channel_mults)}")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"model.dropout must be in [0, 1), got {self.dropout}")
        if not self.sigma_data > 0:
            raise InputError(f"model.sigma_data must be positive, got {self.sigma_data}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["channel_mults"] = list(self.channel_mults)
        return d


class ImageUNet(nn.Module):
    """σ-conditioned U-Net score model: ``(x (B,C,H,W), sigma (B,), cond) -> score (B,C,H,W)``.

    Denoiser contract (:attr:`preconditioning`, a
    :class:`proteindsm.core.denoiser.NoisePredictionPreconditioning` at ``config.sigma_data``): the
    network input is its ``scale_input`` (``c_in (x − data_center)``, c_in = 1/√(σ² + σ_d²) as in
    EDM) and the score its ``score`` (``F/σ``, i.e. ``c_skip = 1``, ``c_out = σ``: D = x + σ F).
    It does not use EDM's ``c_skip``/``c_out`` or ``c_noise``; σ is embedded as ``log σ``
    (:class:`SigmaEmbedding`).
    """

    model_class = "proteindsm.image.ImageUNet"

    def __init__(self, config: Optional[UNetConfig] = None, **kwargs: Any) -> None:
        super().__init__()
        cfg = config if config is not None else UNetConfig(**kwargs)
        self.config = cfg
        ch, groups, emb = cfg.channels, cfg.groups, cfg.emb_dim
        self.sigma_embed = SigmaEmbedding(emb)
        self.conv_in = nn.Conv2d(cfg.in_channels, ch, 3, padding=1)
        widths = [ch * m for m in cfg.channel_mults]
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        skips = [ch]
        cur = ch
        for i, w in enumerate(widths):
            blocks = nn.ModuleList()
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResBlock(cur, w, emb, groups, cfg.dropout))
                cur = w
                skips.append(cur)
            self.down.append(blocks)
            if i < len(widths) - 1:
                self.downsample.append(nn.Conv2d(cur, cur, 3, stride=2, padding=1))
                skips.append(cur)
        self.mid = nn.ModuleList([ResBlock(cur, cur, emb, groups, cfg.dropout), ResBlock(cur, cur, emb, groups, cfg.dropout)])
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            blocks = nn.ModuleList()
            for _ in range(cfg.num_res_blocks + 1):
                blocks.append(ResBlock(cur + skips.pop(), w, emb, groups, cfg.dropout))
                cur = w
            self.up.append(blocks)
            if i > 0:
                self.upsample.append(nn.Conv2d(cur, cur, 3, padding=1))
        self.norm_out = nn.GroupNorm(_groups(cur, groups), cur)
        self.conv_out = nn.Conv2d(cur, cfg.in_channels, 3, padding=1)
        self.multiple = 2 ** (len(widths) - 1)

    @property
    def preconditioning(self) -> NoisePredictionPreconditioning:
        """The core input scaling and output ``F/σ`` at ``config.sigma_data``."""
        return NoisePredictionPreconditioning(self.config.sigma_data)

    def forward(self, x: Tensor, sigma: Tensor, cond: Optional[dict] = None) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.config.in_channels:
            raise InputError(f"ImageUNet expects images (B, {self.config.in_channels}, H, W), got {tuple(x.shape)}")
        sigma = sigma.to(x.dtype).reshape(-1)
        if sigma.numel() == 1:
            sigma = sigma.expand(x.shape[0])
        elif sigma.shape[0] != x.shape[0]:
            raise InputError(f"ImageUNet: sigma must have shape (B,) = ({x.shape[0]},), got {tuple(sigma.shape)}")
        h_in = self.preconditioning.scale_input(x, sigma, self.config.data_center)
        H, W = x.shape[-2:]
        ph, pw = (-H) % self.multiple, (-W) % self.multiple
        if ph or pw:
            h_in = F.pad(h_in, (0, pw, 0, ph))
        emb = self.sigma_embed(sigma)
        h = self.conv_in(h_in)
        hs = [h]
        for i, blocks in enumerate(self.down):
            for block in blocks:
                h = block(h, emb)
                hs.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
                hs.append(h)
        for block in self.mid:
            h = block(h, emb)
        for j, blocks in enumerate(self.up):
            for block in blocks:
                h = block(torch.cat([h, hs.pop()], dim=1), emb)
            if j < len(self.upsample):
                h = self.upsample[j](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        out = self.conv_out(F.silu(self.norm_out(h)))
        if ph or pw:
            out = out[..., :H, :W]
        return self.preconditioning.score(x, sigma, out)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def load_unet(path: str, prefer_ema: bool = True, device: torch.device | str = "cpu") -> tuple["ImageUNet", dict]:
    """An :class:`ImageUNet` from a checkpoint written by ``proteindsm image`` (EMA weights by default),
    in eval mode, and the checkpoint's metadata (``schedule``, ``dataset``, ``dataset_config``, ...)."""
    from proteindsm.core import load_checkpoint, load_weights_into

    ckpt = load_checkpoint(path, expected_model_class=ImageUNet.model_class)
    model = ImageUNet(UNetConfig(**ckpt.metadata["model_config"]))
    load_weights_into(model, ckpt.weights(prefer_ema=prefer_ema), path)
    return model.to(device).eval(), ckpt.metadata
