"""Pose quality metrics and scoring.

``metrics`` (pure array metrics), ``degrade`` (seeded degradations), ``reference`` (clean
reference and per-frame matching), ``coco`` (scoring against COCO-keypoints ground truth) and
``plots`` (thesis Fig. 3.7/3.8). The protocols that run experts live in
:mod:`posekit.workflows.protocols`.
"""

from posekit.eval.metrics import completeness, jitter, joint_errors, mpjpe_normalised, pck, pckh

__all__ = ["completeness", "jitter", "joint_errors", "mpjpe_normalised", "pck", "pckh"]
