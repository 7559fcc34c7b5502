"""Guided backbone design: guidance terms that steer sampling toward target properties.

Classifier guidance (Song et al. 2021, §5; Dhariwal & Nichol 2021) samples from p(x | y) with

    ∇_x log p_σ(x | y) ≈ ∇_x log p_σ(x) + w · ∇_x log p(y | x, σ),

the second part coming from a noise-conditional predictor (:mod:`proteindsm.protein.model.predictors`)
evaluated with autograd at every sampler step, or — for a user's differentiable property g of a
*clean* backbone — from g evaluated on the Tweedie denoised estimate x̂₀ = x + σ² s(x, σ)
(:class:`~proteindsm.core.NoiseAwareDenoisedGuidance`: the core's DenoisedPropertyGuidance with the
uncertainty of x̂₀ propagated to g).  The terms (:class:`~proteindsm.core.RegressionGuidance`,
:class:`~proteindsm.core.CalibratedRegressionGuidance`, :class:`~proteindsm.core.ClassifierGuidance`,
:class:`~proteindsm.core.NoiseAwareDenoisedGuidance`) are built here from
:class:`PropertyTarget` requests; several requests are summed (:func:`proteindsm.core.with_guidance`).

Tensor conventions: backbones ``(B, L, 4, 3)`` in Å (N, CA, C, O), ``mask`` bool ``(B, L)``,
σ ``(B,)`` in Å.  A regression term is the Gaussian log-likelihood −(f(x, σ) − y*)²/(2τ²): the
tolerance τ (property units) sets how sharply the target is asked for, the scale w how strongly the
term pulls; only w/τ² matters for the gradient.

Each built-in property is one :class:`DesignProperty` object in :data:`DESIGN_PROPERTIES` (its
target range check, per-length target, exact measurement and error of a result; the fold class and a
user's own function property are subclasses), so no code branches on property names.  Everything a
request needs (known property, target inside the property's range, predictor file of the right
property and σ range) is checked by :func:`resolve_targets` *before* sampling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from proteindsm.core.guidance import (CalibratedRegressionGuidance, ClassifierGuidance, GuidanceTerm,
                                      NoiseAwareDenoisedGuidance, RegressionGuidance)
from proteindsm.errors import CheckpointError, InputError

from proteindsm.protein.structure.geometry import radius_of_gyration
from proteindsm.protein.structure.properties import FOLD_CLASS_NAMES, PROPERTIES, RG_EXPONENT

__all__ = [
    "DesignProperty", "FoldClassProperty", "UserProperty", "DESIGN_PROPERTIES", "DEFAULT_FUNCTION_TOLERANCE",
    "PropertyTarget", "ResolvedTarget", "shipped_dir", "predictor_checkpoint_name", "resolve_targets", "import_function",
    "guidance_terms", "radius_of_gyration_property", "load_predictor", "predictor_calibration",
]


@dataclass(frozen=True)
class DesignProperty:
    """What a design target on one built-in property needs, in one object: the range check of a
    target, the target and tolerance in the predictor's units for a chain of L residues, the exact
    measurement of a clean backbone and the error of a result.

    Attributes:
        name: the property (a key of :data:`~proteindsm.protein.structure.properties.PROPERTIES`).
        predictor: the property the shipped predictor predicts (``predictor_<predictor>.safetensors``).
        tolerance: default τ of the Gaussian log-likelihood (property units), None: the predictor's.
        function: dotted path of the differentiable function that steers it by default instead of
            the predictor (``predictor=PATH`` still picks a predictor), or None.
        length_exponent: the predictor's value is this property / L^exponent (Rg in Å is steered with
            the Rg / L^0.4 predictor at target / L^0.4).
        ss_state: ``"helix"`` / ``"strand"`` when the property is the fraction of residues in that
            state (it then also sets the ``ss=auto`` make-up and the β-sheet blueprint), else None.
    """

    name: str
    predictor: str
    tolerance: Optional[float] = None
    function: Optional[str] = None
    length_exponent: float = 0.0
    ss_state: Optional[str] = None

    def check(self, target: Any) -> float:
        """The target as a float, inside what the property can take (one InputError otherwise)."""
        if target is None:
            raise InputError(f"{self.name}: no target given (pass target=...)")
        t = _number(self.name, "target", target)
        lo, hi = PROPERTIES[self.name].valid_range
        if not lo <= t <= hi:
            raise InputError(f"{self.name}: target {t:g} is outside what the property can take "
                             f"[{lo:g}, {hi:g}] ({PROPERTIES[self.name].description})")
        return t

    def for_length(self, target: float, tolerance: Optional[float], length: int) -> tuple[float, Optional[float]]:
        """(target, tolerance) in the predictor's units for chains of ``length`` residues."""
        f = float(length) ** self.length_exponent if self.length_exponent else 1.0
        return target / f, (None if tolerance is None else tolerance / f)

    def normalised_rg(self, target: float, length: int) -> Optional[float]:
        """The Rg / L^0.4 (Å) that a target on this property asks for at ``length``, or None when the
        property is not a radius of gyration (for the compactness-ceiling check)."""
        return self.for_length(target, None, length)[0] if self.predictor == "rg_normalised" else None

    def measure(self, coords: np.ndarray | Tensor) -> float:
        """The property measured exactly on one clean backbone ``(L, 4, 3)`` Å."""
        return float(PROPERTIES[self.name].function(coords))

    def error(self, measured: float, target: float) -> float:
        """|measured − target| (property units)."""
        return abs(measured - target)


@dataclass(frozen=True)
class FoldClassProperty(DesignProperty):
    """The fold class (0 mainly-α, 1 mainly-β, 2 α+β/other): a target is a class (number or
    name) and the error of a result is 0 (hit) or 1 (miss)."""

    def check(self, target: Any) -> float:
        if isinstance(target, str) and target in FOLD_CLASS_NAMES:
            return float(FOLD_CLASS_NAMES.index(target))
        if target is None:
            raise InputError(f"{self.name}: no target given (pass target=...)")
        t = _number(self.name, "target", target)
        if t not in (0.0, 1.0, 2.0):
            raise InputError(f"fold_class: target must be a class, 0 {FOLD_CLASS_NAMES[0]}, 1 "
                             f"{FOLD_CLASS_NAMES[1]} or 2 {FOLD_CLASS_NAMES[2]}, got {target!r}")
        return t

    def error(self, measured: float, target: float) -> float:
        return float(int(round(measured)) != int(round(target)))


@dataclass(frozen=True)
class UserProperty(DesignProperty):
    """A property of the user's own name, defined by their differentiable function ``g(x (B, L, 4, 3),
    cond) -> (B,)``: any finite target; measured by the same function on the clean backbone."""

    measure_fn: Optional[Callable[[Tensor, Any], Tensor]] = None

    def check(self, target: Any) -> float:
        if target is None:
            raise InputError(f"{self.name}: no target given (pass target=...)")
        return _number(self.name, "target", target)

    def measure(self, coords: np.ndarray | Tensor) -> float:
        x = torch.as_tensor(np.asarray(coords), dtype=torch.float32)[None]
        mask = torch.ones(x.shape[:2], dtype=torch.bool)
        with torch.no_grad():
            v = self.measure_fn(x, {"mask": mask})
        return float(torch.as_tensor(v).reshape(-1)[0])


#: The built-in design properties (each with a shipped predictor,
#: ``proteindsm/checkpoints/predictor_<predictor>.safetensors``).  The strand fraction is steered by
#: default through the soft DSSP strand fraction on the denoised estimate, which with the β-sheet
#: blueprint meets strand 0.4 within the geometry margins where the predictor does not
#: (docs/design.md, "β-rich designs").
DESIGN_PROPERTIES: dict[str, DesignProperty] = {p.name: p for p in (
    DesignProperty("helix_fraction", "helix_fraction", 0.1, ss_state="helix"),
    DesignProperty("strand_fraction", "strand_fraction", 0.1, ss_state="strand",
                   function="proteindsm.protein.structure.soft_dssp.soft_strand_fraction"),
    DesignProperty("rg_normalised", "rg_normalised", 0.1),
    DesignProperty("radius_of_gyration", "rg_normalised", 1.0, length_exponent=RG_EXPONENT),
    DesignProperty("contact_order", "contact_order", 0.02),
    FoldClassProperty("fold_class", "fold_class"),
)}

#: Default τ of a user's own function property (its units).
DEFAULT_FUNCTION_TOLERANCE = 1.0


def predictor_checkpoint_name(prop: str) -> str:
    """File name of the shipped predictor of ``prop`` (in ``proteindsm/checkpoints/``)."""
    spec = DESIGN_PROPERTIES.get(prop)
    return f"predictor_{spec.predictor if spec is not None else prop}.safetensors"


@dataclass
class PropertyTarget:
    """A request "make property ``name`` equal ``target``".

    Args:
        name: a key of :data:`DESIGN_PROPERTIES` (built-in property with a learned predictor) or,
            with ``function``, any label for the user's property.
        target: wanted value in the property's units (fold_class: 0 mainly-α, 1 mainly-β,
            2 α+β/other, or the class name).
        scale: guidance weight w >= 0 (0 = no guidance).
        tolerance: τ in property units (regression and function terms); None: the default.
        predictor: checkpoint of the predictor (None: the shipped one, or for a property with a
            default function that function); ignored for functions.
        function: a differentiable property ``g(x̂₀ (B, L, 4, 3), cond) -> (B,)`` of a clean
            backbone; it is guided through the denoised estimate and also measures the result.
    """

    name: str
    target: Any
    scale: float = 1.0
    tolerance: Optional[float] = None
    predictor: Optional[str | Path] = None
    function: Optional[Callable[[Tensor, Any], Tensor]] = None


@dataclass
class ResolvedTarget:
    """A checked :class:`PropertyTarget`: its :class:`DesignProperty` ``spec``, the steering
    mechanism (``kind``: ``"regression"`` | ``"classification"`` predictor, or ``"function"``) and
    the loaded predictor (None for functions)."""

    name: str
    target: float
    scale: float
    tolerance: Optional[float]
    kind: str
    spec: DesignProperty
    model: Optional[torch.nn.Module] = None
    function: Optional[Callable[[Tensor, Any], Tensor]] = None
    predictor_path: Optional[Path] = None
    metadata: dict = field(default_factory=dict)
    calibration: Optional[tuple[tuple[float, ...], tuple[float, ...]]] = None

    def target_for_length(self, length: int) -> tuple[float, Optional[float]]:
        """(target, tolerance) in the steering function's units for chains of ``length`` residues
        (a function steers the property itself; a predictor its own units)."""
        if self.kind == "function":
            return self.target, self.tolerance
        return self.spec.for_length(self.target, self.tolerance, length)

    def measure(self, coords: np.ndarray | Tensor) -> float:
        """The property measured exactly on one clean backbone ``(L, 4, 3)`` (not the predictor's
        guess; also when a differentiable function steered a built-in property)."""
        return self.spec.measure(coords)

    def error(self, measured: float) -> float:
        """The error of a measured result (fold_class: 0 hit, 1 miss)."""
        return self.spec.error(measured, self.target)

    def guidance_term(self, length: int) -> Optional[GuidanceTerm]:
        """The guidance term for chains of ``length`` residues (None when ``scale`` is 0)."""
        if self.scale == 0:
            return None
        target, tol = self.target_for_length(length)
        if self.kind == "function":
            return NoiseAwareDenoisedGuidance(self.function, target, tol, self.scale)
        if self.kind == "classification":
            return ClassifierGuidance(self.model, int(round(target)), self.scale)
        if self.calibration is not None:
            return CalibratedRegressionGuidance(self.model, target, tol, self.scale, *self.calibration)
        return RegressionGuidance(self.model, target, tol, self.scale)


def _number(name: str, key: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name}: {key} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise InputError(f"{name}: {key} must be finite, got {value!r}")
    return v


def load_predictor(path: str | Path, prop: str, device: torch.device | str = "cpu"):
    """Load the predictor checkpoint of ``prop`` (allow-listed classes only) in eval mode."""
    from proteindsm.protein.model.checkpoints import load_model
    from proteindsm.protein.model.predictors import PREDICTOR_MODELS

    p = Path(path)
    spec = DESIGN_PROPERTIES.get(prop)
    want = spec.predictor if spec is not None else prop
    if not p.is_file():
        raise CheckpointError(f"no predictor for {prop!r}: checkpoint {p} not found (train one with "
                              f"`proteindsm train experiment=predictor_{want} export=...` and pass predictor=PATH)")
    loaded = load_model(p, PREDICTOR_MODELS, device=device)
    if loaded.metadata.get("property") != want:
        raise CheckpointError(f"predictor checkpoint {p} predicts {loaded.metadata.get('property')!r}, "
                              f"not {want!r}")
    return loaded


def import_function(path: str, where: str = "function") -> Callable:
    """The function at dotted ``path`` (``pkg.mod.fn``); one :class:`InputError` naming ``where``
    when it cannot be imported."""
    import importlib

    module, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise InputError(f"{where}: cannot import the property function {path!r} "
                         f"({type(exc).__name__}: {exc})") from None


def resolve_targets(requests: Sequence[PropertyTarget], *, sigma_range: Optional[tuple[float, float]] = None,
                    predictor_dir: Optional[Path] = None, device: torch.device | str = "cpu"
                    ) -> list[ResolvedTarget]:
    """Check every request and load its predictor; raises :class:`InputError` (incl.
    :class:`~proteindsm.errors.CheckpointError`) naming the property and the problem.

    Args:
        requests: what to steer.
        sigma_range: ``(σ_min, σ_max)`` in Å of the sampling grid; a predictor trained on a
            narrower range is refused.
        predictor_dir: where shipped predictors live (``predictor_<property>.safetensors``).
    """
    if not requests:
        raise InputError("nothing to design for: give property=NAME target=VALUE (or properties=[...])")
    out = []
    for r in requests:
        name = str(r.name)
        scale = _number(name, "scale", r.scale)
        if scale < 0:
            raise InputError(f"{name}: scale must be >= 0, got {scale:g}")
        tol = None if r.tolerance is None else _number(name, "tolerance", r.tolerance)
        if tol is not None and tol <= 0:
            raise InputError(f"{name}: tolerance must be > 0, got {tol:g}")
        spec = DESIGN_PROPERTIES.get(name)
        function = r.function
        if function is None and r.predictor in (None, "", "null") and spec is not None and spec.function:
            function = import_function(spec.function, name)
        if function is not None:
            if not callable(function):
                raise InputError(f"{name}: function must be callable, got {type(function).__name__}")
            # a function that steers a known property (e.g. property=strand_fraction with the soft
            # DSSP fraction): the target must lie in the property's range, τ defaults to the
            # property's, and the report measures the exact property; any other name is the user's
            # own property, measured by the function
            if spec is None:
                spec = (DesignProperty(name, name) if name in PROPERTIES
                        else UserProperty(name, name, measure_fn=function))
            target = spec.check(r.target)
            if tol is None:
                tol = spec.tolerance if spec.tolerance is not None else DEFAULT_FUNCTION_TOLERANCE
            out.append(ResolvedTarget(name, target, scale, tol, "function", spec, function=function))
            continue
        if spec is None:
            extra = (f" ({name} is an exact property without a predictor)" if name in PROPERTIES else "")
            raise InputError(f"unknown property {name!r}{extra}; choose one of {sorted(DESIGN_PROPERTIES)}, or "
                             f"give function=your.module.property for your own differentiable property")
        target = spec.check(r.target)
        if r.predictor not in (None, "", "null"):
            path = Path(str(r.predictor))
        else:
            base = predictor_dir if predictor_dir is not None else shipped_dir()
            path = base / predictor_checkpoint_name(name)
        loaded = load_predictor(path, name, device)
        kind = str(loaded.metadata.get("task", "regression"))
        if sigma_range is not None:
            _check_sigma_range(name, path, loaded.metadata, sigma_range)
        if kind == "regression" and tol is None:
            tol = spec.tolerance if spec.tolerance is not None else 0.1
        out.append(ResolvedTarget(name, target, scale, tol, kind, spec, model=loaded.model, predictor_path=path,
                                  metadata=loaded.metadata, calibration=predictor_calibration(loaded.metadata)))
    return out


def shipped_dir() -> Path:
    """The folder of the shipped checkpoints (``proteindsm/checkpoints``)."""
    import importlib.resources
    return Path(str(importlib.resources.files("proteindsm") / "checkpoints"))


def _check_sigma_range(name: str, path: Path, meta: dict, sigma_range: tuple[float, float]) -> None:
    s = meta.get("schedule") or {}
    lo, hi = s.get("sigma_min"), s.get("sigma_max")
    if lo is None or hi is None:
        raise CheckpointError(f"predictor checkpoint {path} records no σ range")
    s_min, s_max = (float(v) for v in sigma_range)
    if s_min < 0.999 * lo or s_max > 1.001 * hi:
        raise CheckpointError(
            f"{name}: predictor {path} was trained on σ in [{lo:g}, {hi:g}] Å but sampling uses "
            f"[{s_min:g}, {s_max:g}] Å; train the predictor on the score model's schedule")


def guidance_terms(targets: Sequence[ResolvedTarget], length: int) -> list[GuidanceTerm]:
    """The guidance terms of ``targets`` for chains of ``length`` residues (summed by
    ``with_guidance``; targets with scale 0 give none)."""
    return [term for term in (t.guidance_term(length) for t in targets) if term is not None]


def predictor_calibration(metadata: dict) -> Optional[tuple[tuple[float, ...], tuple[float, ...]]]:
    """``(σ grid ascending, validation RMSE at each σ)`` recorded in a predictor checkpoint
    (``validation_rmse_per_sigma``), or None."""
    table = metadata.get("validation_rmse_per_sigma")
    if not isinstance(table, dict) or not table:
        return None
    try:
        pairs = sorted((float(k), float(v)) for k, v in table.items())
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(s) and s > 0 and math.isfinite(r) and r >= 0 for s, r in pairs):
        return None
    return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)


def radius_of_gyration_property(x: Tensor, cond: Optional[Mapping[str, Any]] = None, atoms: str = "CA") -> Tensor:
    """Differentiable radius of gyration, Å, ``(B,)`` — an example of a user property for
    ``function=proteindsm.protein.generate.targets.radius_of_gyration_property``.  ``atoms="CA"`` (the
    definition of :func:`proteindsm.protein.structure.properties.radius_of_gyration`) or ``"backbone"`` (all
    four atoms: its gradient moves whole residues, so guidance by it does not stretch N–CA–C bonds;
    select it with ``function={_target_: proteindsm.protein.generate.targets.radius_of_gyration_property,
    atoms: backbone}``).  :func:`proteindsm.protein.structure.geometry.radius_of_gyration` with ``eps`` 1e-6 Å²."""
    if atoms not in ("CA", "backbone"):
        raise InputError(f"radius_of_gyration_property: atoms must be 'CA' or 'backbone', got {atoms!r}")
    mask = None if cond is None else cond.get("mask")
    return radius_of_gyration(x, mask, atoms=atoms, eps=1e-6)
