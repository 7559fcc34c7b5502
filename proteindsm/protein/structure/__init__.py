"""Backbone structure primitives shared by every stage: tensor conventions (:mod:`.backbone`),
translation invariance (:mod:`.domain`), geometry in torch (:mod:`.geometry`), residue geometry by
construction (:mod:`.ideal_geometry`), exact properties (:mod:`.properties`) and differentiable DSSP
fractions (:mod:`.soft_dssp`)."""
