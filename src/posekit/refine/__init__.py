"""Refinement of expert poses: SST-A aggregation, confidence and filtering (thesis 3.3), tracks."""

from posekit.refine.ssta import (
    DEFAULT_GAMMA,
    SOURCE_FILLED,
    SOURCE_NONE,
    Aggregation,
    RobustOptions,
    aggregate,
    body_scale,
    confidence,
    fill_gaps,
    gamma_filter,
    joint_subset,
    normaliser_length,
    smooth,
    ssta_reference_loop,
)

__all__ = [
    "DEFAULT_GAMMA",
    "SOURCE_FILLED",
    "SOURCE_NONE",
    "Aggregation",
    "RobustOptions",
    "aggregate",
    "body_scale",
    "confidence",
    "fill_gaps",
    "gamma_filter",
    "joint_subset",
    "normaliser_length",
    "smooth",
    "ssta_reference_loop",
]
