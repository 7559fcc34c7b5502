#!/usr/bin/env python
"""When do the overlaps of sampled backbones form?  For each backbone atom pair of a final backbone
closer than 2.5 Å (residues ≥ 3 apart, the evaluation's clash rule), follow the pair back through
the saved denoising path and report the σ level from which it stays closer than 2.5 Å.

Usage:
    proteindsm sample length=100 num=8 seed=0 steric.scale=0 compactness.scale=0 save_trajectory=true out=DIR
    python scripts/clash_onset.py DIR [--json out.json]

The path files (``len<L>_<i>_trajectory.pdb``) hold the initial state, the state after each of the
manifest's σ levels and the final estimate; σ of each level comes from the manifest's ``sigma_grid``
(geometric when ``rho`` is null, as in every shipped preset).  The states are noisy (σ per
coordinate), so a pair counts as settled from the first level after which it never again exceeds
2.5 Å.  Note that the final files are the ideal-geometry fit of the last state (``ideal_output``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proteindsm.protein.data.io import read_backbones  # noqa: E402

ATOMS = ("N", "CA", "C", "O")
CLASH_A = 2.5
MIN_SEPARATION = 3


def clashing_pairs(X: np.ndarray) -> list[tuple[int, int, int, int, float]]:
    """``(i, a, j, b, d)`` for atoms a of residue i and b of residue j ≥ i + 3 closer than 2.5 Å; X (L, 4, 3) Å."""
    d = np.linalg.norm(X[:, None, :, None, :] - X[None, :, None, :, :], axis=-1)   # (L, L, 4, 4)
    out = []
    for i, j, a, b in zip(*np.nonzero(d < CLASH_A)):
        if j - i >= MIN_SEPARATION:
            out.append((int(i), int(a), int(j), int(b), float(d[i, j, a, b])))
    return out


def path_states(path_file: Path) -> np.ndarray:
    """All models of a multi-model path file as ``(M, L, 4, 3)`` Å (biotite; the noisy states have
    broken peptide bonds, so the library's segment reader, which splits chains there, is not used)."""
    import biotite.structure.io as strucio

    stack = strucio.load_structure(str(path_file))
    stack = stack[:, np.isin(stack.atom_name, ATOMS)]
    return stack.coord.reshape(stack.stack_depth(), -1, 4, 3)


def level_sigmas(manifest: dict) -> np.ndarray:
    grid = manifest["sigma_grid"]
    if grid.get("rho") is not None:
        raise SystemExit("clash_onset.py: only geometric σ grids (rho null) are supported")
    return np.geomspace(float(grid["sigma_max"]), float(grid["sigma_min"]), int(grid["levels"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("samples", type=Path)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    manifest = json.loads((args.samples / "manifest.json").read_text())
    sigmas = level_sigmas(manifest)
    rows = []
    for f in sorted(args.samples.glob("len*_[0-9][0-9][0-9].pdb")):
        path_file = f.with_name(f.stem + "_trajectory.pdb")
        if not path_file.exists():
            raise SystemExit(f"{path_file}: missing (sample with save_trajectory=true)")
        final = np.asarray(read_backbones(f)[0].coords)
        states = path_states(path_file)                                             # (1 + levels + 1, L, 4, 3)
        if states.shape[0] != len(sigmas) + 2:
            raise SystemExit(f"{path_file}: {states.shape[0]} models, expected {len(sigmas) + 2}")
        for i, a, j, b, d in clashing_pairs(final):
            path = np.linalg.norm(states[:, i, a] - states[:, j, b], axis=-1)[1:-1]      # per level
            k = len(path)
            while k > 0 and path[k - 1] < CLASH_A:
                k -= 1
            rows.append({"file": f.name, "i": i, "atom_i": ATOMS[a], "j": j, "atom_j": ATOMS[b],
                         "final_A": round(d, 2), "settled_from_sigma_A": float(sigmas[min(k, len(sigmas) - 1)]),
                         "ca_ca_final_A": round(float(np.linalg.norm(final[i, 1] - final[j, 1])), 2)})
    print(f"{len(rows)} overlapping atom pairs in {len({r['file'] for r in rows})} of "
          f"{len(list(args.samples.glob('len*_[0-9][0-9][0-9].pdb')))} backbones")
    for r in rows:
        print(f"  {r['file']} {r['atom_i']}{r['i']}···{r['atom_j']}{r['j']} {r['final_A']:.2f} Å "
              f"(CA···CA {r['ca_ca_final_A']:.1f} Å), settled from σ = {r['settled_from_sigma_A']:.2f} Å")
    if rows:
        s = [r["settled_from_sigma_A"] for r in rows]
        print(f"settled from σ: median {statistics.median(s):.2f} Å, range {min(s):.2f}–{max(s):.2f} Å")
    if args.json:
        args.json.write_text(json.dumps({"samples": str(args.samples), "pairs": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
