"""Protein backbones: data, score network, generation and analysis.

The subpackages follow the flow of the data; each imports only those above it in this list:

* :mod:`.structure` — tensor conventions ``(B, L, 4, 3)`` N/CA/C/O in Å, translation invariance,
  geometry, residue geometry by construction, exact properties, soft DSSP (used by every stage);
* :mod:`.data` — PDB/mmCIF I/O (biotite), the corpus, training batches, secondary-structure labels;
* :mod:`.model` — the score network, property predictors, loading checkpoints;
* :mod:`.generate` — the typed generation layer (plans, samplers on backbones, priors, guided
  design targets, motif scaffolding, partial diffusion, β-sheet blueprints, output files);
* :mod:`.analysis` — metrics, the evaluation report, HTML views;
* :mod:`.sequences` — ProteinMPNN sequences for generated backbones.

``proteindsm.protein.sample(length=..., num=..., seed=..., **options)`` samples backbones
(:func:`proteindsm.protein.generate.sample`) and ``proteindsm.protein.design(property, target,
...)`` steers them toward target properties (:func:`proteindsm.protein.generate.design`) and
``proteindsm.protein.scaffold(motif, contig, ...)`` builds backbones around a motif
(:func:`proteindsm.protein.generate.scaffold`) and ``proteindsm.protein.diversify(input, sigma,
...)`` makes variants of a backbone (:func:`proteindsm.protein.generate.diversify`); all are
imported lazily so ``import proteindsm.protein`` stays fast.
"""

from __future__ import annotations

from typing import Any

__all__ = ["sample", "design", "scaffold", "diversify"]


def __getattr__(name: str) -> Any:
    if name in ("sample", "design", "scaffold", "diversify"):
        from . import generate
        return getattr(generate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
