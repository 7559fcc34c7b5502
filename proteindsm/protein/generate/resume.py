"""Continuing an interrupted run in its ``out`` folder (``scaffold``, ``diversify``): the partial
``manifest.json`` written after each batch (``complete: false``, the settings that determine the
outputs, the report rows done so far) and, when the same command is rerun, those rows back."""

from __future__ import annotations

import json
from pathlib import Path

from proteindsm.errors import InputError


def write_partial_manifest(out: Path, command: str, settings: dict, done: dict[int, dict], seconds: float) -> None:
    """``out/manifest.json`` of a run still going: ``complete: false``, ``settings``, the rows of
    ``done`` (index → report row) in index order and the seconds so far."""
    from proteindsm.fileio import atomic_write_text

    atomic_write_text(out / "manifest.json", json.dumps(
        {"command": command, "complete": False, "settings": settings, "rows": [done[i] for i in sorted(done)],
         "seconds_total": round(seconds, 2)}, indent=2))


def previous_rows(out: Path, settings: dict, kind: str) -> tuple[dict[int, dict], float]:
    """The report rows (index → row, only those whose file is there) and seconds of a partial
    ``kind`` run in ``out`` with the same settings; a partial run with other settings is refused
    (one :class:`InputError`); a complete or manifest-less folder starts afresh."""
    try:
        previous = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}, 0.0
    if not isinstance(previous, dict) or previous.get("complete") is not False:
        return {}, 0.0
    if previous.get("settings") != settings:
        raise InputError(f"out={out} holds a partial {kind} run made with other settings; rerun it with the "
                         "same settings to complete it, choose another out=, or delete the folder to start over")
    rows = {int(r["index"]): r for r in previous.get("rows", []) if (out / str(r.get("file"))).is_file()}
    return rows, float(previous.get("seconds_total") or 0.0) if rows else 0.0
