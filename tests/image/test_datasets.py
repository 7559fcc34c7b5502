"""Image data: packaged sets in [0, 1], user folders and arrays, clear errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from proteindsm.errors import InputError
from proteindsm.image.datasets import (load_array_dataset, load_digits_dataset, load_folder_dataset,
                                       load_mnist_dataset, max_pairwise_distance)


def _check(ds, shape, n, classes):
    assert ds.shape == shape
    assert len(ds.x_train) + len(ds.x_test) == n
    for x in (ds.x_train, ds.x_test):
        if len(x) == 0:
            continue
        assert x.dtype == torch.float32 and x.min() >= 0.0 and x.max() <= 1.0
    if classes:
        assert ds.num_classes == classes
        # stratified: every class in both parts
        assert len(torch.unique(ds.y_test)) == classes and len(torch.unique(ds.y_train)) == classes


def test_digits_and_mnist_ship_in_packages():
    d = load_digits_dataset()
    _check(d, (1, 8, 8), 1797, 10)
    assert float(d.x_train.max()) == 1.0
    assert 4.0 < max_pairwise_distance(d.x_train) < 6.0
    m = load_mnist_dataset(test_fraction=0.1)
    _check(m, (1, 28, 28), 5000, 10)
    assert len(m.x_test) == 500
    # the split is reproducible
    assert torch.equal(load_digits_dataset().x_test, d.x_test)


def _png(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def test_folder_unlabelled_and_labelled(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(6):
        _png(tmp_path / "flat" / f"{i}.png", rng.integers(0, 256, (12, 10), dtype=np.uint8))
    ds = load_folder_dataset(tmp_path / "flat", test_fraction=0.0)
    _check(ds, (1, 12, 10), 6, 0)
    assert not ds.labelled
    for c in ("cat", "dog"):
        for i in range(4):
            _png(tmp_path / "lab" / c / f"{i}.png", rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    ds = load_folder_dataset(tmp_path / "lab", channels=3, test_fraction=0.25)
    _check(ds, (3, 6, 6), 8, 2)
    assert ds.class_names == ["cat", "dog"]


def test_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        load_folder_dataset(tmp_path / "empty")
    _png(tmp_path / "mixed" / "a.png", np.zeros((8, 8), np.uint8))
    _png(tmp_path / "mixed" / "b.png", np.zeros((9, 8), np.uint8))
    with pytest.raises(InputError, match="differ in size"):
        load_folder_dataset(tmp_path / "mixed")
    with pytest.raises(InputError, match="not found"):
        load_folder_dataset(tmp_path / "nope")


def test_arrays(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (10, 8, 8), dtype=np.uint8)
    np.save(tmp_path / "a.npy", x)
    ds = load_array_dataset(tmp_path / "a.npy", test_fraction=0.2)
    _check(ds, (1, 8, 8), 10, 0)
    np.savez(tmp_path / "b.npz", images=np.random.rand(12, 5, 5, 3).astype(np.float32), labels=np.arange(12) % 3)
    ds = load_array_dataset(tmp_path / "b.npz", test_fraction=0.25)
    _check(ds, (3, 5, 5), 12, 3)
    np.save(tmp_path / "c.npy", np.random.rand(6, 4, 4) * 7 - 2)
    with pytest.raises(InputError, match="value_range"):
        load_array_dataset(tmp_path / "c.npy")
    assert load_array_dataset(tmp_path / "c.npy", value_range=[-2, 5]).x_train.max() <= 1.0
    np.save(tmp_path / "d.npy", np.zeros((4, 2, 2, 2, 2)))
    with pytest.raises(InputError, match="shape"):
        load_array_dataset(tmp_path / "d.npy")
    np.savez(tmp_path / "e.npz", foo=np.zeros(3))
    with pytest.raises(InputError, match="'x' or 'images'"):
        load_array_dataset(tmp_path / "e.npz")
