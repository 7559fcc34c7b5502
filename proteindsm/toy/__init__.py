"""2-D toy domain: data sets with exact noised scores (``datasets``), a σ-conditioned MLP score
network (``model``), sample metrics (``metrics``), PNG plots (``plots``, matplotlib imported on use)
and the glue to the core trainer (``training``).  Entry point: ``proteindsm toy`` (docs/toy.md)."""

from .datasets import (DATASETS, Checkerboard, EightGaussians, GaussianMixture2D, Ring, ToyDataset, TwoGaussians,
                       TwoMoons)
from .metrics import mode_fractions, score_error, sliced_wasserstein
from .model import MODEL_CLASS, ToyScoreMLP

__all__ = ["DATASETS", "Checkerboard", "EightGaussians", "GaussianMixture2D", "Ring", "ToyDataset", "TwoGaussians",
           "TwoMoons", "mode_fractions", "score_error", "sliced_wasserstein", "MODEL_CLASS", "ToyScoreMLP"]
