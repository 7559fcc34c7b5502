"""Where the package finds its own files: the ``configs/`` folder, the shipped checkpoints, and the
package version.  Library code and the CLI both use these (the library never imports ``cli``)."""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path
from typing import Optional

SHIPPED_SCORE_CHECKPOINT = "backbone_score_frame.safetensors"
"""File name of the default score checkpoint in ``proteindsm/checkpoints/``."""


def version() -> str:
    """The installed package version (``pyproject.toml``'s when run from a checkout)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _version

    try:
        return _version("proteindsm")
    except PackageNotFoundError:  # pragma: no cover - not installed (plain checkout on sys.path)
        return "0+unknown"


def config_root() -> Path:
    """The ``configs/`` folder: ``$PROTEINDSM_CONFIGS``, else the repository's (editable installs),
    else the copy inside an installed wheel (``proteindsm/configs``)."""
    env = os.environ.get("PROTEINDSM_CONFIGS")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[1] / "configs"
    if repo.is_dir():
        return repo
    return Path(str(importlib.resources.files("proteindsm") / "configs"))


def repo_root() -> Path:
    """Folder that holds ``configs/`` (relative data paths in configs are resolved against it)."""
    return config_root().parent


def resolve_path(value: str | os.PathLike) -> Path:
    """A user path: absolute as is; relative ones against the current directory when the file
    exists there, else against the repository root (so ``../shared/...`` defaults work from the
    repo and from elsewhere)."""
    p = Path(os.path.expanduser(str(value)))
    if p.is_absolute() or p.exists():
        return p
    alt = repo_root() / p
    return alt if alt.exists() else p


def shipped_checkpoint(name: str) -> Path:
    """Path of a checkpoint shipped inside the package (``proteindsm/checkpoints/``)."""
    return Path(str(importlib.resources.files("proteindsm") / "checkpoints" / name))


def checkpoint_path(value: Optional[str | os.PathLike], default_name: str = SHIPPED_SCORE_CHECKPOINT) -> Path:
    """A checkpoint argument as a path: None / ``""`` / ``"null"`` → the shipped default."""
    return shipped_checkpoint(default_name) if value in (None, "", "null") else resolve_path(value)
