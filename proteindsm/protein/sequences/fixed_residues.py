"""Fixed residues of a sequence design: which positions keep their amino acid (1-based residue positions).

:func:`parse_fixed` reads a ``fixed=`` setting (``5``, ``"1-10 25"``, ``[1-10, 25]`` or per backbone
``"NAME:1-10;NAME2:5"``) into positions per backbone; :func:`check_fixed` checks them against a
backbone's sequence.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping, Sequence

import numpy as np

from proteindsm.errors import InputError
from proteindsm.protein.sequences.mpnn_model import ALPHABET

__all__ = ["check_fixed", "parse_fixed"]

_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def _positions(spec, what: str) -> list[int]:
    if spec is None:
        return []
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        items: list = [int(spec)]
    elif isinstance(spec, str):
        items = [s for s in re.split(r"[\s,]+", spec.strip()) if s]
    elif isinstance(spec, Iterable):
        items = []
        for s in spec:
            items.extend(_positions(s, what) if isinstance(s, str) else [s])
    else:
        raise InputError(f"{what}: expected residue positions like '1-10 25', got {spec!r}")
    out: list[int] = []
    for s in items:
        if isinstance(s, (int, np.integer)) and not isinstance(s, bool):
            lo = hi = int(s)
        else:
            m = _RANGE.match(str(s))
            if not m:
                raise InputError(f"{what}: {s!r} is not a residue position or range (e.g. 5 or 1-10; "
                                 "positions count the residues of the backbone from 1)")
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if lo < 1 or hi < lo:
            raise InputError(f"{what}: bad residue range {s!r} (positions start at 1, ranges as lo-hi)")
        out.extend(range(lo, hi + 1))
    return sorted(set(out))


def parse_fixed(spec, names: Sequence[str]) -> dict[str, list[int]]:
    """Fixed residues per backbone from a ``fixed=`` setting (1-based positions).

    ``spec`` is None / empty (nothing fixed); positions for every backbone (``5``, ``"1-10 25"``,
    ``"1-10,25"``, ``[1-10, 25]``); or per backbone ``"NAME:1-10;NAME2:5"`` (``NAME`` as in
    ``names``, i.e. the file name).  Raises :class:`InputError` for bad syntax or an unknown name.
    """
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return {}
    if isinstance(spec, Mapping):
        groups = {str(k): v for k, v in spec.items()}
    elif isinstance(spec, str) and ":" in spec:
        groups = {}
        for part in [p for p in spec.split(";") if p.strip()]:
            name, sep, pos = part.strip().rpartition(":")
            if not sep or not name:
                raise InputError(f"fixed: {part!r} should be NAME:positions (e.g. len100_000.pdb:1-10)")
            groups[name] = pos
    else:
        pos = _positions(spec, "fixed")
        return {n: pos for n in names} if pos else {}
    unknown = [n for n in groups if n not in set(names)]
    if unknown:
        raise InputError(f"fixed: no backbone named {unknown[0]!r}; backbones: {', '.join(list(dict.fromkeys(names))[:8])}"
                         f"{', ...' if len(set(names)) > 8 else ''}")
    return {n: _positions(v, f"fixed ({n})") for n, v in groups.items()}


def check_fixed(positions: Sequence[int], seq: str, name: str) -> None:
    """:class:`InputError` when a fixed position is outside the backbone, has no standard amino acid,
    or when every residue would be fixed."""
    L = len(seq)
    outside = [p for p in positions if p > L]
    if outside:
        raise InputError(f"fixed residue {outside[0]} is not in backbone {name} ({L} residues; "
                         "positions count from 1)")
    unknown = [p for p in positions if seq[p - 1] not in ALPHABET[:20]]
    if unknown:
        raise InputError(f"fixed residue {unknown[0]} of {name} has no standard amino acid "
                         f"({seq[unknown[0] - 1]!r}) to keep")
    if positions and len(set(positions)) == L:
        raise InputError(f"fixed names every residue of {name}; nothing left to design")
