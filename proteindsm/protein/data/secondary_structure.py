"""Secondary-structure labels for conditioning the score network: 3 states plus "unknown".

Tokens (``int64``, one per residue)::

    0 = L (loop / coil)   1 = H (helix)   2 = E (strand)   3 = unknown (no label given)

Mapping from DSSP's 8 states (the corpus's ``dssp`` field): H, G, I → H; E, B → E; T, S, C, P and
blank → L; ``-`` (no DSSP assignment, e.g. a user corpus without it) → unknown.

User strings (``proteindsm sample ss=...``) are over H/E/L, accept the 8-state DSSP letters (mapped as
above) and ``-`` for "unspecified" (the unknown token).

Training-time label dropout (:func:`drop_labels`): a whole chain loses its labels with probability
``p_chain`` (so the model learns the unconditional score), otherwise each of up to ``max_spans``
random spans (length uniform in 1..``max_span_length``) is hidden with probability ``p_span`` each
(so it learns partial labels).  Padding positions are always unknown.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from proteindsm.errors import InputError

__all__ = ["SS_LOOP", "SS_HELIX", "SS_STRAND", "SS_UNKNOWN", "NUM_SS_TOKENS", "SS_LETTERS",
           "dssp_to_tokens", "parse_ss_string", "tokens_to_string", "drop_labels", "agreement"]

SS_LOOP, SS_HELIX, SS_STRAND, SS_UNKNOWN = 0, 1, 2, 3
NUM_SS_TOKENS = 4
#: Letter of each token (index = token).
SS_LETTERS = "LHE-"

_DSSP_TO_TOKEN = {
    "H": SS_HELIX, "G": SS_HELIX, "I": SS_HELIX,
    "E": SS_STRAND, "B": SS_STRAND,
    "T": SS_LOOP, "S": SS_LOOP, "C": SS_LOOP, "P": SS_LOOP, " ": SS_LOOP, "L": SS_LOOP,
    "-": SS_UNKNOWN,
}
_LUT = np.full(256, -1, dtype=np.int64)
for _letter, _tok in _DSSP_TO_TOKEN.items():
    _LUT[ord(_letter)] = _tok
    _LUT[ord(_letter.lower())] = _tok


def dssp_to_tokens(codes: np.ndarray | bytes | str) -> np.ndarray:
    """DSSP codes (``S1`` array, bytes or str, 8- or 3-state) → ``int64`` tokens ``(L,)``.

    Codes outside the table (should not occur in a corpus) become unknown."""
    if isinstance(codes, str):
        raw = np.frombuffer(codes.encode("ascii", errors="replace"), dtype=np.uint8)
    elif isinstance(codes, bytes):
        raw = np.frombuffer(codes, dtype=np.uint8)
    else:
        raw = np.asarray(codes).astype("S1").view(np.uint8)
    tok = _LUT[raw]
    return np.where(tok < 0, SS_UNKNOWN, tok)


def parse_ss_string(text: str, field: str = "ss") -> np.ndarray:
    """A user's secondary-structure string → tokens ``(L,)``; one clear error naming the position.

    Accepts H/E/L, the 8-state DSSP letters (G, I → H; B → E; T, S, C, P → L), ``-`` (unspecified),
    either case; whitespace is not allowed inside."""
    if not isinstance(text, str) or not text:
        raise InputError(f"{field} must be a non-empty string over H/E/L (or 'auto' / 'none'), got {text!r}")
    for pos, ch in enumerate(text):
        if ch == " " or ord(ch) > 127 or _LUT[ord(ch)] < 0:
            raise InputError(f"{field}: position {pos + 1} is {ch!r}; expected one of H, E, L (DSSP letters "
                             f"G I B T S C P accepted, '-' = unspecified)")
    return _LUT[np.frombuffer(text.encode("ascii"), dtype=np.uint8)].copy()


def tokens_to_string(tokens: np.ndarray) -> str:
    """Tokens ``(L,)`` → a string over L/H/E/- (see :data:`SS_LETTERS`)."""
    return "".join(SS_LETTERS[int(t)] for t in np.asarray(tokens))


def drop_labels(tokens: np.ndarray, rng: np.random.Generator, *, p_chain: float = 0.3, p_span: float = 0.5,
                max_spans: int = 3, max_span_length: int = 24) -> np.ndarray:
    """Training-time label dropout (see the module docstring): returns a copy of ``tokens (L,)`` with
    hidden positions set to unknown.  Deterministic in ``rng``."""
    out = np.array(tokens, dtype=np.int64, copy=True)
    length = out.shape[0]
    if rng.random() < p_chain:
        out[:] = SS_UNKNOWN
        return out
    for _ in range(max_spans):
        if rng.random() < p_span and length > 0:
            span = int(rng.integers(1, max_span_length + 1))
            start = int(rng.integers(0, max(length - span, 0) + 1))
            out[start: start + span] = SS_UNKNOWN
    return out


def agreement(requested: np.ndarray, obtained: np.ndarray) -> Optional[float]:
    """Fraction of the labelled positions of ``requested`` (tokens ≠ unknown) whose token equals
    ``obtained``'s; None when nothing is labelled.  Both ``(L,)``."""
    requested, obtained = np.asarray(requested), np.asarray(obtained)
    if requested.shape != obtained.shape:
        raise InputError(f"secondary-structure strings differ in length: {requested.shape[0]} vs {obtained.shape[0]}")
    known = requested != SS_UNKNOWN
    if not known.any():
        return None
    return float((requested[known] == obtained[known]).mean())
