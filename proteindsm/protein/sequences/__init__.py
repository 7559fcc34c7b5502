"""Sequences for generated backbones with ProteinMPNN (:mod:`.mpnn`)."""
