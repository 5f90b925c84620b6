"""The thesis' NTU-Pose protocol (3.6.1) on any video, as a setting of the degradation protocol.

NTU-Pose lowers clean 1920x1080 NTU RGB+D videos to 320x180 and adds partial occlusions, then
scores the experts and SST-A on the degraded frames. The thesis scores against NTU's Kinect
skeletons; here, without them, the reference is where the experts agree on the clean
full-resolution frames (:func:`posekit.eval.reference.build_reference`), so every score is
**agreement with a clean reference, not accuracy against human labels**.

:func:`ntu_pose_options` turns a video into :class:`~posekit.workflows.protocols.degradation.ProtocolOptions`:
one degradation, :func:`ntu_degradation` (downscale to :data:`INPUT_SIZE`'s scale, then
occluders covering :data:`OCCLUSION` of each reference person's box, :mod:`posekit.eval.degrade`),
SST-A without discarding a frame (Tab. 3.1), and the fused mode scored beside thesis and
robust mode. :func:`posekit.workflows.protocols.degradation.run_protocol` does the runs and the
scoring; :func:`seconds_per_frame` times experts alone on the degraded frames, and
:func:`failure_classes` says where the reference joints a method misses are lost.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from posekit.estimators.base import EstimatorConfig
from posekit.estimators.registry import ExpertSpec
from posekit.eval.degrade import get_degradation
from posekit.eval.failures import joint_failures
from posekit.eval.reference import Matched
from posekit.io.video import probe_video
from posekit.refine.ssta import AggregationOptions
from posekit.skeleton.geometry import head_length
from posekit.skeleton.layouts import JointLayout
from posekit.workflows.extraction.experts import ExpertSet
from posekit.workflows.protocols.degradation import ProtocolOptions, run_experts_on, write_degraded

INPUT_SIZE = (320, 180)
"""NTU-Pose's degraded frame size, pixels (width, height)."""
OCCLUSION = 0.3
"""Fraction of each person box an occluder covers."""
FUSED = "sst-a fused"
"""Row name of the fused mode in the protocol's tables."""


def ntu_degradation(width: int, height: int, size: tuple[int, int] = INPUT_SIZE, occlusion: float = OCCLUSION) -> str:
    """The degradation name that takes a ``width x height`` frame to ``size``'s scale and adds occluders.

    The scale is the one that fits the frame inside ``size`` (1920x1080 -> 320x180); a frame
    already that small is only occluded.
    """
    factor = min(1.0, size[0] / width, size[1] / height)
    name = f"occlude-{occlusion:g}" if factor >= 1.0 else f"downscale-{factor:.6g}+occlude-{occlusion:g}"
    get_degradation(name)
    return name


def ntu_pose_options(
    video: Path,
    experts: Sequence[ExpertSpec],
    *,
    estimator: EstimatorConfig | None = None,
    reference_imgsz: int | None = None,
    max_frames: int | None = None,
    fused: Mapping[str, AggregationOptions] | None = None,
    seed: int = 0,
) -> ProtocolOptions:
    """The NTU-Pose protocol for ``video``: its :func:`ntu_degradation`, SST-A unfiltered, the fused variants scored.

    ``fused`` maps row names (starting with ``sst-a``) to fused-mode settings; None scores
    :data:`FUSED` at the defaults. ``reference_imgsz`` is the network input of the clean
    reference run (None: the scored runs' input size).
    """
    info = probe_video(Path(video))
    variants = dict(fused) if fused is not None else {FUSED: AggregationOptions(mode="fused")}
    return ProtocolOptions(
        experts=tuple(experts),
        degradations=(ntu_degradation(info.width, info.height),),
        estimator=estimator or EstimatorConfig(),
        reference_imgsz=reference_imgsz,
        max_frames=max_frames,
        seed=seed,
        include_clean=False,
        extra_ssta=variants,
    )


def seconds_per_frame(video: Path, options: ProtocolOptions, frames: int = 10) -> dict[str, float]:
    """Seconds per frame of each expert run alone, and of all of them together (key ``"all"``), on the degraded video.

    The first ``frames`` frames, degraded as the protocol degrades them (occluders on the full
    frame, since no reference is built here), through the extraction pipeline after one
    warm-up frame; a CPU-shared machine makes these rough.
    """
    short = replace(options, max_frames=frames)
    degradation = get_degradation(options.degradations[0])
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="posekit-ntu-") as tmp:
        source = Path(tmp) / "degraded.mkv"
        write_degraded(Path(video), source, degradation, seed=options.seed, max_frames=frames)
        groups = [((spec,), spec.label) for spec in options.experts] + [(options.experts, "all")]
        for specs, label in groups:
            experts = ExpertSet(specs, options.estimator)
            run_experts_on(source, experts, replace(short, max_frames=1), specs=specs)
            run = run_experts_on(source, experts, short, specs=specs)
            out[label] = run.seconds / max(run.num_frames, 1)
    return out


def failure_classes(m: Matched, layout: JointLayout, alpha: float = 0.5) -> dict[str, float]:
    """Where each reference joint PCKh@``alpha`` scores ends up (:func:`posekit.eval.failures.joint_failures`),
    head lengths measured on the reference skeletons."""
    ref = np.asarray(m.ref, np.float64)
    return joint_failures(ref, m.pred, m.matched, head_length(ref, layout), layout, alpha)
