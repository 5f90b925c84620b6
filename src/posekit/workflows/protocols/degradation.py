"""The degradation protocol (docs/design.md "Quality and performance are measured"; the thesis' NTU-Pose, 3.6.1).

For one video (its first ``max_frames`` frames):

1. **Clean reference**: the experts run on the clean frames through the real extraction
   pipeline, and :func:`posekit.eval.reference.build_reference` keeps, per tracked person
   and frame, the joints at least two experts agree on. ``reference_imgsz`` can give the
   reference a larger network input than the runs it scores (the experts resize every frame
   to their input size, so a larger input is how the reference sees an upscaled frame).
2. **Degraded runs**: for each degradation (:mod:`posekit.eval.degrade`), the frames are
   degraded (occluders placed on the reference persons' boxes) and written to a temporary
   lossless video (FFV1, RGB, so the pixels round-trip exactly), and
   :func:`posekit.workflows.extraction.clip.propose` runs on it: the scored poses come out of
   the same decoding, detection, tracking, association and conversion code as
   ``posekit extract``, not a re-implementation of it. One run gives every expert's
   proposals (:class:`~posekit.refine.clip.ClipProposals`); each expert alone and every SST-A mode
   are then refined from them (:func:`~posekit.refine.clip.refine_clip`, as extraction refines)
   without running a model again.
3. **Scores** against the reference (:func:`posekit.eval.reference.summarise`): PCKh@0.5,
   PCK@0.2 (torso), MPJPE / head, completeness, person recall, plus the temporal jitter of
   each method's tracks and, for SST-A, the (C, error) pairs of Fig. 3.7/3.8.

SST-A runs without discarding any frame by default (``gamma=None``), as in the thesis'
Table 3.1: every aggregated pose is scored, including those whose C is undefined (no
head-neck, shoulders or torso to normalise by), which ``posekit extract`` drops (counted as
``too_few_joints``) even at ``--gamma 0``.
With a number, eq. 3.3 filters exactly as the pipeline does. The plots show what a gamma
would keep. Every number is **agreement with
a clean reference built from the same experts, never accuracy against human labels**.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from posekit.core.errors import ConfigError, VideoError
from posekit.core.options import check_bounds
from posekit.estimators.base import EstimatorConfig
from posekit.estimators.registry import ExpertSpec
from posekit.eval.degrade import DEFAULT_DEGRADATIONS, Degradation, get_degradation
from posekit.eval.reference import (
    Matched,
    PoseSet,
    ReferenceOptions,
    ScoreOptions,
    build_reference,
    concat_matched,
    confidence_error_pairs,
    make_pose_set,
    pair_up,
    poses_from_tracks,
    summarise,
    track_jitter,
)
from posekit.io.video import VideoInput, iter_frames, probe_video, write_lossless
from posekit.refine.clip import ClipProposals, refine_clip
from posekit.refine.ssta import DEFAULT_GAMMA, RobustOptions, aggregate
from posekit.refine.tracks import AggregationOptions, TrackFilterOptions, TrackProposals, stack_tracks
from posekit.skeleton.geometry import head_length, torso_size
from posekit.skeleton.layouts import COCO17, JointLayout
from posekit.workflows.extraction.clip import propose
from posekit.workflows.extraction.experts import ExpertSet
from posekit.workflows.extraction.options import ExtractOptions

CLEAN = "none"
MEAN_ROW = "mean (degraded)"
COLUMNS = (
    "degradation",
    "method",
    "pckh",
    "pck",
    "mpjpe",
    "completeness",
    "jitter",
    "recall",
    "mean_c",
    "ref_persons",
    "matched",
    "pred_persons",
)
"""Columns of the table rows (CSV order)."""


def ssta_methods(gamma: float = DEFAULT_GAMMA) -> dict[str, AggregationOptions]:
    """The SST-A variants the protocol scores: thesis mode, robust mode, robust + Savitzky-Golay smoothing."""
    return {
        "sst-a thesis": AggregationOptions(mode="thesis", gamma=gamma),
        "sst-a robust": AggregationOptions(mode="robust", gamma=gamma),
        "sst-a robust+savgol": AggregationOptions(mode="robust", gamma=gamma, robust=RobustOptions(smooth="savgol")),
    }


@dataclass(frozen=True)
class ProtocolOptions:
    """Settings of :func:`run_protocol`.

    ``experts`` (two or more: SST-A and the reference need them), ``estimator`` (device, ``imgsz`` of the scored
    runs) and ``layout`` are set by the caller; ``extra_ssta`` adds SST-A variants scored beside
    :func:`ssta_methods` (ablations, names starting with ``sst-a``, no model run); ``students`` are single experts
    run alone on every version of the clip and scored beside the experts (e.g. a self-trained student, thesis
    3.3.3), taking no part in the reference or in SST-A.
    """

    experts: tuple[ExpertSpec, ...] = field(metadata={"cli": False})
    degradations: tuple[str, ...] = field(
        default=DEFAULT_DEGRADATIONS,
        metadata={"help": "Comma-separated: downscale-F, occlude-F, blur-SIGMA, jpeg-Q; combine with '+'."},
    )
    estimator: EstimatorConfig = field(default_factory=EstimatorConfig, metadata={"cli": False})
    reference_imgsz: int | None = field(
        default=None, metadata={"help": "Input size for the clean reference run (default: --imgsz).", "min": 32}
    )
    max_frames: int | None = field(default=None, metadata={"help": "Use the first N frames only.", "min": 1})
    batch_size: int = field(default=8, metadata={"help": "Frames per inference batch.", "min": 1})
    seed: int = field(default=0, metadata={"help": "Seed of the random occluders."})
    gamma: float | None = field(
        default=None,
        metadata={
            "help": "Eq. 3.3 filter of the scored SST-A modes (default: discard nothing, as thesis Table 3.1).",
            "min": 0,
            "max": 1,
        },
    )
    plot_gamma: float = field(
        default=DEFAULT_GAMMA, metadata={"help": "Gamma drawn in the C plots.", "min": 0, "max": 1}
    )
    include_clean: bool = field(
        default=True, metadata={"help": "Also score the clean frames (a ceiling: the reference comes from them)."}
    )
    min_joint_score: float = field(
        default=0.3, metadata={"help": "Joints an expert scores below this count as missing.", "min": 0, "max": 1}
    )
    layout: JointLayout = field(default=COCO17, metadata={"cli": False})
    reference: ReferenceOptions = field(default_factory=ReferenceOptions)
    scoring: ScoreOptions = field(default_factory=ScoreOptions)
    extra_ssta: dict[str, AggregationOptions] = field(default_factory=dict, metadata={"cli": False})
    students: dict[str, ExpertSpec] = field(default_factory=dict, metadata={"cli": False})

    def __post_init__(self) -> None:
        check_bounds(self)
        for name in self.extra_ssta:
            if not name.startswith("sst-a"):
                raise ConfigError(f"extra SST-A variant {name!r}: names start with 'sst-a'")
        if len(self.experts) < 2:
            raise ConfigError("the degradation protocol needs at least two experts (the reference is their agreement)")
        for name in self.degradations:
            get_degradation(name)

    def settings(self) -> dict:
        """The options, JSON-ready."""
        return {
            "experts": [s.label for s in self.experts],
            "degradations": list(self.degradations),
            "imgsz": self.estimator.imgsz,
            "reference_imgsz": self.reference_imgsz or self.estimator.imgsz,
            "device": self.estimator.resolve(),
            "max_frames": self.max_frames,
            "seed": self.seed,
            "gamma": self.gamma,
            "plot_gamma": self.plot_gamma,
            "min_joint_score": self.min_joint_score,
            "layout": self.layout.name,
            "reference": asdict(self.reference),
            "scoring": asdict(self.scoring),
            "extra_ssta": {name: agg.settings() for name, agg in self.extra_ssta.items()},
            "students": {name: spec.label for name, spec in self.students.items()},
        }


@dataclass
class ProtocolResult:
    """What :func:`run_protocol` returns.

    Attributes:
        rows: one dict per (degradation, method) with :data:`COLUMNS`, then the per-method
            means over the degraded conditions (degradation :data:`MEAN_ROW`).
        gains: per degradation, the best expert's PCKh and each SST-A method's gain over it.
        pairs: per SST-A method, ``(C, error)`` ``(K,)`` arrays pooled over the degraded conditions.
        meta: video, frames, settings, reference statistics, seconds per run.
        matched: per degradation and method, the predictions lined up with the reference.
    """

    rows: list[dict]
    gains: list[dict]
    pairs: dict[str, tuple[np.ndarray, np.ndarray]]
    meta: dict
    matched: dict[str, dict[str, Matched]] = field(default_factory=dict)


def run_experts_on(
    video: Path,
    experts: ExpertSet,
    options: ProtocolOptions,
    on_frames: Callable[[int], None] | None = None,
    specs: tuple[ExpertSpec, ...] | None = None,
) -> ClipProposals:
    """Every expert's proposals on ``video``, from the extraction pipeline's own propose step.

    ``specs``: the specs ``experts`` was built from, when not ``options.experts`` (a student).
    """
    extract = ExtractOptions(
        experts=specs or options.experts,
        estimator=options.estimator,
        layout=options.layout.name,
        batch_size=options.batch_size,
        max_frames=options.max_frames,
        min_joint_score=options.min_joint_score,
    )
    proposals, _ = propose(VideoInput(Path(video), Path(video).name), experts, extract, on_frames)
    return proposals


def write_degraded(
    source: Path,
    out: Path,
    degradation: Degradation,
    *,
    boxes: Sequence[np.ndarray] | None = None,
    seed: int = 0,
    max_frames: int | None = None,
) -> int:
    """Write the first ``max_frames`` frames of ``source``, degraded, to a lossless FFV1 video ``out``.

    ``boxes[t]`` ``(P, 4)`` xyxy pixels are frame ``t``'s persons (for occluders). Frames
    are streamed, never all held. Returns the number of frames written.
    """
    boxes = boxes if boxes is not None else ()
    images = (
        degradation.apply(f.image, seed=seed, frame_index=t, boxes=boxes[t] if t < len(boxes) else None)
        for t, f in enumerate(iter_frames(source, None, max_frames))
    )
    return write_lossless(out, images, probe_video(source))


def boxes_per_frame(poses: PoseSet) -> list[np.ndarray]:
    """``[t] -> (P_t, 4)`` boxes of the persons of each frame."""
    bounds = poses.frame_bounds()
    return [poses.boxes[bounds[t] : bounds[t + 1]] for t in range(poses.num_frames)]


def method_tracks(run: ClipProposals, options: ProtocolOptions) -> dict[str, PoseSet]:
    """Each expert alone and every SST-A method (:func:`ssta_methods`, ``extra_ssta``) on one run, as pose sets.

    With a ``gamma``, each is refined as extraction refines (:func:`~posekit.refine.clip.refine_clip`, no person
    filter); without, SST-A keeps every frame (:func:`unfiltered_poses`)."""
    out = {name: refined_poses(run.of_expert(m), AggregationOptions(), options) for m, name in enumerate(run.experts)}
    gamma = DEFAULT_GAMMA if options.gamma is None else options.gamma
    stacks = stack_tracks(run.per_expert, options.min_joint_score) if options.gamma is None else []
    for name, agg in {**ssta_methods(gamma), **options.extra_ssta}.items():
        if options.gamma is None:
            out[name] = unfiltered_poses(stacks, agg, run.num_frames, options.layout)
        else:
            out[name] = refined_poses(run, agg, options)
    return out


def refined_poses(run: ClipProposals, aggregation: AggregationOptions, options: ProtocolOptions) -> PoseSet:
    """The skeleton tracks extraction would make of ``run`` (without person filters), as a pose set."""
    clip, _ = refine_clip(run, aggregation, options.min_joint_score, TrackFilterOptions(), with_3d=False)
    return poses_from_tracks(clip.tracks, run.num_frames, options.layout)


def unfiltered_poses(
    stacks: Sequence[TrackProposals], agg: AggregationOptions, num_frames: int, layout: JointLayout
) -> PoseSet:
    """SST-A (eq. 3.1, 3.4) on every track without the eq. 3.3 filter: every frame with an aggregated joint."""
    parts = []
    for s in stacks:
        res = aggregate(s.keypoints, agg, scores=s.joint_scores, layout=layout)
        has = np.isfinite(res.keypoints).all(-1).any(-1)
        parts.append(
            (s.t[has], res.keypoints[has], s.boxes[has], np.full(int(has.sum()), s.track_id), res.confidence[has])
        )
    if not parts:
        return make_pose_set(np.zeros(0), np.zeros((0, layout.num_joints, 2)), num_frames, layout)
    t, kp, boxes, tid, conf = (np.concatenate(p) for p in zip(*parts))
    return make_pose_set(t, kp, num_frames, layout, boxes=boxes, track_id=tid, confidence=conf)


def score_run(
    run: ClipProposals, reference: PoseSet, options: ProtocolOptions, degradation: str
) -> tuple[list[dict], dict[str, Matched]]:
    """Rows (one per method) of one run against the reference, and each method's matches."""
    if run.num_frames != reference.num_frames:
        raise VideoError(f"the {degradation} run decoded {run.num_frames} frames, the reference {reference.num_frames}")
    rows, matches = [], {}
    for method, poses in method_tracks(run, options).items():
        m = pair_up(poses, reference)
        row = {"degradation": degradation, "method": method, **summarise(m, options.layout, options.scoring)}
        row["jitter"] = track_jitter(poses)
        rows.append({k: row[k] for k in COLUMNS})
        matches[method] = m
    return rows, matches


def mean_rows(rows: Sequence[dict]) -> list[dict]:
    """Per method, the mean of each score over the degraded conditions (not the clean one)."""
    out = []
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for method in methods:
        picked = [r for r in rows if r["method"] == method and r["degradation"] not in (CLEAN, MEAN_ROW)]
        if not picked:
            continue
        row = {"degradation": MEAN_ROW, "method": method}
        for key in COLUMNS[2:]:
            values = [r[key] for r in picked if r.get(key) is not None and math.isfinite(r[key])]
            row[key] = float(np.mean(values)) if values else float("nan")
        out.append(row)
    return out


def gains(rows: Sequence[dict], experts: Sequence[str], metric: str = "pckh") -> list[dict]:
    """Per degradation: the best expert by ``metric`` and each SST-A method's difference to it (points)."""
    out = []
    for degradation in dict.fromkeys(r["degradation"] for r in rows):
        here = {r["method"]: r[metric] for r in rows if r["degradation"] == degradation}
        scored = {e: here[e] for e in experts if e in here and math.isfinite(here[e])}
        if not scored:
            continue
        best = max(scored, key=scored.get)
        entry = {"degradation": degradation, "metric": metric, "best_expert": best, "best": scored[best]}
        for method, value in here.items():
            if method.startswith("sst-a"):
                entry[method] = value - scored[best]
        out.append(entry)
    return out


def score_student(
    run: ClipProposals, name: str, reference: PoseSet, options: ProtocolOptions, degradation: str
) -> dict:
    """The row of a student run alone (its own detection and tracking) against the reference."""
    poses = refined_poses(run.of_expert(0), AggregationOptions(), options)
    row = {"degradation": degradation, "method": name, **summarise(pair_up(poses, reference), options.layout)}
    row["jitter"] = track_jitter(poses)
    return {k: row[k] for k in COLUMNS}


def run_protocol(
    video: Path,
    options: ProtocolOptions,
    *,
    on_stage: Callable[[str, int], None] | None = None,
    on_frames: Callable[[int], None] | None = None,
) -> ProtocolResult:
    """Build the clean reference of ``video``, run every degradation, score every method.

    ``on_stage(name, frames)`` is called before each run (``"reference"``, then each
    degradation); ``on_frames(n)`` as frames are processed. Raises :class:`VideoError` when
    the clean reference has no person (nothing to score against).
    """
    video = Path(video)
    started = time.perf_counter()
    experts = ExpertSet(options.experts, options.estimator)
    clean_run, reference, same_ref = _clean_reference(video, options, experts, on_stage, on_frames)
    students = {name: ExpertSet((spec,), options.estimator) for name, spec in options.students.items()}
    scores = _Scores(seconds={"reference": round(clean_run.seconds, 2)})
    boxes = boxes_per_frame(reference)
    names = ([CLEAN] if options.include_clean else []) + [n for n in options.degradations if n != CLEAN]
    with tempfile.TemporaryDirectory(prefix="posekit-degrade-") as tmp:
        for name in names:
            if on_stage:
                on_stage(name, clean_run.num_frames)
            reuse = clean_run if name == CLEAN and same_ref else None
            _score_condition(
                name, video, Path(tmp), experts, students, reuse, reference, boxes, options, on_frames, scores
            )
    pairs = {
        method: confidence_error_pairs(concat_matched(parts, options.layout), options.layout)
        for method, parts in scores.pooled.items()
        if method.startswith("sst-a")
    }
    all_rows = scores.rows + mean_rows(scores.rows)
    meta = {
        "video": str(video),
        "frames": clean_run.num_frames,
        "settings": options.settings(),
        "reference": reference_stats(reference),
        "reference_jitter": track_jitter(reference),
        "seconds": {**scores.seconds, "total": round(time.perf_counter() - started, 2)},
        "note": "agreement with a clean reference built from the same experts, not accuracy against human labels",
    }
    return ProtocolResult(all_rows, gains(all_rows, clean_run.experts), pairs, meta, scores.matched)


@dataclass
class _Scores:
    """What the conditions of one protocol run gave: score rows, matched poses per method (pooled over the
    degradations, and per condition) and seconds per run."""

    rows: list[dict] = field(default_factory=list)
    pooled: dict[str, list[Matched]] = field(default_factory=dict)
    matched: dict[str, dict[str, Matched]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _clean_reference(
    video: Path,
    options: ProtocolOptions,
    experts: ExpertSet,
    on_stage: Callable[[str, int], None] | None,
    on_frames: Callable[[int], None] | None,
) -> tuple[ClipProposals, PoseSet, bool]:
    """The experts' run on the clean frames (at ``reference_imgsz`` when set), the reference built from it, and
    whether that run used the scored runs' settings (so the clean condition can reuse it)."""
    declared = probe_video(video).declared_frames
    expected = min(d for d in (declared, options.max_frames) if d) if declared or options.max_frames else 0
    same_ref = options.reference_imgsz in (None, options.estimator.imgsz)
    if same_ref:
        ref_experts, ref_options = experts, options
    else:
        ref_options = replace(options, estimator=replace(options.estimator, imgsz=options.reference_imgsz))
        ref_experts = ExpertSet(options.experts, ref_options.estimator)
    if on_stage:
        on_stage("reference", expected)
    clean_run = run_experts_on(video, ref_experts, ref_options, on_frames)
    reference = build_reference(clean_run.per_expert, options.layout, options.reference, options.min_joint_score)
    if not len(reference):
        raise VideoError(
            f"{video}: the experts agree on no person in the clean frames, so there is no reference to score "
            f"against (small people need a larger --imgsz, e.g. 1280)"
        )
    return clean_run, reference, same_ref


def _score_condition(
    name: str,
    video: Path,
    tmp: Path,
    experts: ExpertSet,
    students: dict[str, ExpertSet],
    reuse: ClipProposals | None,
    reference: PoseSet,
    boxes: list[np.ndarray],
    options: ProtocolOptions,
    on_frames: Callable[[int], None] | None,
    scores: _Scores,
) -> None:
    """Run the experts (``reuse``: the clean reference run instead) and every student on ``video`` under the
    degradation ``name`` (written to a lossless file in ``tmp``, occluders placed on the reference ``boxes``), and
    add their scores to ``scores``."""
    source = video
    if name != CLEAN:
        source = tmp / "degraded.mkv"
        write_degraded(
            video, source, get_degradation(name), boxes=boxes, seed=options.seed, max_frames=options.max_frames
        )
    run = reuse
    if run is None:
        run = run_experts_on(source, experts, options, on_frames)
    elif on_frames:
        on_frames(run.num_frames)
    scores.seconds[name] = round(run.seconds, 2)
    run_rows, matches = score_run(run, reference, options, name)
    scores.matched[name] = matches
    scores.rows.extend(run_rows)
    for student, student_set in students.items():
        srun = run_experts_on(source, student_set, options, on_frames, specs=(options.students[student],))
        scores.seconds[f"{student} @ {name}"] = round(srun.seconds, 2)
        scores.rows.append(score_student(srun, student, reference, options, name))
    if source != video:
        source.unlink()
    if name != CLEAN:
        for method, m in matches.items():
            scores.pooled.setdefault(method, []).append(m)


def reference_stats(reference: PoseSet) -> dict:
    """Size of the reference: person-frames, tracks, joints kept, mean support per kept joint, and the
    % of person-frames PCKh (head length known) and PCK (torso known) can score."""
    kept = reference.support > 0
    n = len(reference)
    head = np.isfinite(head_length(reference.keypoints, reference.layout))
    torso = np.isfinite(torso_size(reference.keypoints, reference.layout))
    return {
        "person_frames": n,
        "tracks": len(np.unique(reference.track_id)),
        "frames_with_persons": len(np.unique(reference.t)),
        "joints_kept_pct": float(100 * kept.mean()) if kept.size else float("nan"),
        "mean_support": float(reference.support[kept].mean()) if kept.any() else float("nan"),
        "pckh_scorable_pct": float(100 * head.mean()) if n else float("nan"),
        "pck_scorable_pct": float(100 * torso.mean()) if n else float("nan"),
    }
