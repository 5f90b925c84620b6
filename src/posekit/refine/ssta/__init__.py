"""SST-A: Selective Spatio-Temporal Aggregation of several experts' 2D poses (thesis 3.3.2).

Read in this order: :mod:`.equations` (eqs. 3.1 to 3.4 as the thesis writes them, and the
per-joint reference loop), :mod:`.options` (the one options object), :mod:`.aggregate` (the
entry point), :mod:`.thesis` (eq. 3.1 vectorised), :mod:`.robust` (our robust mode),
:mod:`.confidence` (eqs. 3.3 and 3.4 vectorised), :mod:`.kernels` (array kernels).
``docs/ssta.md`` maps each equation to its function and its test.
"""

from posekit.refine.ssta.aggregate import aggregate
from posekit.refine.ssta.confidence import confidence, gamma_filter, normaliser_length
from posekit.refine.ssta.equations import (
    DEFAULT_GAMMA,
    EPS,
    HEAD_NECK_PER_SHOULDER_WIDTH,
    HEAD_NECK_PER_TORSO,
    NORMALISER_NONE,
    NORMALISERS,
    SOURCE_FILLED,
    SOURCE_NONE,
    Aggregation,
    joint_subset,
    ssta_reference_loop,
)
from posekit.refine.ssta.options import AggregationOptions, RobustOptions
from posekit.refine.ssta.robust import body_scale, fill_gaps, smooth

__all__ = [
    "DEFAULT_GAMMA",
    "EPS",
    "HEAD_NECK_PER_SHOULDER_WIDTH",
    "HEAD_NECK_PER_TORSO",
    "NORMALISERS",
    "NORMALISER_NONE",
    "SOURCE_FILLED",
    "SOURCE_NONE",
    "Aggregation",
    "AggregationOptions",
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
