"""PNG plots of an evaluation result (matplotlib Agg, no display; every file written atomically).

:func:`write_evaluation_plots` draws, generated vs reference: Ramachandran densities (deg), Rg of CA
(Å) vs length, secondary-structure fractions, bond lengths (Å), bond angles (deg) and CA pair
distances (Å), from the ``histograms`` and ``per_sample`` entries of
:func:`proteindsm.protein.analysis.evaluate.evaluate_backbones`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from proteindsm.fileio import atomic_write_with

__all__ = ["write_evaluation_plots"]


def _new_figure(ncols: int, width: float = 4.2, height: float = 3.6):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def _save(fig, path: Path) -> Path:
    return atomic_write_with(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))


_COLORS = {"generated": "tab:red", "reference": "tab:blue"}


def write_evaluation_plots(result: dict, out: Path) -> list[Path]:
    """PNG plots of an evaluation ``result`` into folder ``out`` (created); returns the paths written.

    See :func:`proteindsm.protein.analysis.evaluate.write_evaluation` for the file names."""
    out.mkdir(parents=True, exist_ok=True)
    H, S = result["histograms"], result["per_sample"]
    written = []

    # Ramachandran
    fig, axes = _new_figure(2)
    edges = np.asarray(H["ramachandran"]["edges_deg"])
    centres = 0.5 * (edges[1:] + edges[:-1])
    for ax, which in zip(axes, ("generated", "reference")):
        counts = np.asarray(H["ramachandran"][which], float)
        dens = counts / max(counts.sum(), 1.0)
        ax.imshow(np.log10(dens.T + 1e-5), origin="lower", extent=[-180, 180, -180, 180],
                  cmap="viridis", aspect="equal")
        if H["ramachandran"].get("allowed") is not None:
            ax.contour(centres, centres, np.asarray(H["ramachandran"]["allowed"], float).T,
                       levels=[0.5], colors="white", linewidths=0.8)
        frac = result[which]["ramachandran_allowed_fraction"]
        ax.set_title(f"{which}: {frac:.3f} allowed" if frac is not None else which)
        ax.set_xlabel("phi (deg)")
        ax.set_ylabel("psi (deg)")
    written.append(_save(fig, out / "ramachandran.png"))

    # Rg vs length
    fig, (ax,) = _new_figure(1, width=5.0)
    for which in ("generated", "reference"):
        L, rg = np.asarray(S[which]["length"]), np.asarray(S[which]["rg_A"])
        ax.scatter(L, rg, s=8, alpha=0.6, color=_COLORS[which], label=which)
        fit = result[which]["rg_power_law_fit"]
        if fit:
            x = np.linspace(L.min(), L.max(), 50)
            ax.plot(x, fit["prefactor_A"] * x ** fit["exponent"], color=_COLORS[which],
                    label=f"{fit['prefactor_A']:.2f} L^{fit['exponent']:.2f}")
    ax.set_xlabel("length L (residues)")
    ax.set_ylabel("Rg of CA (Å)")
    ax.legend(fontsize=8)
    written.append(_save(fig, out / "rg_vs_length.png"))

    # secondary-structure fractions
    fig, axes = _new_figure(3)
    bins = np.linspace(0, 1, 21)
    for ax, key in zip(axes, ("helix_fraction", "strand_fraction", "coil_fraction")):
        for which in ("generated", "reference"):
            ax.hist(S[which][key], bins=bins, density=True, histtype="step", lw=1.5,
                    color=_COLORS[which], label=which)
        ax.set_xlabel(key)
    axes[0].legend(fontsize=8)
    written.append(_save(fig, out / "sse_fractions.png"))

    # bond lengths / angles / CA pair distances
    def step_panels(group: dict, unit_key: str, ideal_key: str | None, name: str, xlabel: str):
        fig, axes = _new_figure(len(group), width=3.6)
        for ax, (key, h) in zip(axes, group.items()):
            e = np.asarray(h[unit_key])
            for which in ("generated", "reference"):
                c = np.asarray(h[which], float)
                ax.stairs(c / max(c.sum(), 1.0), e, color=_COLORS[which], label=which)
            if ideal_key:
                ax.axvline(h[ideal_key], color="k", lw=0.8, ls="--")
            ax.set_xlabel(f"{key} {xlabel}")
        axes[0].legend(fontsize=8)
        return _save(fig, out / name)

    written.append(step_panels(H["bond_lengths"], "edges_A", "ideal_A", "bond_lengths.png", "(Å)"))
    written.append(step_panels(H["bond_angles"], "edges_deg", "ideal_deg", "bond_angles.png",
                               "(deg)"))
    written.append(step_panels({"CA-CA |i-j|>=2": H["ca_pair_distances"],
                                "CA(i)-CA(i+1)": H["ca_ca_consecutive"]}, "edges_A", None,
                               "ca_pair_distances.png", "(Å)"))
    return written

