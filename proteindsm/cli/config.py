"""Locating and composing the Hydra configs; turning Hydra's errors into one clear message."""

from __future__ import annotations

import importlib.resources
import os
import re
from pathlib import Path
from typing import Any, Sequence

from omegaconf import DictConfig, OmegaConf

from proteindsm.errors import InputError

LAST_COMMAND: str = ""
"""The command line of the running command (recorded in checkpoint metadata)."""


def config_root() -> Path:
    """The ``configs/`` folder: ``$PROTEINDSM_CONFIGS``, else the repository's (editable installs),
    else the copy inside an installed wheel (``proteindsm/configs``)."""
    env = os.environ.get("PROTEINDSM_CONFIGS")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2] / "configs"
    if repo.is_dir():
        return repo
    return Path(str(importlib.resources.files("proteindsm") / "configs"))


def repo_root() -> Path:
    """Folder that holds ``configs/`` (relative data paths in configs are resolved against it)."""
    return config_root().parent


def compose(folder: str, name: str, overrides: Sequence[str]) -> DictConfig:
    """Compose ``configs/<folder>/<name>.yaml`` with Hydra ``overrides``.

    Unknown option names (``dataset=nope``) and unknown keys raise :class:`InputError` listing what
    is available.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException, MissingConfigException
    from omegaconf.errors import OmegaConfBaseException

    root = config_root() / folder
    if not root.is_dir():
        raise InputError(f"config folder not found: {root} (set PROTEINDSM_CONFIGS to the configs/ folder)")
    for o in overrides:
        if "=" not in o:
            raise InputError(f"argument {o!r} is not a key=value override (e.g. length=100 out=samples)")
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(root), version_base=None):
            return hydra_compose(config_name=name, overrides=list(overrides))
    except MissingConfigException as exc:
        raise InputError(_explain_missing(root, str(exc), overrides)) from None
    except (HydraException, OmegaConfBaseException) as exc:
        msg = str(exc).splitlines()[0]
        raise InputError(f"bad override for '{folder}/{name}': {msg}") from None
    finally:
        GlobalHydra.instance().clear()


def _explain_missing(root: Path, message: str, overrides: Sequence[str]) -> str:
    for o in overrides:
        key, _, value = o.partition("=")
        group = root / key.lstrip("+~")
        if group.is_dir() and not (group / f"{value}.yaml").is_file():
            options = sorted(p.stem for p in group.glob("*.yaml"))
            return f"unknown {key} {value!r}; available: {', '.join(options)}"
    first = message.splitlines()[0]
    m = re.search(r"Could not find '([^']+)'", first)
    return f"unknown config option {m.group(1)!r}" if m else first


def to_container(cfg: Any) -> Any:
    """Plain Python containers (for JSON metadata)."""
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg


def require(cfg: DictConfig, key: str) -> Any:
    """``cfg[key]`` with a clear error when it is missing (``???``) or null."""
    value = OmegaConf.select(cfg, key, default=None, throw_on_missing=False)
    if value is None or value == "???":
        raise InputError(f"missing required setting '{key}' (pass {key}=...)")
    return value


def resolve_path(value: str | os.PathLike) -> Path:
    """A path from a config: absolute as is; relative ones against the current directory when the
    file exists there, else against the repository root (so ``../shared/...`` defaults work from the
    repo and from elsewhere)."""
    p = Path(os.path.expanduser(str(value)))
    if p.is_absolute() or p.exists():
        return p
    alt = repo_root() / p
    return alt if alt.exists() else p


def instantiate_checked(node: Any, what: str) -> Any:
    """``hydra.utils.instantiate(node)``, turning Hydra's wrapped errors into one clear
    :class:`InputError` (the component's own message when it raised InputError itself)."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        return instantiate(node)
    except InstantiationException as exc:
        cause = exc.__cause__
        while cause is not None and not isinstance(cause, InputError) and cause.__cause__ is not None:
            cause = cause.__cause__
        if isinstance(cause, InputError):
            raise InputError(str(cause)) from None
        msg = str(cause or exc).splitlines()[0]
        raise InputError(f"invalid {what} settings: {msg}") from None


def prepare_out_dir(value: Any) -> Path:
    """Create ``out`` (if needed) and check it is writable, before any work is done."""
    out = Path(os.path.expanduser(str(value)))
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise InputError(f"out folder {out} is not writable ({exc.strerror or exc})") from None
    return out
