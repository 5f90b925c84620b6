"""Pose experts behind one protocol and two bases, looked up by name (built-ins and entry points)."""

from posekit.estimators.base import (
    CropPoses,
    Estimator,
    EstimatorConfig,
    OneStageExpert,
    OneStageOptions,
    TopDownExpert,
    TopDownOptions,
)
from posekit.estimators.registry import EXPERTS, ExpertSpec, build_estimator, parse_experts

__all__ = [
    "EXPERTS",
    "CropPoses",
    "Estimator",
    "EstimatorConfig",
    "ExpertSpec",
    "OneStageExpert",
    "OneStageOptions",
    "TopDownExpert",
    "TopDownOptions",
    "build_estimator",
    "parse_experts",
]
