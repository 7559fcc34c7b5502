"""Writing a sampling run: backbone files batch by batch as they finish, and ``manifest.json``
(settings, command line, package version, per-backbone time, ``complete``), so that an interrupted
run keeps what it made and the same command continues it.

Files are ``len<L>_<index>.<pdb|cif>`` (+ ``_trajectory``), each with HEADER/REMARK provenance,
TER and END.  A folder whose manifest says ``complete: false`` is continued when the settings
match (the batches already listed are skipped; each batch's noise depends only on the seed, length
and batch number, so the result equals an uninterrupted run) and refused with one clear error when
they do not.  A complete or manifest-less folder is written afresh.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

from proteindsm.errors import InputError
from proteindsm.fileio import atomic_write_text
from proteindsm.resources import version

from .plan import SamplingPlan


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


def base_manifest(plan: SamplingPlan, command: Optional[str] = None) -> dict:
    """The manifest fields that describe the run (before any backbone is made)."""
    s = plan.settings()
    o = plan.options
    return {
        "generator": "proteindsm", "version": version(), "command": command, "complete": False,
        "checkpoint": s["checkpoint"], "checkpoint_step": s["checkpoint_step"],
        "sampler": s["sampler"], "sigma_grid": s["sigma_grid"],
        "steric": o.steric, "compactness": o.compactness, "seed": o.seed, "device": str(o.device),
        "batch_size": o.batch_size, "ss_mode": plan.ss_mode, "ideal_output": o.ideal_output,
        "settings": _jsonable({**s, "device": str(o.device)}),
        "files": [], "seconds_total": 0.0,
    }


class RunWriter:
    """Writes the backbones of ``plan`` into ``out`` batch by batch and keeps ``manifest.json``
    current.  Use :meth:`skip` and :meth:`on_batch` as the hooks of
    :func:`proteindsm.protein.generate.sampling.sample_backbones`; :meth:`finish` marks the set complete."""

    def __init__(self, plan: SamplingPlan, out: Path, command: Optional[str] = None) -> None:
        self.plan, self.out = plan, Path(out)
        self.manifest = base_manifest(plan, command)
        self.done: dict[str, dict] = {}          # file name -> manifest entry, from a partial run
        self._before = 0.0                       # seconds spent by the run being continued
        self._t0 = time.perf_counter()
        previous = self._previous_manifest()
        if previous is not None and previous.get("complete") is False:
            self._check_same_settings(previous)
            self.done = {e["file"]: e for e in previous.get("files", [])
                         if isinstance(e, dict) and (self.out / str(e.get("file"))).is_file()}
            self._before = float(previous.get("seconds_total") or 0.0) if self.done else 0.0
        self.previous = dict(self.done)          # the backbones the continued run had written
        self.continued = len(self.previous)

    def _previous_manifest(self) -> Optional[dict]:
        path = self.out / "manifest.json"
        if not path.is_file():
            return None
        try:
            m = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return m if isinstance(m, dict) else None

    def _check_same_settings(self, previous: dict) -> None:
        old, new = previous.get("settings"), self.manifest["settings"]
        if old == new:
            return
        if not isinstance(old, dict):
            diff = "it records no settings"
        else:
            keys = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
            diff = "; ".join(f"{k}: {_short(old.get(k))} -> {_short(new.get(k))}" for k in keys[:4])
        raise InputError(f"out={self.out} holds a partial run made with other settings ({diff}); "
                         "rerun it with the same settings to complete it, choose another out=, or delete "
                         "the folder to start over")

    def file_name(self, length: int, index: int, trajectory: bool = False) -> str:
        return f"len{length}_{index:03d}{'_trajectory' if trajectory else ''}.{self.plan.options.format}"

    def skip(self, length: int, batch: int) -> bool:
        """Whether batch ``batch`` of ``length`` is already written (by the run being continued)."""
        bs = self.plan.options.batch_size
        for index in range(batch * bs, min((batch + 1) * bs, self.plan.counts[length])):
            if self.file_name(length, index) not in self.done:
                return False
            if self.plan.options.save_trajectory and not (self.out / self.file_name(length, index, True)).is_file():
                return False
        return True

    def on_batch(self, batch: list) -> None:
        """Write one finished batch and the manifest (still ``complete: false``)."""
        for s in batch:
            if s.remarks is None:
                s.remarks = self.plan.remarks(s)
            s.write(self.out / self.file_name(s.length, s.index))
            if s.trajectory is not None:
                s.write(self.out / self.file_name(s.length, s.index, True), trajectory=True)
            self.done[self.file_name(s.length, s.index)] = {"file": self.file_name(s.length, s.index),
                                                            **s.metadata}
        self._write_manifest()

    def _write_manifest(self) -> None:
        order = [self.file_name(L, i) for L, n in self.plan.counts.items() for i in range(n)]
        self.manifest["files"] = [self.done[f] for f in order if f in self.done]
        self.manifest["seconds_total"] = round(self._before + time.perf_counter() - self._t0, 2)
        atomic_write_text(self.out / "manifest.json", json.dumps(self.manifest, indent=2))

    def start(self) -> None:
        """Create ``out`` and write the manifest (``complete: false``) before the first batch."""
        self._t0 = time.perf_counter()
        self.out.mkdir(parents=True, exist_ok=True)
        self._write_manifest()

    def finish(self, **extra: Any) -> dict:
        """Mark the set complete (with ``extra`` manifest entries, e.g. sequences, view)."""
        self.manifest.update(extra)
        self.manifest["complete"] = True
        self._write_manifest()
        return self.manifest

    def written_backbones(self) -> list:
        """The backbones a continued run had already written, read back from their files."""
        from proteindsm.protein.data.io import read_backbones
        from proteindsm.protein.generate.sampling import SampledBackbone
        from proteindsm.protein.data.secondary_structure import parse_ss_string

        out = []
        for name, e in self.previous.items():
            (chain,) = read_backbones(self.out / name, max_peptide_bond=float("inf"))[:1]
            ss = e.get("ss")
            out.append(SampledBackbone(length=int(e["length"]), index=int(e.get("index", _index(name))),
                                       coords=chain.coords, seconds=float(e.get("seconds", 0.0)),
                                       ss=None if ss is None else parse_ss_string(ss), pairs=e.get("pairs")))
        return out


def _index(name: str) -> int:
    return int(Path(name).stem.split("_")[1])


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
