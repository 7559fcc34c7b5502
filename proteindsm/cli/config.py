"""Locating and composing the Hydra configs; turning Hydra's errors into one clear message."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Sequence

from omegaconf import DictConfig, OmegaConf

from proteindsm.errors import InputError
from proteindsm.resources import config_root, repo_root, resolve_path  # noqa: F401  (re-exported)

LAST_COMMAND: str = ""
"""The command line of the running command (recorded in checkpoint metadata and manifests)."""
LAST_OVERRIDES: list = []
"""The ``key=value`` overrides of the running command."""


def group_choice(folder: str, name: str, group: str) -> str:
    """The option of config group ``group`` (e.g. ``sampler``) the running command composed: the
    last ``group=NAME`` override, else the default in ``<folder>/<name>.yaml``'s defaults list."""
    for o in reversed(LAST_OVERRIDES):
        key, _, value = str(o).partition("=")
        if key.lstrip("+~") == group:
            return value
    return default_choice(folder, name, group) or "?"


def default_choice(folder: str, name: str, group: str):
    """The default option of ``group`` in ``configs/<folder>/<name>.yaml`` (None: not in its defaults)."""
    path = config_root() / folder / f"{name}.yaml"
    try:
        defaults = OmegaConf.load(path).get("defaults", [])
    except (OSError, ValueError):
        return None
    for item in defaults or []:
        if OmegaConf.is_config(item) and group in item:
            return str(item[group])
    return None


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
        hint = _closest_key(root, name, msg, overrides)
        raise InputError(hint or f"bad override for '{folder}/{name}': {msg}") from None
    finally:
        GlobalHydra.instance().clear()


def _closest_key(root: Path, name: str, message: str, overrides: Sequence[str]) -> str | None:
    """For an override of a key the config lacks: a message naming the closest valid key."""
    import difflib

    m = re.search(r"(?:Could not override|Could not append to config\. An item is already at|Key) '([^']+)'",
                  message)
    if m is None or "not in struct" not in message and "Could not override" not in message:
        return None
    bad = m.group(1)
    for o in overrides:                       # the full dotted key as the user wrote it
        key = o.partition("=")[0].lstrip("+~")
        if key == bad or key.endswith("." + bad):
            bad = key
            break
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(root), version_base=None):
            base = hydra_compose(config_name=name, overrides=[])
    except Exception:  # noqa: BLE001 - the hint is best effort
        return None
    finally:
        GlobalHydra.instance().clear()
    keys = _dotted_keys(OmegaConf.to_container(base, resolve=False))
    keys += [p.name for p in root.iterdir() if p.is_dir()]          # config groups (sampler=...)
    close = difflib.get_close_matches(bad, keys, n=1, cutoff=0.6)
    command = name.replace("_", " ")
    suggestion = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown key '{bad}'; {suggestion}(proteindsm {command} --help lists the keys)"


def _dotted_keys(node: Any, prefix: str = "") -> list[str]:
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            out.append(prefix + str(k))
            out += _dotted_keys(v, prefix + str(k) + ".")
    return out


def check_seed(value: Any) -> int:
    """``seed`` must be a non-negative integer."""
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"\d+", text):
        raise InputError(f"seed must be a non-negative integer, got {value!r}")
    return int(text)


def check_writable(value: Any, kind: str, key: str = "out") -> Path:
    """Check that the output ``value`` (``kind`` ``"dir"`` or ``"file"``) can be written, without
    creating anything: the path (when it exists) has the right kind, and its nearest existing
    folder is a writable folder."""
    import tempfile

    path = Path(os.path.expanduser(str(value)))
    if path.exists():
        if kind == "dir" and not path.is_dir():
            raise InputError(f"{key}={value} is not writable: it is a file, a folder is expected")
        if kind == "file" and path.is_dir():
            raise InputError(f"{key}={value} is not writable: it is a folder, a file name is expected")
    folder = path if kind == "dir" else path.parent
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise InputError(f"{key}={value} is not writable: {probe} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        raise InputError(f"{key}={value} is not writable ({exc.strerror or exc} in {probe})") from None
    return path


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


def instantiate_checked(node: Any, what: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate(node, **kwargs)`` with Hydra's wrapped errors turned into one
    :class:`InputError` line naming ``what`` (e.g. ``"network"``, ``"sampler.langevin"``): the
    component's own InputError message (prefixed ``what:`` unless it starts with it), a ``_target_``
    that cannot be imported, or the first line of any other error.  The one place the CLI builds
    components from configs."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        return instantiate(node, **kwargs)
    except InstantiationException as exc:
        cause = exc.__cause__
        while cause is not None and not isinstance(cause, InputError) and cause.__cause__ is not None:
            cause = cause.__cause__
        if isinstance(cause, InputError):
            msg = str(cause)
            raise InputError(msg if msg.startswith(what) else f"{what}: {msg}") from None
        if isinstance(cause, ImportError) or "Error locating target" in str(exc):
            target = node.get("_target_") if hasattr(node, "get") else None
            raise InputError(f"{what}._target_ {target!r} cannot be imported") from None
        detail = " ".join(str(cause if cause is not None else exc).split())
        raise InputError(f"invalid {what} settings: {detail}") from None


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


def train_config(cfg: DictConfig, out: Path):
    """The core :class:`~proteindsm.core.TrainConfig` of a ``train`` run (score model or predictor):
    ``out_dir``, ``seed``, ``device`` and the ``train:`` group."""
    from proteindsm.core import TrainConfig  # imports torch: only when a run starts

    return TrainConfig(out_dir=str(out), seed=int(cfg.seed), device=str(cfg.device), **to_container(cfg.train))
