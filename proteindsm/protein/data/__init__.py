"""Protein data: structure files in and out (:mod:`.io`), the backbone corpus (:mod:`.corpus`,
:mod:`.corpus_build`), training batches (:mod:`.batching`), secondary-structure labels
(:mod:`.secondary_structure`) and the layouts of ``ss=auto`` (:mod:`.ss_layouts`)."""
