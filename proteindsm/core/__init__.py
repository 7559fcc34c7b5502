"""Domain-agnostic denoising score matching: schedules, losses, samplers, guidance, EMA, trainer.

Imports torch only — never protein, image or toy code.  Quick tour::

    from proteindsm.core import (GeometricSchedule, DSMObjective, Trainer, TrainConfig, EDMPreconditioning,
                                 AnnealedLangevin, ReverseSDE, ProbabilityFlowODE, prior_sample,
                                 with_guidance, ClassifierGuidance)
"""

from .checkpoint import Checkpoint, load_checkpoint, load_weights_into, read_metadata, save_checkpoint
from .denoiser import (DenoiserScore, EDMCoefficients, EDMPreconditioning, NoisePredictionPreconditioning,
                       denoised_estimate, edm_coefficients, score_from_denoised)
from .ema import EMA
from .free_guidance import ClassifierFreeGuidance
from .conditioning import KnownPart, ReconstructionGuidance, Replacement, with_conditioning
from .guidance import (CalibratedRegressionGuidance, ClassifierGuidance, DenoisedPropertyGuidance, Evaluation, GuidanceTerm,
                       NoiseAwareDenoisedGuidance, PotentialGuidance, ProjectionGuidance, RegressionGuidance,
                       grad_of_log_likelihood, with_guidance)
from .loss import DenoisedLoss, DSMObjective, SlicedScoreMatchingObjective, dsm_loss, sliced_score_matching_loss, sum_of_denoised_losses
from .sampler_base import SampleResult, Sampler, check_sigmas, prior_sample
from .samplers import AnnealedLangevin, EDMStochastic, ProbabilityFlowODE, ReverseSDE
from .schedules import GeometricSchedule, sampling_sigmas
from .self_conditioning import SELF_COND_KEY, SelfConditioning, self_conditioned_cond
from .training import TrainConfig, Trainer, TrainResult, ValidationSet, resolve_device
from .types import Batch, LossOutput, Objective, ProjectFn, ScoreFn, apply_mask, expand_like, identity_project

__all__ = [name for name in dir() if not name.startswith("_")]
