"""cdr_utils: density-ratio rewards (CDR, arXiv 2411.02481) and reward-augmented preference data
(arXiv 2410.08067), computed exactly from causal-LM response log-probabilities."""
from .chat import ChatEncoder, RecordError
from .logprobs import LogProbScorer, ScoreResult
from .models import ModelNotAvailable, load_model
from .profiles import get_profile
from .rewards import DensityRatioReward, RewardResult, density_ratio

__all__ = ["ChatEncoder", "DensityRatioReward", "LogProbScorer", "ModelNotAvailable", "RecordError",
           "RewardResult", "ScoreResult", "density_ratio", "get_profile", "load_model"]
__version__ = "0.1.0"
