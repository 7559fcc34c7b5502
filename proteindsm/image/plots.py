"""Figures for the image domain: sample grids, loss and FID curves, the ε × T Langevin grid.

Images are ``(N, C, H, W)`` in [0, 1] (values outside are clipped for display).  Every figure is written
atomically (``proteindsm.fileio.atomic_write_with``) with matplotlib's Agg backend.
"""

from __future__ import annotations

import math
import os
from typing import Any, Mapping, Optional, Sequence

import numpy as np
from torch import Tensor

from proteindsm.fileio import atomic_write_with


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def image_grid(images: Tensor, nrow: Optional[int] = None, pad: int = 1) -> np.ndarray:
    """Tile ``(N, C, H, W)`` images into one ``(H', W')`` (grey) or ``(H', W', 3)`` array in [0, 1],
    ``nrow`` images per row (default ≈ √N), separated by ``pad`` pixels of mid-grey."""
    x = images.detach().float().cpu().clamp(0.0, 1.0).numpy()
    n, c, h, w = x.shape
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    rows = int(math.ceil(n / nrow))
    grid = np.full((c, rows * (h + pad) + pad, nrow * (w + pad) + pad), 0.5, dtype=np.float32)
    for i in range(n):
        r, col = divmod(i, nrow)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = x[i]
    return grid[0] if c == 1 else np.moveaxis(grid, 0, -1)


def save_grid(path: str | os.PathLike, images: Tensor, nrow: Optional[int] = None, title: str = "",
              inches: float = 4.0) -> None:
    """Write a PNG of an image grid (nearest-neighbour, grey colour map for 1-channel images)."""
    plt = _plt()
    grid = image_grid(images, nrow)
    fig, ax = plt.subplots(figsize=(inches, inches * grid.shape[0] / grid.shape[1] + (0.3 if title else 0)))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    atomic_write_with(path, lambda tmp: fig.savefig(tmp, dpi=120))
    plt.close(fig)


def save_training_curves(path: str | os.PathLike, records: Sequence[Mapping[str, Any]]) -> None:
    """Training loss (and validation DSM loss) vs step; a second panel with FID of raw and EMA weights
    when the records hold ``fid_raw`` / ``fid_ema``."""
    plt = _plt()
    loss = [(r["step"], r["loss"]) for r in records if "loss" in r]
    val = [(r["step"], r["val_loss"]) for r in records if "val_loss" in r]
    fid_raw = [(r["step"], r["fid_raw"]) for r in records if r.get("fid_raw") is not None]
    fid_ema = [(r["step"], r["fid_ema"]) for r in records if r.get("fid_ema") is not None]
    panels = 2 if (fid_raw or fid_ema) else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 3.6), squeeze=False)
    ax = axes[0, 0]
    if loss:
        ax.plot(*zip(*loss), label="train DSM loss", lw=1)
    if val:
        ax.plot(*zip(*val), "o-", label="validation DSM loss (EMA)", ms=3)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (λ(σ)=σ² weighted)")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    if panels == 2:
        ax = axes[0, 1]
        if fid_raw:
            ax.plot(*zip(*fid_raw), "o-", label="raw weights", ms=3)
        if fid_ema:
            ax.plot(*zip(*fid_ema), "s-", label="EMA weights", ms=3)
        ax.set_xlabel("step")
        ax.set_ylabel("FID (own-classifier features)")
        ax.set_yscale("log")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write_with(path, lambda tmp: fig.savefig(tmp, dpi=120))
    plt.close(fig)


def save_sampler_grid(path: str | os.PathLike, cells: Mapping[tuple[float, int], Optional[Tensor]],
                      fids: Mapping[tuple[float, int], Optional[float]], eps_values: Sequence[float],
                      steps_values: Sequence[int], nrow: int = 6, suptitle: str = "") -> None:
    """One figure of sample grids: rows = steps per level T, columns = ε; each panel titled with its FID
    (or "diverged" when the sampler blew up)."""
    plt = _plt()
    rows, cols = len(steps_values), len(eps_values)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.35 * rows), squeeze=False)
    for i, t in enumerate(steps_values):
        for j, e in enumerate(eps_values):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            imgs = cells.get((e, t))
            if imgs is None:
                ax.text(0.5, 0.5, "diverged", ha="center", va="center", transform=ax.transAxes)
            else:
                ax.imshow(image_grid(imgs[: nrow * nrow], nrow), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            fid = fids.get((e, t))
            ax.set_title(f"ε={e:g}, T={t}\nFID {fid:.1f}" if fid is not None else f"ε={e:g}, T={t}", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"T = {t}", fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    atomic_write_with(path, lambda tmp: fig.savefig(tmp, dpi=110))
    plt.close(fig)


def save_inpainting_grid(path: str | os.PathLike, rows: Sequence[Tensor], row_names: Sequence[str], ncols: int = 16,
                         title: str = "", inches: float = 6.0) -> None:
    """Inpainting figure: for every block of ``ncols`` images, one grid row per tensor of ``rows`` (e.g.
    originals, the visible part, completions; each ``(N, C, H, W)``, C = 1 or 3, same N), top to bottom in
    the order of ``row_names``, which the title lists."""
    import torch

    if not rows:
        raise ValueError("save_inpainting_grid needs at least one row of images")
    rgb = [r.float().cpu().expand(-1, 3, -1, -1) if r.shape[1] == 1 else r.float().cpu() for r in rows]
    n = min(len(r) for r in rgb)
    ncols = max(1, min(int(ncols), n))
    tiles = []
    for start in range(0, n, ncols):
        for r in rgb:
            block = r[start:start + ncols]
            if len(block) < ncols:  # pad a short last block with mid-grey
                block = torch.cat([block, torch.full((ncols - len(block), *block.shape[1:]), 0.5)])
            tiles.append(block)
    images = torch.cat(tiles)
    head = " / ".join(row_names)
    save_grid(path, images, nrow=ncols, title=f"{title}\nrows: {head}" if title else f"rows: {head}", inches=inches)
