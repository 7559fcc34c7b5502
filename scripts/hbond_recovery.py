#!/usr/bin/env python
"""Share of the long-range (|a-d| > 5) DSSP H-bonds of 32 validation chains that the denoised estimate
keeps at sigma = 0.1 ... 3 A (labels and strand pairs given, seed 0).

Usage: python scripts/hbond_recovery.py CHECKPOINT [CHECKPOINT ...]  (docs/training.md)
"""
import torch, numpy as np, sys
from proteindsm.protein.model.checkpoints import load_model
from proteindsm.protein.data.corpus import load_corpus
from proteindsm.protein.data.batching import validation_batches
from proteindsm.protein.structure.soft_dssp import soft_hbond_map
from proteindsm.protein.structure.domain import project_zero_ca_centroid
from proteindsm.core.types import apply_mask
corpus=load_corpus('../shared/data/backbones_pdb_nr40.npz'); val=corpus.indices('val')
bs=validation_batches(corpus,val,num_chains=32,batch_size=8,ss_labels=True,strand_pairs=True)
for ck in sys.argv[1:]:
  m=load_model(ck); net=m.model
  row=[]
  with torch.no_grad():
    for s in [0.1,0.3,0.5,1.0,2.0,3.0]:
      g=torch.Generator().manual_seed(0); rec=[];oo=[]
      for b in bs:
        B=len(b.x); sig=torch.full((B,),s)
        eps=project_zero_ca_centroid(apply_mask(torch.randn(b.x.shape,generator=g),b.mask),b.mask)
        x=b.x+s*eps
        cond=dict(b.network_cond())
        score=net(x,sig,cond); x0h=x+s*s*score
        h0=soft_hbond_map(b.x,b.mask)>0; h1=soft_hbond_map(x0h,b.mask)>0
        # long-range only (|a-d|>=3 but exclude helix i+3/i+4): sheet H-bonds
        L=b.x.shape[1]; idx=torch.arange(L); far=(idx[:,None]-idx[None,:]).abs()>5
        rec.append(((h0&h1&far).sum()/(h0&far).sum().clamp_min(1)).item())
      row.append(f"{s}:{np.mean(rec):.2f}")
  print(ck.split('/')[-1], 'recovered sheet H-bonds (|a-d|>5) in x0_hat, labels+pairs given:', ' '.join(row))
