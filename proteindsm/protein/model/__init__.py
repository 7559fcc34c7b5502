"""Protein models: the SE(3)-equivariant score network (:mod:`.network`), a plain EGNN speed
baseline (:mod:`.egnn_baseline`), noise-conditional property predictors (:mod:`.predictors`) and
loading either from untrusted checkpoints (:mod:`.checkpoints`)."""
