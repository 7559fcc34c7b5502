"""The biotite layer of structure-file I/O (used by :mod:`proteindsm.protein.data.io`).

* file name → format (:data:`STRUCTURE_SUFFIXES`, :func:`structure_format`; ``.gz`` allowed);
* file → first-model biotite AtomArray, altlocs by occupancy (:func:`load_atoms`);
* residue name → (L-amino acid?, one-letter code) from the chemical component dictionary
  (:func:`residue_kind`), and a description of the non-protein content (:func:`describe_non_protein`);
* backbones ``(L, 4, 3)`` / ``(M, L, 4, 3)`` in Å → AtomArray(Stack) of N, CA, C, O atoms
  (:func:`backbone_atom_stack`).
"""

from __future__ import annotations

import gzip
import os
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

from proteindsm.errors import InputError
from proteindsm.protein.structure.backbone import ATOM_NAMES

__all__ = ["STRUCTURE_SUFFIXES", "backbone_atom_stack", "describe_non_protein", "load_atoms", "residue_kind",
           "structure_format"]

#: File name endings read by :func:`read_backbones` (each also with ``.gz``).
STRUCTURE_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif", ".bcif")
_FORMATS = {".pdb": "pdb", ".ent": "pdb", ".cif": "cif", ".mmcif": "cif", ".bcif": "bcif"}
_L_PEPTIDE = {"L-PEPTIDE LINKING", "PEPTIDE LINKING", "L-PEPTIDE NH3 AMINO TERMINUS",
              "L-PEPTIDE COOH CARBOXY TERMINUS"}
_ELEMENTS = ("N", "C", "C", "O")


def structure_format(path: str | os.PathLike) -> str | None:
    """``"pdb"``, ``"cif"`` or ``"bcif"`` from the file name (``.gz`` allowed), None if unknown."""
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return _FORMATS.get(Path(name).suffix)


def load_atoms(path: Path):
    """First model of ``path`` as a biotite AtomArray (altlocs by occupancy)."""
    from biotite.structure.io import pdb, pdbx

    fmt = structure_format(path)
    if fmt is None:
        raise InputError(f"{path}: unsupported file type; expected one of "
                         f"{', '.join(STRUCTURE_SUFFIXES)} (optionally .gz)")
    gz = path.name.lower().endswith(".gz")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")        # "elements were guessed" and the like
            if fmt == "bcif":
                with (gzip.open(path, "rb") if gz else open(path, "rb")) as fh:
                    f = pdbx.BinaryCIFFile.read(fh)
            else:
                opener = gzip.open if gz else open
                with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
                    f = pdb.PDBFile.read(fh) if fmt == "pdb" else pdbx.CIFFile.read(fh)
            if fmt == "pdb":
                if not any(line.startswith(("ATOM", "HETATM")) for line in f.lines):
                    raise InputError(f"{path}: contains no ATOM/HETATM records")
                return f.get_structure(model=1, altloc="occupancy")
            return pdbx.get_structure(f, model=1, altloc="occupancy")
    except InputError:
        raise
    except (OSError, EOFError) as e:
        raise InputError(f"{path}: cannot read file ({e})") from None
    except Exception as e:  # biotite raises many types for corrupt or truncated files
        kind = {"pdb": "PDB", "cif": "mmCIF", "bcif": "BinaryCIF"}[fmt]
        detail = f"{type(e).__name__}: {e}".strip()
        raise InputError(f"{path}: not a readable {kind} file (corrupt or truncated?): "
                         f"{detail[:300]}") from None


@lru_cache(maxsize=None)
def residue_kind(res_name: str) -> tuple[bool, str]:
    """(is an L-amino acid, one-letter code) from the chemical component dictionary."""
    from biotite.structure import info

    try:
        link = info.link_type(res_name)
    except Exception:
        link = None
    if link is None or link.upper() not in _L_PEPTIDE:
        return False, ""
    try:
        code = info.one_letter_code(res_name)
    except Exception:
        code = None
    return True, (code if code and len(code) == 1 and code.isalpha() else "X")


def describe_non_protein(atoms) -> str:
    """What an AtomArray holds besides protein, for error messages: e.g. ``"76 water, 2 other residues (SO4)"``."""
    import biotite.structure as struc

    nuc, wat = struc.filter_nucleotides(atoms), struc.filter_solvent(atoms)
    other = atoms[~nuc & ~wat]
    parts = [f"{struc.get_residue_count(atoms[m])} {what}"
             for m, what in ((nuc, "nucleotides"), (wat, "water")) if m.any()]
    if other.array_length():
        names = sorted(set(other.res_name.tolist()))
        parts.append(f"{struc.get_residue_count(other)} other residues "
                     f"({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})")
    return ", ".join(parts)


def _as_frames(path, X) -> tuple[np.ndarray, bool]:
    """``(M, L, 4, 3)`` float array and whether the input was a trajectory."""
    if isinstance(X, (list, tuple)):
        frames = [_to_numpy(x) for x in X]
        if not frames or any(f.shape != frames[0].shape for f in frames):
            raise InputError(f"{path}: trajectory frames must be a non-empty list of equal-shape "
                             f"(L, 4, 3) arrays, got shapes {[f.shape for f in frames]}")
        arr = np.stack(frames)
        shape, multi = f"{len(frames)} frames of {frames[0].shape}", True
    else:
        arr = _to_numpy(X)
        shape, multi = arr.shape, arr.ndim == 4
        arr = arr if multi else arr[None]
    if arr.ndim != 4 or arr.shape[2:] != (4, 3) or arr.shape[1] == 0:
        raise InputError(f"{path}: backbone must have shape (L, 4, 3) or (M, L, 4, 3) with "
                         f"L > 0, got {shape}")
    if not np.isfinite(arr).all():
        m, r = np.argwhere(~np.isfinite(arr).all(axis=(2, 3)))[0]
        raise InputError(f"{path}: backbone has non-finite (NaN/inf) coordinates (frame {m}, "
                         f"residue {r + 1}); refusing to write")
    return arr.astype(np.float32), multi


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def backbone_atom_stack(path, X, seq: str | None, chain_id: str, b_factors):
    """Backbone(s) ``X`` ``(L, 4, 3)`` Å (an AtomArray) or ``(M, L, 4, 3)`` / a list of frames (an
    AtomArrayStack) as N, CA, C, O atoms of residues named from ``seq`` (GLY if None), chain
    ``chain_id``, B-factors ``(L,)`` / ``(L, 4)`` (0 if None); :class:`InputError` naming ``path``
    for bad shapes, non-finite values or letters."""
    import biotite.structure as struc
    from biotite.sequence import ProteinSequence

    frames, multi = _as_frames(path, X)
    M, L = frames.shape[:2]
    if seq is None:
        res3 = ["GLY"] * L
    else:
        if len(seq) != L:
            raise InputError(f"{path}: seq has {len(seq)} letters but the backbone has "
                             f"{L} residues")
        try:
            res3 = ["UNK" if s.upper() == "X" else ProteinSequence.convert_letter_1to3(s.upper())
                    for s in seq]
        except Exception:
            raise InputError(f"{path}: seq {seq!r} contains letters that are not amino-acid "
                             "one-letter codes") from None
    if not chain_id or any(ch.isspace() for ch in chain_id):
        raise InputError(f"{path}: chain_id must be a non-empty id without spaces, "
                         f"got {chain_id!r}")
    stack = struc.AtomArrayStack(M, L * 4)
    stack.coord = frames.reshape(M, L * 4, 3)
    stack.chain_id[:] = chain_id
    stack.res_id = np.repeat(np.arange(1, L + 1), 4)
    stack.res_name = np.repeat(res3, 4)
    stack.atom_name = np.tile(ATOM_NAMES, L)
    stack.element = np.tile(_ELEMENTS, L)
    stack.hetero[:] = False
    bf = np.zeros(L * 4)
    if b_factors is not None:
        b = _to_numpy(b_factors)
        if b.shape == (L,):
            b = np.repeat(b, 4)
        elif b.shape == (L, 4):
            b = b.reshape(-1)
        else:
            raise InputError(f"{path}: b_factors must have shape ({L},) or ({L}, 4), got {b.shape}")
        if not np.isfinite(b).all():
            raise InputError(f"{path}: b_factors contain NaN/inf")
        bf = b
    stack.set_annotation("b_factor", bf)
    stack.set_annotation("occupancy", np.ones(L * 4))
    stack.set_annotation("atom_id", np.arange(1, L * 4 + 1))
    return stack if multi else stack[0]
