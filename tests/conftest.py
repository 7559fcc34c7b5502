"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only ``../shared`` folder (data and notes).  Fails loudly if missing."""
    path = REPO_ROOT.parent / "shared"
    if not (path / "data").is_dir():
        raise FileNotFoundError(f"tests need the shared data folder at {path} (see README)")
    return path


@pytest.fixture(scope="session")
def pdb_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "pdb"


@pytest.fixture(scope="session")
def corpus_path(shared_dir: Path) -> Path:
    return shared_dir / "data" / "backbones_pdb_nr40.npz"


# Small CPU tensors: one thread avoids oversubscription (2 threads per process on a 2-core CI
# machine running several processes made the suite several times slower).
import torch  # noqa: E402

torch.set_num_threads(1)
