"""Ramachandran allowed region and helix handedness of backbones (angles in degrees).

(phi, psi) come from :func:`proteindsm.protein.analysis.metrics.internal_geometry` of ``(L, 4, 3)``
backbones in Å (N, CA, C, O).

Definitions (calibrated on the corpus ``backbones_pdb_nr40.npz``)
----------------------------------------------------------------
Ramachandran allowed region
    a 10° x 10° grid over (phi, psi) (:class:`RamachandranMap`, asset
    ``assets/ramachandran_allowed.json``) built by :func:`build_ramachandran_map` from all
    1,470,923 (phi, psi) pairs of the train split: 2-D histogram, Gaussian smoothing (σ = 0.5 bin,
    periodic), then the densest bins that together hold 98 % of the smoothed mass (enclosed holes
    filled).  The allowed cells cover 28 % of the torus, 98.3 % of train and 98.2 % of val residues
    (every val chain ≥ 0.907, median 0.985).  All residue types are pooled (glycine and the αL
    region included) since generated backbones have no sequence.
Helix handedness
    among residues that DSSP (pydssp) calls helix (H/G/I): right-handed if phi < 0 and
    -120° < psi < 60°, left-handed if phi > 0 and -60° < psi < 120° (the mirror box).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import numpy as np

from proteindsm.errors import InputError
from proteindsm.protein.analysis.metrics import internal_geometry

__all__ = ["RAMACHANDRAN_ASSET", "RamachandranMap", "build_ramachandran_map", "default_ramachandran_map",
           "helix_handedness_counts", "ramachandran_allowed_fraction"]

RAMACHANDRAN_ASSET = Path(__file__).resolve().parents[1] / "assets" / "ramachandran_allowed.json"

# helix-handedness boxes, degrees: (phi_lo, phi_hi, psi_lo, psi_hi)
_RIGHT_HELIX_BOX = (-180.0, 0.0, -120.0, 60.0)
_LEFT_HELIX_BOX = (0.0, 180.0, -60.0, 120.0)


@dataclass(frozen=True)
class RamachandranMap:
    """Allowed (phi, psi) cells on a regular grid; ``allowed[i, j]`` is phi bin i, psi bin j.

    Bins start at -180° and are ``360 / n_bins`` wide.  ``coverage`` is the fraction of the
    building set's residues inside; ``source`` says what it was built from.
    """

    allowed: np.ndarray
    coverage: float
    source: str = ""

    @property
    def n_bins(self) -> int:
        return int(self.allowed.shape[0])

    def contains(self, phi_deg: np.ndarray, psi_deg: np.ndarray) -> np.ndarray:
        """bool array like ``phi_deg``: (phi, psi) in an allowed cell; NaN angles give False."""
        phi, psi = np.asarray(phi_deg, float), np.asarray(psi_deg, float)
        ok = ~(np.isnan(phi) | np.isnan(psi))
        i = _bin_index(np.where(ok, phi, 0.0), self.n_bins)
        j = _bin_index(np.where(ok, psi, 0.0), self.n_bins)
        return ok & self.allowed[i, j]

    def to_json(self) -> dict:
        rows = ["".join("#" if a else "." for a in self.allowed[:, j])
                for j in range(self.n_bins - 1, -1, -1)]
        return {"description": "allowed Ramachandran cells; rows are psi bins from +180 (top) to "
                               "-180, columns phi bins from -180 (left) to +180; '#' allowed",
                "n_bins": self.n_bins, "coverage": self.coverage, "source": self.source,
                "grid": rows}

    @classmethod
    def from_json(cls, obj: dict) -> "RamachandranMap":
        rows = obj["grid"]
        n = int(obj["n_bins"])
        allowed = np.array([[c == "#" for c in row] for row in rows], dtype=bool)  # (psi desc, phi)
        if allowed.shape != (n, n):
            raise InputError(f"Ramachandran map: grid is {allowed.shape}, expected ({n}, {n})")
        return cls(allowed=allowed[::-1].T.copy(), coverage=float(obj["coverage"]),
                   source=str(obj.get("source", "")))


def _bin_index(angle_deg: np.ndarray, n_bins: int) -> np.ndarray:
    idx = np.floor((np.asarray(angle_deg) + 180.0) / (360.0 / n_bins)).astype(np.int64)
    return np.clip(idx, 0, n_bins - 1)


def build_ramachandran_map(backbones: Iterable, coverage: float = 0.98, n_bins: int = 36,
                           smooth_sigma_bins: float = 0.5, source: str = "") -> RamachandranMap:
    """Highest-density region of the (phi, psi) histogram of ``backbones`` holding ``coverage``.

    The histogram is smoothed with a periodic Gaussian of ``smooth_sigma_bins`` bins first, and
    disallowed cells enclosed by allowed ones are filled; the returned map's ``coverage`` is
    measured on the raw residues.
    """
    from scipy.ndimage import binary_fill_holes, gaussian_filter

    phis, psis = [], []
    for X in backbones:
        g = internal_geometry(X)
        phis.append(g["phi"])
        psis.append(g["psi"])
    phi, psi = np.concatenate(phis), np.concatenate(psis)
    ok = ~(np.isnan(phi) | np.isnan(psi))
    phi, psi = phi[ok], psi[ok]
    H = np.zeros((n_bins, n_bins))
    np.add.at(H, (_bin_index(phi, n_bins), _bin_index(psi, n_bins)), 1.0)
    if smooth_sigma_bins > 0:
        H = gaussian_filter(H, smooth_sigma_bins, mode="wrap")
    order = np.sort(H.ravel())[::-1]
    cum = np.cumsum(order) / order.sum()
    threshold = order[min(np.searchsorted(cum, coverage), len(order) - 1)]
    rmap = RamachandranMap(allowed=binary_fill_holes(H >= threshold), coverage=0.0, source=source)
    return RamachandranMap(allowed=rmap.allowed, coverage=float(rmap.contains(phi, psi).mean()),
                           source=source)


@lru_cache(maxsize=1)
def default_ramachandran_map() -> RamachandranMap:
    """The packaged map (train split of the corpus, 98 % highest-density region, 10° bins)."""
    try:
        obj = json.loads(RAMACHANDRAN_ASSET.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the packaged Ramachandran map {RAMACHANDRAN_ASSET}: {exc}"
                         ) from None
    return RamachandranMap.from_json(obj)


def ramachandran_allowed_fraction(phi_deg: np.ndarray, psi_deg: np.ndarray,
                                  rama_map: RamachandranMap | None = None) -> float:
    """Fraction of residues with defined (phi, psi) that fall in allowed cells (NaN if none)."""
    rmap = rama_map or default_ramachandran_map()
    phi, psi = np.asarray(phi_deg, float), np.asarray(psi_deg, float)
    ok = ~(np.isnan(phi) | np.isnan(psi))
    if not ok.any():
        return float("nan")
    return float(rmap.contains(phi[ok], psi[ok]).mean())


def helix_handedness_counts(phi_deg: np.ndarray, psi_deg: np.ndarray, ss: str
                            ) -> tuple[int, int, int]:
    """``(n_helix, n_right, n_left)`` over residues whose 3-state label in ``ss`` is ``H``."""
    h = np.frombuffer(ss.encode("ascii"), dtype="S1") == b"H"
    phi, psi = np.asarray(phi_deg, float)[h], np.asarray(psi_deg, float)[h]

    def inside(box):
        return (phi > box[0]) & (phi < box[1]) & (psi > box[2]) & (psi < box[3])

    return int(h.sum()), int(inside(_RIGHT_HELIX_BOX).sum()), int(inside(_LEFT_HELIX_BOX).sum())
