"""ProteinMPNN designs as a designability proxy: real validation chains vs generated backbones.

Reference row: ``--n-val`` chains of the corpus' ``val`` split (random, seeded), each written as a
poly-glycine PDB and read back, designed with ``--num-seqs`` sequences at ``--temperature``;
reports sequence recovery vs the native sequence, the mean score (mean NLL, nats/residue), the
composition of the designs and the share of backbones whose designs pass the rules of issue 18
(Gly+Pro <= 30 %, hydrophobic >= 20 %, Ala+Glu+Lys+Leu <= 70 %), next to the same rules on the
native sequences (the calibration).  ``--samples DIR`` adds the same figures for a folder of
generated backbones.  ``--stock`` times the package's own loop (``ProteinMPNN.sample`` one copy at a
time + a forward pass to score it, as its script does at batch size 1) on one chain.

Single thread (``torch.set_num_threads(1)``).  Example (docs/sequences.md)::

    OMP_NUM_THREADS=1 python scripts/bench_sequences.py --samples /tmp/mpnn_samples --stock \\
        --json docs/results/sequences_bench.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from proteindsm.fileio import atomic_write_text
from proteindsm.protein.sequences import design_reports, mpnn_model
from proteindsm.protein.sequences import mpnn as sq
from proteindsm.protein.data.corpus import load_corpus
from proteindsm.protein.data.atom_arrays import structure_format
from proteindsm.protein.data.io import read_backbones, write_structure

REPO = Path(__file__).resolve().parents[1]


def val_chains(corpus_path: Path, n: int, seed: int) -> list[tuple[str, np.ndarray, str]]:
    corpus = load_corpus(corpus_path)
    idx = np.sort(np.random.default_rng(seed).choice(corpus.indices("val"), size=n, replace=False))
    out = []
    for i in idx:
        s, e = corpus.offsets[i], corpus.offsets[i + 1]
        out.append((str(corpus.ids[i]), corpus.chain(int(i)).copy(), corpus.seq[s:e].tobytes().decode()))
    return out


def as_poly_gly(chains, folder: Path) -> list[tuple[str, np.ndarray, str]]:
    """Write each backbone as a poly-Gly PDB, read it back (what `proteindsm sequences` sees)."""
    out = []
    for name, X, _ in chains:
        path = write_structure(folder / f"{name}.pdb", X)
        (ch,) = read_backbones(path, min_length=3, max_peptide_bond=float("inf"))
        assert set(ch.seq) == {"G"}
        out.append((path.name, ch.coords, ch.seq))
    return out


def folder_chains(folder: Path) -> list[tuple[str, np.ndarray, str]]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and structure_format(p) and "_trajectory" not in p.name)
    return [(f.name, ch.coords, ch.seq) for f in files
            for ch in read_backbones(f, min_length=3, max_peptide_bond=float("inf"))]


def run_set(backbones, args) -> tuple[list, dict, list[float]]:
    seconds = []
    results = []
    for name, X, seq in backbones:
        t0 = time.perf_counter()
        results += sq.design_backbones([(name, X, seq)], args.num_seqs, temperature=args.temperature,
                                       model=args.model, seed=args.seed)
        seconds.append(time.perf_counter() - t0)
        print(f"  {name:24s} L={len(X):4d} {seconds[-1]:6.2f} s  score {np.mean([d.score for d in results[-1].designs]):.3f}",
              file=sys.stderr, flush=True)
    return results, design_reports.summarise(results), seconds


def native_checks(natives: list[str]) -> dict:
    checks = [design_reports.composition_checks(design_reports.composition(s)) for s in natives]
    comps = [design_reports.composition(s) for s in natives]
    return {"backbones_passing": {k: float(np.mean([c[k] for c in checks])) for k in checks[0]},
            "composition_mean": {k: float(np.mean([c[k] for c in comps])) for k in comps[0]}}


def stock_timing(X: np.ndarray, num_seqs: int, temperature: float, model: str) -> float:
    """Seconds for ``num_seqs`` designs with the package's loop at batch size 1 (sample + score pass)."""
    net = mpnn_model.load_proteinmpnn(model)
    f = mpnn_model.featurise(X)
    L = X.shape[0]
    omit = np.array([a == "X" for a in mpnn_model.ALPHABET], np.float32)
    ones = torch.ones(1, L)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    with torch.no_grad():
        for _ in range(num_seqs):
            randn = torch.randn(1, L)
            out = net.sample(f["X"], randn, torch.zeros(1, L, dtype=torch.long), ones, f["chain_encoding_all"],
                             f["residue_idx"], mask=f["mask"], temperature=temperature, omit_AAs_np=omit,
                             bias_AAs_np=np.zeros(21), chain_M_pos=ones, bias_by_res=torch.zeros(1, L, 21))
            net(f["X"], out["S"], f["mask"], ones, f["residue_idx"], f["chain_encoding_all"], randn,
                use_input_decoding_order=True, decoding_order=out["decoding_order"])
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "data" / "backbones_pdb_nr40.npz")
    p.add_argument("--n-val", type=int, default=32)
    p.add_argument("--samples", type=Path, default=None, help="folder of generated backbones")
    p.add_argument("--num-seqs", type=int, default=8)
    p.add_argument("--temperature", type=float, default=0.1)
    p.add_argument("--model", default="v_48_020")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stock", action="store_true", help="also time the package's own loop on one ~200-residue chain")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    mpnn_model.require_proteinmpnn()
    mpnn_model.load_proteinmpnn(args.model)

    report: dict = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                    "torch_threads": torch.get_num_threads()}
    chains = val_chains(args.corpus, args.n_val, args.seed)
    natives = {f"{name}.pdb": seq for name, _, seq in chains}
    with tempfile.TemporaryDirectory() as tmp:
        gly = as_poly_gly(chains, Path(tmp))
    print(f"{len(gly)} validation chains (poly-Gly), lengths {min(len(x) for _, x, _ in gly)}-"
          f"{max(len(x) for _, x, _ in gly)}", file=sys.stderr)
    results, summary, seconds = run_set(gly, args)
    rec = [[design_reports.recovery(d.sequence, natives[bd.name]) for d in bd.designs] for bd in results]
    summary["recovery_mean"] = float(np.mean(rec))
    summary["recovery_median_per_backbone"] = float(np.median([np.mean(r) for r in rec]))
    summary["lengths"] = [len(bd.sequence) for bd in results]
    summary["seconds_per_backbone"] = float(np.mean(seconds))
    summary["seconds_per_100_residues"] = float(np.sum(seconds) / np.sum(summary["lengths"]) * 100)
    summary["natives"] = native_checks(list(natives.values()))
    summary["ids"] = [name for name, _, _ in chains]
    report["val"] = summary
    if args.samples is not None:
        res_s, sum_s, sec_s = run_set(folder_chains(args.samples), args)
        sum_s["lengths"] = [len(bd.sequence) for bd in res_s]
        sum_s["seconds_per_backbone"] = float(np.mean(sec_s))
        sum_s["seconds_per_100_residues"] = float(np.sum(sec_s) / np.sum(sum_s["lengths"]) * 100)
        sum_s["folder"] = str(args.samples)
        report["samples"] = sum_s
    if args.stock:
        name, X, _ = min(gly, key=lambda b: abs(len(b[1]) - 200))
        fast = []
        for _ in range(3):                                    # best of 3: the machine is shared
            t0 = time.perf_counter()
            sq.design_sequences(X, args.num_seqs, temperature=args.temperature, model=args.model, seed=args.seed)
            fast.append(time.perf_counter() - t0)
        report["stock"] = {"backbone": name, "length": int(len(X)), "num_seqs": args.num_seqs,
                           "stock_seconds": stock_timing(X, args.num_seqs, args.temperature, args.model),
                           "batched_seconds_best_of_3": min(fast), "batched_seconds_runs": fast}

    rows = [("val chains (poly-Gly)", report["val"])] + ([("generated", report["samples"])] if "samples" in report else [])
    print(f"| set | backbones | recovery | score | global | Gly+Pro ≤30% | hydrophobic ≥20% | AEKL ≤70% | all | s/backbone |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, s in rows:
        b = s["backbones_passing"]
        r = "n/a" if s.get("recovery_mean") is None else f"{s['recovery_mean']:.3f}"
        print(f"| {label} | {s['n_backbones']} | {r} | {s['score_mean']:.3f} | {s['global_score_mean']:.3f} | "
              f"{b['gly_pro']:.2f} | {b['hydrophobic']:.2f} | {b['aekl']:.2f} | {b['all']:.2f} | {s['seconds_per_backbone']:.2f} |")
    nb = report["val"]["natives"]["backbones_passing"]
    print(f"| native sequences of the val chains | {args.n_val} | 1 | | | {nb['gly_pro']:.2f} | {nb['hydrophobic']:.2f} | "
          f"{nb['aekl']:.2f} | {nb['all']:.2f} | |")
    for label, s in rows + [("native", report["val"]["natives"])]:
        print(f"composition mean ({label}): " + ", ".join(f"{k} {v:.3f}" for k, v in s["composition_mean"].items()))
    if "stock" in report:
        st = report["stock"]
        print(f"stock loop: {st['stock_seconds']:.2f} s vs batched {st['batched_seconds_best_of_3']:.2f} s (best of 3) for {st['num_seqs']} "
              f"designs of {st['backbone']} (L={st['length']})")
    if args.json:
        atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
