"""The shared symmetry helper (tests/equivariance.py) on functions with known symmetry: an E(3)
function passes rotations and reflections, a chiral (pseudo-vector) one passes rotations and fails
the mirror check, a non-equivariant one fails the rotation check."""

from __future__ import annotations

import pytest
import torch

from tests.equivariance import (assert_chiral, assert_equivariant, random_rotation, reflection_error,
                                tolerance)


def _points(dtype):
    return torch.randn(2, 10, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64).to(dtype)


def centred(x):                      # E(3): a displacement from the centroid
    return x - x.mean(-2, keepdim=True)


def chiral(x):                       # SE(3) only: cross products of bond vectors (pseudo-vectors)
    d = x[..., 1:, :] - x[..., :-1, :]
    return torch.linalg.cross(d[..., :-1, :], d[..., 1:, :])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_helper_on_known_symmetries(dtype):
    x = _points(dtype)
    assert assert_equivariant(centred, x) < tolerance(dtype)
    assert_equivariant(centred, x, reflect=True)
    assert_equivariant(lambda y: centred(y).norm(dim=-1), x, kind="invariant", reflect=True)
    assert_equivariant(lambda y: y.mean(-2), x, kind="point")
    assert_equivariant(chiral, x)
    assert assert_chiral(chiral, x) > 1.0                       # a pseudo-vector flips: error ~2
    assert reflection_error(centred, x) < tolerance(dtype)
    with pytest.raises(AssertionError, match="not chiral"):
        assert_chiral(centred, x)
    with pytest.raises(AssertionError, match="reflection"):
        assert_equivariant(chiral, x, reflect=True)
    with pytest.raises(AssertionError, match="vector symmetry"):
        assert_equivariant(lambda y: y * torch.tensor([1.0, 2.0, 3.0], dtype=dtype), x)


def test_random_rotation_is_orthogonal_with_the_asked_determinant():
    for proper, det in ((True, 1.0), (False, -1.0)):
        q = random_rotation(torch.float64, seed=4, proper=proper)
        torch.testing.assert_close(q @ q.T, torch.eye(3, dtype=torch.float64))
        assert float(torch.det(q)) == pytest.approx(det)
