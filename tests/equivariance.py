"""The one symmetry helper of the test suite (e3nn's ``assert_equivariant`` idea).

A function ``fn(x)`` of 3-D coordinates ``x`` ``(..., 3)`` is checked on a rigid motion
``x → x Qᵀ + t`` of its input, against the transform its output should follow (``kind``):

* ``"vector"``    — scores, forces, displacements: ``fn(x Qᵀ + t) = fn(x) Qᵀ``;
* ``"point"``     — coordinates: ``fn(x Qᵀ + t) = fn(x) Qᵀ + t``;
* ``"invariant"`` — energies, properties, distances: ``fn(x Qᵀ + t) = fn(x)``.

:func:`assert_equivariant` uses a random proper rotation (det +1, SE(3)); with ``reflect=True`` an
improper one (a rotation times the mirror z → −z, E(3)).  :func:`reflection_error` measures how far a
function is from mirror equivariance: a chiral model (an SE(3) protein network, which must prefer
right-handed helices) has to FAIL the mirror check, i.e. :func:`assert_chiral` asserts a clearly
non-zero error.  Tolerances are dtype-aware (:func:`tolerance`), relative to the output's size;
NaN where both sides are NaN (undefined values, e.g. the first φ) counts as equal.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

#: Relative tolerance of an exact symmetry at each dtype: the error allowed, as a fraction of
#: ``max(1, max |fn(x)|)`` (float32 networks reach ~1e-5 on outputs of size ~1; float64 ~1e-14).
TOLERANCE = {torch.float64: 1e-6, torch.float32: 1e-4, torch.bfloat16: 3e-2, torch.float16: 3e-2}
KINDS = ("vector", "point", "invariant")


def tolerance(dtype: torch.dtype) -> float:
    return TOLERANCE[dtype]


def random_rotation(dtype: torch.dtype = torch.float64, seed: int = 0, *, proper: bool = True) -> Tensor:
    """A random 3×3 orthogonal matrix (Haar, via QR): det +1, or det −1 with ``proper=False``."""
    gen = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    if not proper:
        q = q @ torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))
    return q.to(dtype)


def _expected(out: Tensor, q: Tensor, t: Tensor, kind: str) -> Tensor:
    if kind == "vector":
        return out @ q.T
    if kind == "point":
        return out @ q.T + t
    if kind == "invariant":
        return out
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def symmetry_error(fn: Callable[[Tensor], Tensor], x: Tensor, *, kind: str = "vector", q: Tensor,
                   t: Tensor | None = None) -> float:
    """``max |fn(x Qᵀ + t) − expected| / max(1, max |fn(x)|)`` (no gradients)."""
    t = torch.zeros(3, dtype=x.dtype, device=x.device) if t is None else t.to(x)
    q = q.to(x)
    with torch.no_grad():
        out = fn(x)
        moved = fn(x @ q.T + t)
    want = _expected(out, q.to(out), t.to(out), kind)
    if not out.numel():
        return 0.0
    diff = torch.where(moved.isnan() & want.isnan(), torch.zeros_like(want), moved - want)  # undefined in both
    scale = max(1.0, float(out.nan_to_num(0.0).abs().max()))
    return float(diff.abs().max()) / scale


def assert_equivariant(fn: Callable[[Tensor], Tensor], x: Tensor, *, kind: str = "vector",
                       translate: bool = True, reflect: bool = False, seed: int = 0,
                       rtol: float | None = None) -> float:
    """Assert ``fn`` follows a random rigid motion (rotation, and translation unless ``translate`` is
    False; an improper rotation with ``reflect``) within ``rtol`` (default :func:`tolerance` of x's
    dtype); returns the error."""
    q = random_rotation(x.dtype, seed, proper=not reflect)
    t = (torch.tensor([12.0, -7.0, 3.0], dtype=x.dtype) if translate else None)
    err = symmetry_error(fn, x, kind=kind, q=q, t=t)
    tol = tolerance(x.dtype) if rtol is None else rtol
    motion = "rotation + reflection" if reflect else "rotation"
    assert err <= tol, f"{kind} symmetry under {motion}{' + translation' if translate else ''}: " \
                       f"error {err:.3g} > {tol:.3g} ({x.dtype})"
    return err


def reflection_error(fn: Callable[[Tensor], Tensor], x: Tensor, *, kind: str = "vector", seed: int = 0) -> float:
    """Relative error of mirror equivariance (an improper rotation, no translation)."""
    return symmetry_error(fn, x, kind=kind, q=random_rotation(x.dtype, seed, proper=False))


def assert_chiral(fn: Callable[[Tensor], Tensor], x: Tensor, *, kind: str = "vector", seed: int = 0,
                  min_error: float = 1e-2) -> float:
    """The mirror check must FAIL: ``fn`` of the mirror image is not the mirror of ``fn`` (relative
    error at least ``min_error``), as for an SE(3)-but-not-E(3) (chiral) network."""
    err = reflection_error(fn, x, kind=kind, seed=seed)
    assert err >= min_error, f"{kind} output follows a reflection (error {err:.3g} < {min_error}): not chiral"
    return err
