"""Pose experts behind one protocol, looked up by name."""

from posekit.estimators.base import Estimator, EstimatorConfig
from posekit.estimators.registry import EXPERTS, ExpertSpec, build_estimator, parse_experts

__all__ = ["EXPERTS", "Estimator", "EstimatorConfig", "ExpertSpec", "build_estimator", "parse_experts"]
