"""Protein structure files in and out (PDB, mmCIF, BinaryCIF, gzipped) through biotite.

Reading (:func:`read_backbones`) turns a file into continuous backbone segments:

* first model only; altlocs resolved per residue by highest occupancy;
* residues kept: L-amino acids of the PDB chemical component dictionary, including modified ones
  written as HETATM inside a chain (MSE -> ``M``, SEP -> ``S``; no parent -> ``X``).  D-amino acids
  (mirror-image backbones), water, ligands and nucleic acids are ignored, and so are segments made
  only of HETATM residues (free amino acids bound as ligands);
* a residue missing any of N, CA, C, O is dropped;
* each chain is split into continuous segments at every dropped residue and wherever the peptide
  bond C(i)-N(i+1) is longer than ``max_peptide_bond`` (2.0 Å);
* segments shorter than ``min_length`` or longer than ``max_length`` are skipped (not cropped).

Segment ids are ``<entry>_<chain>`` with ``_<k>`` (1-based, in chain order, counted before length
filtering) appended when a chain splits into several segments.  ``<entry>`` is the upper-case PDB
code when the file name is one (``1ubi.pdb``, ``pdb1ubi.ent.gz``), otherwise the file stem.

Writing (:func:`write_pdb`, :func:`write_cif`, :func:`write_structure`) takes backbones
``(L, 4, 3)`` in Å (numpy or torch), or ``M`` frames ``(M, L, 4, 3)`` / a list of ``(L, 4, 3)``
for a multi-model trajectory, and writes N, CA, C, O atoms (GLY unless ``seq`` is given),
atomically.

The biotite layer underneath (file formats, AtomArrays, residue kinds from the chemical component
dictionary) is :mod:`proteindsm.protein.data.atom_arrays`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from proteindsm.errors import InputError
from proteindsm.fileio import atomic_write_with
from proteindsm.protein.data.atom_arrays import backbone_atom_stack, describe_non_protein, load_atoms, residue_kind
from proteindsm.protein.structure.backbone import ATOM_NAMES, C, N

__all__ = ["Chain", "entry_name", "read_backbones", "read_segments", "write_cif", "write_pdb", "write_structure"]


@dataclass(frozen=True)
class Chain:
    """One continuous backbone segment read from a structure file.

    Attributes:
        id: ``<entry>_<chain>[_<k>]``, e.g. ``"1UBI_A"``.
        coords: float32 ``(L, 4, 3)`` in Å, atoms N, CA, C, O, original file frame (not centred).
        seq: one-letter codes, length ``L`` (``X`` for residues without a standard parent).
        source: path of the file it was read from.
    """

    id: str
    coords: np.ndarray
    seq: str
    source: str

    def __len__(self) -> int:
        return len(self.seq)


def entry_name(path: Path) -> str:
    """The ``<entry>`` of segment ids: the upper-case PDB code when the file name is one
    (``1ubi.pdb``, ``pdb1ubi.ent.gz``), otherwise the file stem."""
    name = path.name[:-3] if path.name.lower().endswith(".gz") else path.name
    stem = Path(name).stem
    m = re.fullmatch(r"(?:pdb)?([0-9][A-Za-z0-9]{3})", stem, flags=re.IGNORECASE)
    return m.group(1).upper() if m else stem


def read_backbones(path: str | os.PathLike, *, min_length: int = 1, max_length: int | None = None,
                   chain: str | Sequence[str] | None = None,
                   max_peptide_bond: float = 2.0) -> list[Chain]:
    """Read the continuous protein backbone segments of a structure file.

    Args:
        path: ``.pdb``/``.ent``/``.cif``/``.mmcif``/``.bcif`` file, optionally gzipped (``.gz``).
        min_length: skip segments with fewer residues.
        max_length: skip (do not crop) segments with more residues; None for no limit.
        chain: keep only these chain ids (author chain ids for mmCIF); None for all.
        max_peptide_bond: C(i)-N(i+1) distance in Å above which a chain is split.

    Returns:
        Segments in file order, each with ``coords`` float32 ``(L, 4, 3)`` Å (N, CA, C, O).

    Raises:
        InputError: missing/unreadable file, no protein backbone (e.g. CA-only), a single atom,
            non-finite coordinates, no chain matching ``chain``, or no segment within the
            length limits (the message lists the lengths found).
    """
    return read_segments(Path(path), min_length, max_length, chain, max_peptide_bond)[0]


def read_segments(path: Path, min_length: int, max_length: int | None, chain, max_peptide_bond: float
          ) -> tuple[list[Chain], list[tuple[str, str]]]:
    """:func:`read_backbones` plus the (segment id, reason) of segments skipped for length."""
    import biotite.structure as struc

    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a structure file")
    atoms = load_atoms(path)
    n_atoms = atoms.array_length()
    if n_atoms == 0:
        raise InputError(f"{path}: contains no atoms")
    if n_atoms == 1:
        raise InputError(f"{path}: contains a single atom ({atoms.res_name[0]} "
                         f"{atoms.atom_name[0]}); a protein backbone with atoms N, CA, C, O "
                         "for every residue is required")

    # Residues that are L-amino acids.
    starts = struc.get_residue_starts(atoms)
    res_of_atom = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, n_atoms)))
    kinds = [residue_kind(str(r)) for r in atoms.res_name[starts]]
    is_aa = np.array([k[0] for k in kinds], dtype=bool)
    if not is_aa.any():
        raise InputError(f"{path}: no protein chain found (contains {describe_non_protein(atoms)})"
                         "; a protein backbone with atoms N, CA, C, O is required")
    chain_ids = atoms.chain_id[starts].astype(str)
    if chain is not None:
        wanted = {chain} if isinstance(chain, str) else set(chain)
        if not np.isin(chain_ids[is_aa], list(wanted)).any():
            raise InputError(f"{path}: no protein chain {sorted(wanted)}; protein chains are "
                             f"{sorted(set(chain_ids[is_aa].tolist()))}")
        is_aa &= np.isin(chain_ids, list(wanted))

    # Backbone coordinates per residue (first atom of each name wins).
    X = np.zeros((len(starts), 4, 3), dtype=np.float64)
    have = np.zeros((len(starts), 4), dtype=bool)
    for k, name in enumerate(ATOM_NAMES):
        sel = np.flatnonzero(atoms.atom_name == name)[::-1]
        X[res_of_atom[sel], k] = atoms.coord[sel]
        have[res_of_atom[sel], k] = True
    keep = is_aa & have.all(axis=1)
    if not keep.any():
        aa_atoms = set(atoms.atom_name[is_aa[res_of_atom]])
        found = [a for a in ATOM_NAMES if a in aa_atoms]
        n_res = int(is_aa.sum())
        if found == ["CA"]:
            what = f"only CA atoms ({n_res} residues)"
        else:
            what = (f"no residue with a full backbone among {n_res} amino-acid residues "
                    f"(backbone atoms present: {', '.join(found) or 'none'})")
        raise InputError(f"{path}: {what}; backbone atoms N, CA, C, O are required "
                         "for every residue")
    bad = keep & ~np.isfinite(X).all(axis=(1, 2))
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise InputError(f"{path}: non-finite (NaN/inf) coordinates at chain "
                         f"{chain_ids[r]} residue {atoms.res_id[starts[r]]}")

    # Split each chain into continuous segments.
    entry = entry_name(path)
    hetero = atoms.hetero[starts]
    out: list[Chain] = []
    skipped: list[tuple[str, str]] = []
    lengths_found: list[int] = []
    for cid in dict.fromkeys(chain_ids[keep]):             # chains in file order
        idx = np.flatnonzero(keep & (chain_ids == cid))
        cn = np.linalg.norm(X[idx[:-1], C] - X[idx[1:], N], axis=-1)
        cut = np.flatnonzero((np.diff(idx) > 1) | (cn > max_peptide_bond)) + 1
        segments = [s for s in np.split(idx, cut) if not hetero[s].all()]
        label = cid or "-"
        for k, seg in enumerate(segments, start=1):
            sid = f"{entry}_{label}" + (f"_{k}" if len(segments) > 1 else "")
            lengths_found.append(len(seg))
            if len(seg) < min_length:
                skipped.append((sid, f"{len(seg)} residues < min_length {min_length}"))
            elif max_length is not None and len(seg) > max_length:
                skipped.append((sid, f"{len(seg)} residues > max_length {max_length}"))
            else:
                seq = "".join(kinds[r][1] for r in seg)
                out.append(Chain(sid, X[seg].astype(np.float32), seq, str(path)))
    if not out:
        limits = f"{min_length}-{max_length}" if max_length is not None else f">= {min_length}"
        raise InputError(f"{path}: no protein segment with {limits} residues (continuous "
                         f"segment lengths found: {', '.join(map(str, lengths_found)) or 'none'})")
    return out, skipped


def write_pdb(path: str | os.PathLike, X, *, seq: str | None = None, chain_id: str = "A",
              b_factors=None, remarks: Sequence[str] | None = None) -> Path:
    """Write backbone atoms to a PDB file atomically, with ``TER`` after each chain and ``END``.

    Args:
        path: output file.
        X: ``(L, 4, 3)`` Å for one structure, or ``(M, L, 4, 3)`` / a list of ``M`` ``(L, 4, 3)``
            frames for a multi-model trajectory (``MODEL`` records).  numpy or torch.
        seq: one-letter sequence of length ``L`` (default: all GLY).
        chain_id: one character.
        b_factors: ``(L,)`` per residue or ``(L, 4)`` per atom (e.g. confidence, σ); default 0.
        remarks: free-text lines (e.g. ``"GENERATOR proteindsm 0.1.0"``); when given, the file
            starts with a ``HEADER`` line and one ``REMARK  99`` record per line (long lines wrapped).

    Raises:
        InputError: bad shape, NaN/inf coordinates, or values that do not fit the PDB format.
    """
    from biotite.structure.io import pdb

    if len(chain_id) != 1:
        raise InputError(f"{path}: PDB chain ids are one character, got {chain_id!r}; "
                         "use write_cif")
    array = backbone_atom_stack(path, X, seq, chain_id, b_factors)
    b = array.b_factor
    if np.abs(array.coord).max() >= 1000 or b.max() >= 999.995 or b.min() <= -99.995:
        raise InputError(f"{path}: coordinates or b_factors of magnitude >= 1000 do not fit "
                         "the PDB format's fixed columns; write mmCIF (.cif) instead")
    f = pdb.PDBFile()
    try:
        f.set_structure(array)
    except Exception as e:  # e.g. more residues/atoms than the PDB columns hold
        raise InputError(f"{path}: cannot be written as PDB ({e}); write mmCIF (.cif)") from None
    f.lines = _pdb_records(f.lines, remarks)
    return atomic_write_with(path, f.write)


def _pdb_records(lines: list[str], remarks: Sequence[str] | None) -> list[str]:
    """``lines`` of biotite's PDB output with ``HEADER``/``REMARK  99`` lines first (when
    ``remarks`` is given), a ``TER`` record after the last atom of each model and ``END``."""
    out = []
    if remarks is not None:
        out.append(f"{'HEADER    DE NOVO PROTEIN BACKBONE':<80}".rstrip())
        for text in remarks:
            text = " ".join(str(text).split())
            while text:
                out.append(f"REMARK  99 {text[:69]}")
                text = text[69:]
    last_atom = None
    for line in lines:
        if line.startswith("ENDMDL") and last_atom is not None:
            out.append(_ter(last_atom))
            last_atom = None
        out.append(line)
        if line.startswith(("ATOM", "HETATM")):
            last_atom = line
    if last_atom is not None:
        out.append(_ter(last_atom))
    out.append("END")
    return out


def _ter(atom_line: str) -> str:
    serial = int(atom_line[6:11]) + 1
    return f"TER   {serial:5d}      {atom_line[17:20]} {atom_line[21]}{atom_line[22:26]}"


def write_cif(path: str | os.PathLike, X, *, seq: str | None = None, chain_id: str = "A",
              b_factors=None, remarks: Sequence[str] | None = None) -> Path:
    """Write backbone atoms to an mmCIF file atomically; arguments as :func:`write_pdb`
    (``remarks`` become ``#`` comment lines before the data block)."""
    from biotite.structure.io import pdbx

    array = backbone_atom_stack(path, X, seq, chain_id, b_factors)
    f = pdbx.CIFFile()
    pdbx.set_structure(f, array, data_block=entry_name(Path(path)).replace(" ", "_") or "model")
    if not remarks:
        return atomic_write_with(path, f.write)

    def write(tmp: str) -> None:
        f.write(tmp)
        body = Path(tmp).read_text()
        Path(tmp).write_text("".join(f"# {' '.join(str(r).split())}\n" for r in remarks) + body)
    return atomic_write_with(path, write)


def write_structure(path: str | os.PathLike, X, **kwargs) -> Path:
    """Write ``X`` as PDB (``.pdb``) or mmCIF (``.cif``/``.mmcif``) chosen by the suffix."""
    suffix = Path(path).suffix.lower()
    if suffix == ".pdb":
        return write_pdb(path, X, **kwargs)
    if suffix in (".cif", ".mmcif"):
        return write_cif(path, X, **kwargs)
    raise InputError(f"{path}: cannot choose a structure format from suffix {suffix!r}; "
                     "use .pdb or .cif")
