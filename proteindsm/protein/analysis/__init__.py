"""Judging generated backbones: per-chain and pairwise metrics (:mod:`.metrics`), the evaluation
report against real chains (:mod:`.evaluate`) and HTML views (:mod:`.view`)."""
