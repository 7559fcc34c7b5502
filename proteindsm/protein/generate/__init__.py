"""The generation layer: typed plans built from plain arguments, and the functions that run them.

* :mod:`.options` — validated plain options (lengths, seed, potentials, ``ss``, sampler presets);
* :mod:`.plan` — :class:`SampleOptions` (checked, nothing loaded) → :class:`SamplingPlan` (model,
  sampler, σ grid, priors, ss layout, device, batch size, seed);
* :mod:`.output` — files batch by batch, ``manifest.json``, continuing interrupted runs;
* :mod:`.run` — :func:`run_plan` and the one-call :func:`sample`;
* :mod:`.targets` — design targets (one :class:`~.targets.DesignProperty` object per property) and
  their guidance terms; :mod:`.guided` — guided design runs and the one-call :func:`design`;
* motif scaffolding: :mod:`.contig` (contigs, layouts), :mod:`.motif` (motif files),
  :mod:`.scaffold_ss` (secondary structure of scaffolds), :mod:`.scaffold_sampling` (the condition, sampling,
  output), :mod:`.scaffolding` (scaffolding runs and the one-call :func:`scaffold`);
* :mod:`.partial_diffusion` and :mod:`.variants` (runs, the one-call :func:`diversify`) — variants
  of a backbone by partial diffusion;
* :mod:`.sheet_blueprint`, :mod:`.restraints`, :mod:`.sampling` — β-sheet blueprints, sampling
  potentials and the sampling loop on backbones.

``proteindsm sample`` maps its config onto :func:`sample_options` and calls :func:`run_plan`
(``proteindsm design``: :func:`~.guided.load_design` and :func:`~.guided.run_design`);
scripts and notebooks use the same functions (never ``proteindsm.cli``).
"""

from .options import (build_sampler, compactness_option, model_score_fn, named_sampler, parse_lengths,
                      positive_int, sampler_presets, seed_value, sigma_grid, ss_layout_for, steric_option,
                      with_potentials)
from .output import RunWriter
from .plan import DEFAULT_SAMPLER, SampleOptions, SamplingPlan, load_plan, sample_options
from .run import Samples, run_plan, sample
from .guided import Designs, design, load_design, run_design
from .scaffolding import Scaffolds, load_scaffold, run_scaffold, scaffold
from .variants import Variants, diversify, load_diversify, run_diversify

__all__ = ["sample", "design", "Designs", "load_design", "run_design", "scaffold", "Scaffolds", "load_scaffold",
           "run_scaffold", "diversify", "Variants", "load_diversify", "run_diversify", "run_plan", "Samples", "sample_options", "load_plan", "SampleOptions", "SamplingPlan",
           "RunWriter", "DEFAULT_SAMPLER", "named_sampler", "build_sampler", "sampler_presets", "sigma_grid",
           "with_potentials", "steric_option", "compactness_option", "model_score_fn", "ss_layout_for",
           "parse_lengths", "positive_int", "seed_value"]
