"""Running a :class:`~proteindsm.protein.generate.plan.SamplingPlan`, and the one-call API
:func:`sample` (``proteindsm.protein.sample``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

from .output import RunWriter, base_manifest
from .plan import SamplingPlan, load_plan, sample_options


class Samples(list):
    """The backbones of a run (:class:`proteindsm.protein.generate.sampling.SampledBackbone`: ``.coords``
    float32 ``(L, 4, 3)`` Å, ``.metadata``, ``.write(path)``), in order of length then index, with
    the run's ``manifest`` (dict, as ``manifest.json``), its ``plan`` and ``out`` folder (or None)."""

    def __init__(self, backbones, manifest: dict, plan: SamplingPlan, out: Optional[Path] = None,
                 writer: Optional[RunWriter] = None) -> None:
        super().__init__(backbones)
        self.manifest, self.plan, self.out, self.writer = manifest, plan, out, writer

    def write(self, folder: str | Path, fmt: Optional[str] = None) -> list[Path]:
        """Write every backbone to ``folder/len<L>_<index>.<fmt>`` (default: the plan's format)."""
        folder = Path(folder)
        fmt = fmt or self.plan.options.format
        return [b.write(folder / f"{b.name}.{fmt}") for b in self]


def run_plan(plan: SamplingPlan, out: Optional[str | Path] = None, *, command: Optional[str] = None,
             finish: bool = True) -> Samples:
    """Sample every backbone of ``plan``.

    With ``out``, each batch is written there as soon as it is done (files + ``manifest.json``,
    :class:`~proteindsm.protein.generate.output.RunWriter`), and a partial run in ``out`` with the
    same settings is continued.  ``finish=False`` leaves the manifest ``complete: false`` for the
    caller to add entries and call ``samples.writer.finish(...)``."""
    from proteindsm.protein.generate.sampling import sample_backbones

    o = plan.options
    writer = None if out is None else RunWriter(plan, Path(out), command)
    common = dict(seed=o.seed, batch_size=o.batch_size, device=o.device, return_trajectory=o.save_trajectory,
                  progress=o.progress, ss_layout=plan.ss_layout, ideal_output=o.ideal_output)
    t0 = time.perf_counter()
    if writer is None:
        new = sample_backbones(plan.score_fn, plan.lengths, plan.counts, o.sampler, plan.sigmas, **common)
        for s in new:
            s.remarks = plan.remarks(s)
        manifest = base_manifest(plan, command)
        manifest.update(complete=True, files=[{"name": s.name, **s.metadata} for s in new],
                        seconds_total=round(time.perf_counter() - t0, 2))
        return Samples(new, manifest, plan)
    writer.start()
    new = sample_backbones(plan.score_fn, plan.lengths, plan.counts, o.sampler, plan.sigmas,
                           on_batch=writer.on_batch, skip=writer.skip, **common)
    rank = {L: k for k, L in enumerate(plan.counts)}
    backbones = sorted(writer.written_backbones() + new, key=lambda s: (rank[s.length], s.index))
    for s in backbones:
        if s.remarks is None:
            s.remarks = plan.remarks(s)
    manifest = writer.finish() if finish else writer.manifest
    return Samples(backbones, manifest, plan, Path(out), writer)


def sample(length: Any = None, num: Any = 8, seed: Any = 0, *, out: Optional[str | Path] = None,
           **options: Any) -> Samples:
    """Sample protein backbones (poly-glycine N, CA, C, O) from a score checkpoint.

    Args:
        length: an int, a list of ints or ``"start:stop:step"``; None: 100 (or the ``ss`` string's).
        num: backbones per length.
        seed: the same seed and settings give the same backbones as ``proteindsm sample``.
        out: optional folder: write ``len<L>_<index>.pdb`` + ``manifest.json`` batch by batch there
            (an interrupted run into the same folder is continued).
        **options: the keys of ``proteindsm sample`` (``configs/protein/sample.yaml``):
            ``sampler`` (preset name, e.g. ``"langevin_fast"``), ``steps``, ``checkpoint``, ``ss``,
            ``ss_file``, ``steric`` / ``compactness`` (mapping or None), ``sigma_min``,
            ``sigma_max``, ``device``, ``batch_size``, ``format``, ``ideal_output``,
            ``save_trajectory``, ``progress``.

    Returns:
        :class:`Samples`: a list of backbones (``b.coords`` float32 ``(L, 4, 3)`` Å,
        ``b.metadata``, ``b.write("x.pdb")``) with ``.manifest``.

    Raises:
        proteindsm.errors.InputError: a bad setting (before the model loads).
    """
    plan = load_plan(sample_options(length=length, num=num, seed=seed, **options))
    return run_plan(plan, out, command=None)
