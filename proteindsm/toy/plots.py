"""PNG plots for the toy domain (matplotlib, Agg backend; files written atomically).

* :func:`plot_score_field` — a row per σ: the learned field σ·s_θ (quiver), the exact field σ·s and a
  heat map of the error ‖σ·(s_θ − s)‖ (columns present when the scores are given).  Plotting σ·s
  instead of s keeps arrows O(1) at every σ (σ·s ≈ −ε̂, the predicted noise).
* :func:`plot_samples` — the data next to the samples of each sampler (one panel each).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

import torch
from torch import Tensor

from proteindsm.fileio import atomic_write_bytes

ScoreFn = Callable[[Tensor, Tensor, Optional[dict]], Tensor]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def plot_extent(data: Tensor, margin: float = 0.15) -> tuple[float, float]:
    """A square window ``(lo, hi)`` holding 99.9% of ``data (n, 2)`` plus a margin."""
    q = torch.quantile(data.abs().flatten().float(), 0.999).item()
    half = q * (1 + margin)
    return -half, half


@torch.no_grad()
def plot_score_field(path: str | os.PathLike, sigmas: Sequence[float], extent: tuple[float, float], *,
                     learned: Optional[ScoreFn] = None, exact: Optional[ScoreFn] = None,
                     data: Optional[Tensor] = None, grid: int = 21, title: str = "") -> Path:
    """Write the score-field figure (see module docstring) to ``path``; returns the path."""
    plt = _pyplot()
    cols: list[str] = []
    if learned is not None:
        cols.append("learned")
    if exact is not None:
        cols.append("exact")
    if learned is not None and exact is not None:
        cols.append("error")
    if not cols:
        raise ValueError("plot_score_field needs a learned or an exact score")
    lo, hi = extent
    ax_lin = torch.linspace(lo, hi, grid)
    gy, gx = torch.meshgrid(ax_lin, ax_lin, indexing="ij")
    pts = torch.stack([gx.flatten(), gy.flatten()], 1)
    fine = torch.linspace(lo, hi, 4 * grid)
    fy, fx = torch.meshgrid(fine, fine, indexing="ij")
    fpts = torch.stack([fx.flatten(), fy.flatten()], 1)
    fig, axes = plt.subplots(len(sigmas), len(cols), figsize=(3.6 * len(cols), 3.4 * len(sigmas)),
                             squeeze=False)
    for r, s in enumerate(sigmas):
        sig = torch.full((pts.shape[0],), float(s))
        fields = {}
        if learned is not None:
            fields["learned"] = learned(pts, sig, None) * float(s)
        if exact is not None:
            fields["exact"] = exact(pts, sig, None) * float(s)
        # one arrow scale per row (longest arrow = one grid cell) so learned and exact compare directly
        longest = max(float(v.norm(dim=1).max()) for v in fields.values())
        arrow_scale = max(longest, 1e-12) / ((hi - lo) / max(grid - 1, 1))
        for c, col in enumerate(cols):
            ax = axes[r][c]
            if col == "error":
                fsig = torch.full((fpts.shape[0],), float(s))
                err = ((learned(fpts, fsig, None) - exact(fpts, fsig, None)) * float(s)).norm(dim=1)
                im = ax.imshow(err.reshape(fx.shape).numpy(), origin="lower", extent=(lo, hi, lo, hi),
                               cmap="magma", vmin=0.0)
                fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
                ax.set_title(f"‖σ(s_θ − s)‖, σ = {s:g}", fontsize=9)
            else:
                v = fields[col]
                if data is not None:
                    ax.scatter(data[:, 0], data[:, 1], s=1, c="0.8", rasterized=True)
                ax.quiver(pts[:, 0].numpy(), pts[:, 1].numpy(), v[:, 0].numpy(), v[:, 1].numpy(),
                          color="tab:blue" if col == "learned" else "tab:green", angles="xy",
                          scale_units="xy", scale=arrow_scale, width=0.004)
                ax.set_title(f"{col} σ·s, σ = {s:g}", fontsize=9)
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo, hi)
            ax.set_aspect("equal")
            ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def plot_samples(path: str | os.PathLike, data: Tensor, samples: Mapping[str, Tensor],
                 extent: tuple[float, float], *, captions: Optional[Mapping[str, str]] = None,
                 title: str = "") -> Path:
    """Write a figure with the data and each sampler's samples (one panel each) to ``path``."""
    plt = _pyplot()
    panels = [("data", data)] + list(samples.items())
    n = len(panels)
    ncol = min(n, 3)
    nrow = (n + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 3.6 * nrow), squeeze=False)
    lo, hi = extent
    for i, (name, x) in enumerate(panels):
        ax = axes[i // ncol][i % ncol]
        x = x.detach().cpu()
        if name != "data":
            ax.scatter(data[:, 0], data[:, 1], s=1, c="0.8", rasterized=True, label="data")
        ax.scatter(x[:, 0], x[:, 1], s=1, c="tab:red" if name != "data" else "k", alpha=0.5, rasterized=True)
        caption = (captions or {}).get(name, "")
        ax.set_title(name + (f"\n{caption}" if caption else ""), fontsize=9)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
    for j in range(n, nrow * ncol):
        axes[j // ncol][j % ncol].axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)
