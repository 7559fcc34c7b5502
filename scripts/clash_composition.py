#!/usr/bin/env python
"""Which backbone atom pairs clash in a sample folder: counts by atom pair, residue separation
(capped at 10), DSSP context and distance, under the evaluation rule (< 2.5 A, |i-j| >= 3).

Usage: python scripts/clash_composition.py SAMPLES_DIR  (docs/training.md, "Run 3")
"""
import sys, glob, numpy as np, collections
from proteindsm.protein.data.io import read_backbones
names=["N","CA","C","O"]
cnt=collections.Counter(); seps=collections.Counter(); dists=[]
ss_ctx=collections.Counter()
import pydssp
for f in sorted(glob.glob(sys.argv[1]+"/*.pdb")):
    bbs=read_backbones(f)
    X=np.asarray(bbs[0].coords)
    L=X.shape[0]
    ss=pydssp.assign(X.astype(np.float32),out_type='c3')
    d=np.linalg.norm(X[:,None,:,None,:]-X[None,:,None,:,:],axis=-1)  # L,L,4,4
    for i in range(L):
        for j in range(i+3,L):
            m=d[i,j]<2.5
            for a,b in zip(*np.nonzero(m)):
                cnt[tuple(sorted((names[a],names[b])))]+=1; seps[min(j-i,10)]+=1; dists.append(d[i,j,a,b])
                ss_ctx[ss[i]+ss[j]]+=1
print(cnt); print(sorted(seps.items())); print(ss_ctx)
print(np.histogram(dists,bins=[0,1,1.5,2,2.2,2.4,2.5]))
