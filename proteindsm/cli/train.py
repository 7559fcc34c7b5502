"""``proteindsm train experiment=...``: train a backbone score model or a property predictor."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from omegaconf import DictConfig

from proteindsm.core import DSMObjective, Trainer, sum_of_denoised_losses
from proteindsm.errors import InputError
from proteindsm.fileio import atomic_write_text

from . import config
from .config import instantiate_checked, require, resolve_path, to_container, train_config


def run(cfg: DictConfig) -> int:
    kind = str(cfg.kind)
    if kind == "score":
        return _train_score(cfg)
    if kind == "predictor":
        from .train_predictor import train_predictor
        return train_predictor(cfg)
    raise InputError(f"kind must be 'score' or 'predictor', got {kind!r}")


def _train_score(cfg: DictConfig) -> int:
    from proteindsm.protein.data.batching import BackboneBatches, score_validation_sets
    from proteindsm.protein.data.corpus import load_corpus
    from proteindsm.protein.structure.domain import project_zero_ca_centroid
    from proteindsm.protein.model.checkpoints import SCORE_MODELS, export_inference_checkpoint

    out = Path(str(require(cfg, "out")))
    corpus = load_corpus(resolve_path(require(cfg, "data.path")))
    d = cfg.data
    train_idx, val_idx = corpus.indices(d.train_split), corpus.indices(d.val_split)
    ss_labels = bool(d.get("ss_labels", False))
    ss_dropout = to_container(d.ss_dropout) if d.get("ss_dropout") is not None else None
    strand_pairs = bool(d.get("strand_pairs", False))
    # the batches check the data fields (ranges; labels and strand weights need DSSP codes)
    batches = BackboneBatches(corpus, train_idx, tokens_per_batch=int(d.tokens_per_batch),
                              crop_length=int(d.crop_length), max_batch_size=int(d.max_batch_size),
                              seed=int(cfg.seed), ss_labels=ss_labels, ss_dropout=ss_dropout,
                              strand_pairs=strand_pairs, pairs_dropout=d.get("pairs_dropout", 0.5),
                              strand_weight=d.get("strand_weight", 0.0))
    schedule = instantiate_checked(cfg.schedule, "schedule")
    network = instantiate_checked(cfg.network, "network")
    name = type(network).__name__
    if name not in SCORE_MODELS:
        raise InputError(f"network._target_ must be one of {sorted(SCORE_MODELS)}, got {name}")
    sc_rate = float(cfg.get("objective", {}).get("self_conditioning_rate", 0.0) or 0.0)
    if sc_rate > 0 and not network.config.get("self_conditioning", False):
        raise InputError("objective.self_conditioning_rate > 0 needs network.self_conditioning=true")
    rollout_rate = float(cfg.get("objective", {}).get("rollout_rate", 0.0) or 0.0)
    rollout_steps = cfg.get("objective", {}).get("rollout_steps", 1)
    local_distance = local_distance_term(cfg.get("objective", {}).get("local_distance"))
    clash = clash_term(cfg.get("objective", {}).get("clash"))
    hbond = hbond_term(cfg.get("objective", {}).get("hbond"))
    try:   # the objective checks its rates (range; rollout needs self-conditioning): named as config fields
        objective = DSMObjective(schedule, project=project_zero_ca_centroid, self_conditioning_rate=sc_rate,
                                 auxiliary=sum_of_denoised_losses(local_distance, clash, hbond),
                                 rollout_rate=rollout_rate, rollout_steps=rollout_steps)
    except ValueError as err:
        raise InputError(f"objective.{err}") from None
    validation = score_validation_sets(corpus, val_idx, schedule, num_chains=int(d.val_chains),
                                       crop_length=int(d.crop_length), ss_labels=ss_labels,
                                       self_conditioning=sc_rate > 0, strand_pairs=strand_pairs)
    metadata = {
        "model_class": name, "model_config": network.config,
        "schedule": to_container(cfg.schedule), "max_length": int(d.crop_length),
        "data": {"path": str(d.path), "train_split": d.train_split, "val_split": d.val_split,
                 "tokens_per_batch": int(d.tokens_per_batch), "max_batch_size": int(d.max_batch_size),
                 "n_train_chains": int(len(train_idx)), "n_val_chains": int(len(val_idx))},
        "command": config.LAST_COMMAND,
    }
    init_from = resolve_path(cfg.init_from) if cfg.get("init_from") else None
    if init_from is not None:  # checked before anything is written to out/
        metadata["initialised_from"] = _warm_start_record(init_from, network)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "split.json", json.dumps(
        {"corpus": str(d.path), "train_ids": corpus.ids[train_idx].tolist(), "val_ids": corpus.ids[val_idx].tolist()}))
    metadata["ss_labels"] = ss_labels
    metadata["ss_dropout"] = ss_dropout
    metadata["strand_pairs"] = strand_pairs
    if strand_pairs:
        metadata["pairs_dropout"] = batches.pairs_dropout
    if batches.strand_weight > 0:
        metadata["strand_weight"] = batches.strand_weight
    metadata["self_conditioning_rate"] = sc_rate
    if rollout_rate > 0:
        metadata["rollout_rate"] = rollout_rate
        if objective.rollout_steps > 1:
            metadata["rollout_steps"] = objective.rollout_steps
    for key, term in (("local_distance", local_distance), ("clash_loss", clash), ("hbond_loss", hbond)):
        if term is not None:
            metadata[key] = dataclasses.asdict(term)   # the term's settings, as constructed
    trainer = Trainer(network, objective, batches,
                      train_config(cfg, out), validation=validation, metadata=metadata)
    new_keys = network.new_input_keys() if hasattr(network, "new_input_keys") else []
    if init_from is not None and trainer.warm_start(init_from, allow_missing=new_keys):
        print(f"initialised weights from {init_from}")
    result = trainer.fit()
    if trainer.dist.is_main:
        print(f"trained to step {result.step} in {result.wall_seconds:.0f} s; checkpoint: {result.checkpoint}")
        if cfg.get("export"):
            dst = export_inference_checkpoint(result.checkpoint, Path(str(cfg.export)))
            print(f"exported EMA weights to {dst}")
    return 0


def local_distance_term(spec):
    """``objective.local_distance`` (null, or {weight, cutoff, sigma_max}) → the auxiliary loss or None."""
    from proteindsm.protein.model.local_distance_loss import LocalDistanceLoss

    values = _auxiliary_spec("local_distance", spec, ("weight", "cutoff", "sigma_max"))
    return None if values is None else LocalDistanceLoss(**values)


def clash_term(spec):
    """``objective.clash`` (null, or {weight, distance, min_separation, sigma_max}) → the backbone
    overlap loss or None."""
    from proteindsm.protein.model.clash_loss import ClashLoss

    values = _auxiliary_spec("clash", spec, ("weight", "distance", "min_separation", "sigma_max"))
    return None if values is None else ClashLoss(**values)


def hbond_term(spec):
    """``objective.hbond`` (null, or {weight, sigma_max}) → the hydrogen-bond geometry loss or None."""
    from proteindsm.protein.model.hbond_loss import HBondLoss

    values = _auxiliary_spec("hbond", spec, ("weight", "sigma_max"))
    return None if values is None else HBondLoss(**values)


def _auxiliary_spec(name: str, spec, keys: tuple[str, ...]) -> dict | None:
    """``objective.<name>``: null → None; a mapping with numeric values among ``keys`` → a dict."""
    if spec is None:
        return None
    spec = to_container(spec) if not isinstance(spec, dict) else spec
    if not isinstance(spec, dict):
        raise InputError(f"objective.{name} must be null or a mapping with {'/'.join(keys)}, got {spec!r}")
    unknown = set(spec) - set(keys)
    if unknown:
        raise InputError(f"objective.{name}: unknown keys {sorted(unknown)} (expected {', '.join(keys)})")
    try:
        return {k: float(v) for k, v in spec.items()}
    except (TypeError, ValueError):
        raise InputError(f"objective.{name} values must be numbers, got {spec!r}") from None


def _warm_start_record(path: Path, network) -> dict:
    """What a fine-tuned checkpoint records about its starting point; checks that the starting
    checkpoint was made for the same network configuration (one clear error naming the fields).
    A field the checkpoint predates counts as the network constructor's default."""
    import inspect

    from proteindsm.core.checkpoint import read_metadata

    src = read_metadata(path)
    model_class = type(network).__name__
    if src.get("model_class") != model_class:
        raise InputError(f"init_from={path} holds a {src.get('model_class')!r} model, but network is {model_class}")
    defaults = {k: p.default for k, p in inspect.signature(type(network)).parameters.items()}
    theirs = {**defaults, **src.get("model_config", {})}
    additive = set(getattr(network, "ADDITIVE_OPTIONS", ()))  # new zero-initialised inputs may be switched on
    diff = {k: (theirs.get(k), v) for k, v in network.config.items()
            if theirs.get(k) != v and not (k in additive and not theirs.get(k))
            and k not in getattr(network, "FREE_OPTIONS", ())}
    if diff:
        raise InputError(f"init_from={path} was trained with another network configuration "
                         f"(field: checkpoint value vs network value): {diff}")
    return {"path": str(path), "step": src.get("exported_from_step", src.get("step")),
            "wall_seconds": src.get("wall_seconds"), "hardware": src.get("hardware"),
            "command": src.get("command")}
