"""cdr_utils: density-ratio rewards (CDR, arXiv 2411.02481) and reward-augmented preference data
(arXiv 2410.08067), computed exactly from causal-LM response log-probabilities.

The core (this package's top-level modules) takes plain arguments: models, data, options. The notebooks' layer,
which turns a profile into core calls and keeps the artifacts notebooks hand to each other, is
`cdr_utils.studies`; the core never imports it.
"""
from .chat import ChatEncoder, RecordError
from .customize import Customization
from .logprobs import LogProbScorer, ScoreResult
from .models import ModelNotAvailable, ModelSpec, load_model
from .pairs import build_pairs, reward_augment
from .benchmarks.rewardbench import evaluate
from .rewards import DensityRatioReward, RewardResult, density_ratio, score_candidates

__all__ = ["ChatEncoder", "Customization", "DensityRatioReward", "LogProbScorer", "ModelNotAvailable", "ModelSpec",
           "RecordError", "RewardResult", "ScoreResult", "build_pairs", "density_ratio", "evaluate", "load_model",
           "reward_augment", "score_candidates"]
__version__ = "0.1.0"
