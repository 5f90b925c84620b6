"""Refinement of expert poses: SST-A aggregation, confidence and filtering (thesis 3.3)."""

from posekit.eval.metrics import completeness, jitter
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
from posekit.refine.ssta_io import DEMO_EXPERTS, ProposalStack, find_demo_dir, load_expert_npz, load_ssta_demo

__all__ = [
    "DEFAULT_GAMMA",
    "DEMO_EXPERTS",
    "SOURCE_FILLED",
    "SOURCE_NONE",
    "Aggregation",
    "ProposalStack",
    "RobustOptions",
    "aggregate",
    "body_scale",
    "completeness",
    "confidence",
    "fill_gaps",
    "find_demo_dir",
    "gamma_filter",
    "jitter",
    "joint_subset",
    "load_expert_npz",
    "load_ssta_demo",
    "normaliser_length",
    "smooth",
    "ssta_reference_loop",
]
