"""Figures and files of designed sequences: composition rules, recovery, set summaries, FASTA + CSV.

Compositions are fractions of a sequence's residues in [0, 1]; scores are ProteinMPNN's mean NLL in
nats per residue (see :mod:`proteindsm.protein.sequences.mpnn`, whose :class:`~proteindsm.protein.sequences.mpnn.BackboneDesigns`
results :func:`summarise` and :func:`write_designs` take).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from proteindsm.errors import InputError

if TYPE_CHECKING:
    from proteindsm.protein.sequences.mpnn import BackboneDesigns, Design

__all__ = ["COMPOSITION_RULES", "composition", "composition_checks", "recovery", "summarise", "write_designs"]

_HYDROPHOBIC = set("AVILMFWYC")


#: The composition rules of issue 18 (fractions of a design's residues), calibrated on real chains.
COMPOSITION_RULES = {"gly_pro_max": 0.30, "hydrophobic_min": 0.20, "aekl_max": 0.70}


def composition(seq: str) -> dict[str, float]:
    """Fractions of ``seq``: ``gly_pro`` (G+P), ``hydrophobic`` (A V I L M F W Y C), ``aekl`` (A+E+K+L)."""
    n = max(len(seq), 1)
    return {"gly_pro": sum(c in "GP" for c in seq) / n,
            "hydrophobic": sum(c in _HYDROPHOBIC for c in seq) / n,
            "aekl": sum(c in "AEKL" for c in seq) / n}


def composition_checks(comp: Mapping[str, float], rules: Mapping[str, float] = COMPOSITION_RULES
                       ) -> dict[str, bool]:
    """Which of the :data:`COMPOSITION_RULES` a composition passes, and ``all``."""
    ok = {"gly_pro": comp["gly_pro"] <= rules["gly_pro_max"],
          "hydrophobic": comp["hydrophobic"] >= rules["hydrophobic_min"],
          "aekl": comp["aekl"] <= rules["aekl_max"]}
    ok["all"] = all(ok.values())
    return ok


def recovery(designed: str, native: str) -> float:
    """Fraction of positions where ``designed`` equals ``native`` (positions with native ``X`` skipped)."""
    if len(designed) != len(native):
        raise InputError(f"recovery: lengths differ ({len(designed)} vs {len(native)})")
    pairs = [(a, b) for a, b in zip(designed, native) if b != "X"]
    return sum(a == b for a, b in pairs) / max(len(pairs), 1)



def _pooled_composition(bd: BackboneDesigns) -> dict[str, float]:
    comps = [composition(d.sequence) for d in bd.designs]
    return {k: float(np.mean([c[k] for c in comps])) for k in comps[0]}


def _native_recovery(bd: BackboneDesigns, d: Design) -> float | None:
    """Recovery against the input sequence, None when it carries none (poly-Gly / unknown)."""
    if set(bd.sequence) <= {"G", "X"}:
        return None
    return recovery(d.sequence, bd.sequence)


def summarise(results: Sequence[BackboneDesigns], rules: Mapping[str, float] = COMPOSITION_RULES) -> dict:
    """Figures of a set of designed backbones.

    ``score_mean`` / ``global_score_mean``: mean over all designs; ``composition_mean``: mean
    fractions over all designs; ``backbones_passing``: the share of backbones whose designs (their
    mean composition) pass each rule of ``rules`` and all of them; ``recovery_mean``: vs the input
    sequences (None when every input is poly-Gly)."""
    designs = [d for bd in results for d in bd.designs]
    per_backbone = np.array([np.mean([d.score for d in bd.designs]) for bd in results])
    pooled = [_pooled_composition(bd) for bd in results]
    checks = [composition_checks(c, rules) for c in pooled]
    rec = [r for bd in results for d in bd.designs if (r := _native_recovery(bd, d)) is not None]
    return {
        "n_backbones": len(results), "n_designs": len(designs),
        "score_mean": float(np.mean([d.score for d in designs])),
        "global_score_mean": float(np.mean([d.global_score for d in designs])),
        "score_per_backbone": {"min": float(per_backbone.min()), "q10": float(np.quantile(per_backbone, 0.1)),
                               "median": float(np.median(per_backbone)),
                               "q90": float(np.quantile(per_backbone, 0.9)), "max": float(per_backbone.max())},
        "composition_mean": {k: float(np.mean([composition(d.sequence)[k] for d in designs]))
                             for k in ("gly_pro", "hydrophobic", "aekl")},
        "backbones_passing": {k: float(np.mean([c[k] for c in checks])) for k in checks[0]},
        "recovery_mean": float(np.mean(rec)) if rec else None,
        "rules": dict(rules),
    }


def write_designs(fasta: str | Path, results: Sequence[BackboneDesigns], *, temperature: float,
                  model: str, seed: int) -> tuple[Path, Path]:
    """Write ``fasta`` (one record per design) and the CSV beside it (same stem, ``.csv``), atomically.

    FASTA header: ``>NAME design=K score=S global_score=G temperature=T model=M seed=N``.  CSV
    columns: backbone, design, length, sequence, score, global_score (mean NLL, nats), temperature,
    model, seed, n_fixed, gly_pro, hydrophobic, aekl (fractions), composition_ok (all three rules),
    recovery_vs_input (empty for poly-Gly inputs)."""
    import csv
    import io

    from proteindsm.fileio import atomic_write_text

    fasta = Path(fasta)
    lines, buf = [], io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["backbone", "design", "length", "sequence", "score", "global_score", "temperature", "model",
                "seed", "n_fixed", "gly_pro", "hydrophobic", "aekl", "composition_ok", "recovery_vs_input"])
    for bd in results:
        for d in bd.designs:
            lines.append(f">{bd.name} design={d.index} score={d.score:.4f} global_score={d.global_score:.4f} "
                         f"temperature={temperature:g} model={model} seed={seed}")
            lines.append(d.sequence)
            c = composition(d.sequence)
            rec = _native_recovery(bd, d)
            w.writerow([bd.name, d.index, len(d.sequence), d.sequence, f"{d.score:.4f}", f"{d.global_score:.4f}",
                        f"{temperature:g}", model, seed, len(bd.fixed), f"{c['gly_pro']:.4f}",
                        f"{c['hydrophobic']:.4f}", f"{c['aekl']:.4f}", int(composition_checks(c)["all"]),
                        "" if rec is None else f"{rec:.4f}"])
    csv_path = fasta.with_suffix(".csv")
    if csv_path == fasta:
        csv_path = fasta.with_name(fasta.name + ".csv")
    atomic_write_text(csv_path, buf.getvalue())
    atomic_write_text(fasta, "\n".join(lines) + "\n")
    return fasta, csv_path
