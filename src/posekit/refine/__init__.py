"""Refinement of expert poses: SST-A (:mod:`posekit.refine.ssta`, thesis 3.3), the tracker and per-person tracks."""
