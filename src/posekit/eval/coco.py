"""Scoring skeleton shards against human keypoint labels: COCO OKS AP/AR, PCKh@0.5, PCK, MPJPE (thesis 3.6.1).

The ground truth is any file :func:`posekit.eval.gt_formats.load_ground_truth` reads (COCO,
CrowdPose, PoseTrack, MPII, AIC), on the predicted COCO-17 joints; its module docstring says
which shard frame each image is, how joints are mapped, how the PCKh head length and the OKS
area are measured. Shards in another layout are converted to COCO-17 (joints the layout cannot
give are missing predictions).

- **OKS AP/AR** (:mod:`posekit.eval.oks`, pycocotools): every prediction on a scored image,
  ranked by its person score: box score times the mean score of its joints (the mean joint
  score where the box has none).
- **PCKh@alpha, PCK@alpha, MPJPE / head, completeness, recall**: per image, predictions are
  matched to labelled persons by the Hungarian algorithm
  (:func:`posekit.eval.reference.match_frame`); an unmatched person counts as all joints
  missing. PCKh and MPJPE cover the persons with a head length only.

Each score comes with the persons and joints it covers (:attr:`CocoResult.coverage`), and a
warning names every metric that cannot cover all labelled persons, every image that maps to
no shard frame and every joint of the file that no score uses.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

import numpy as np

from posekit.core.errors import ConfigError
from posekit.core.options import check_bounds
from posekit.eval.failures import joint_failures
from posekit.eval.gt_formats import GroundTruth, GtImage, load_ground_truth
from posekit.eval.metrics import joint_errors, pck
from posekit.eval.oks import Predictions, bootstrap_ap, oks_stats
from posekit.eval.reference import match_frame, person_size
from posekit.io.shards import iter_skeleton_clips
from posekit.skeleton.convert import convert_keypoints
from posekit.skeleton.geometry import torso_size
from posekit.skeleton.layouts import COCO17, JointLayout
from posekit.skeleton.records import SkeletonClip


@dataclass(frozen=True)
class GtScoreOptions:
    """How shards are scored against ground truth."""

    pckh_alpha: float = field(
        default=0.5, metadata={"help": "PCKh threshold in head lengths (thesis: 0.5).", "min": 0.0, "min_open": True}
    )
    pck_alpha: float = field(
        default=0.2, metadata={"help": "PCK threshold in torso or box sizes.", "min": 0.0, "min_open": True}
    )
    pck_scale: Literal["torso", "box"] = field(
        default="torso", metadata={"help": "PCK normaliser: torso (left shoulder to right hip) or box (longer side)."}
    )
    bootstrap: int = field(
        default=0,
        metadata={"help": "Resamples for 95 % intervals (persons for PCKh, images for AP); 0: none.", "min": 0},
    )
    seed: int = field(default=0, metadata={"help": "Seed of the bootstrap resampling."})

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass
class CocoResult:
    """Scores of shards against ground truth.

    Attributes:
        overall: ``ap ap50 ap75 ap_medium ap_large ar ...`` (%, pycocotools), ``pckh``, ``pck``,
            ``mpjpe`` (per-joint error / head length), ``completeness`` (% of labelled joints
            predicted), ``recall`` (% of labelled persons found), ``ref_persons``, ``matched``,
            ``pred_persons``, ``mean_c``.
        coverage: ``metric -> (persons, joints)`` each score covers.
        failures: where the joints PCKh@alpha scores end up, % of them
            (:func:`posekit.eval.failures.joint_failures`: correct, missed person, wrong person,
            swapped sides, missing joint, joint error; ``joints`` the number scored).
        intervals: ``metric -> (low, high)`` 95 % bootstrap intervals (empty without bootstrap).
        warnings: one line per metric, image or joint a score leaves out.
        conf, error: ``(K,)`` C and per-pose MPJPE / head of matched aggregated poses (Fig. 3.7/3.8).
        images, images_scored: labelled images in the file, and those matched to a shard frame.
        unmatched: a few ``clip/frame`` names of images that matched no shard frame.
        layout: the layout of the shards.
        format, joints, head, area: what the ground truth is (:class:`posekit.eval.gt_formats.GroundTruth`).
    """

    overall: dict[str, float]
    coverage: dict[str, tuple[int, int]]
    intervals: dict[str, tuple[float, float]]
    warnings: list[str]
    conf: np.ndarray
    error: np.ndarray
    images: int
    images_scored: int
    unmatched: list[str] = field(default_factory=list)
    failures: dict[str, float] = field(default_factory=dict)
    layout: JointLayout = COCO17
    format: str = "coco"
    joints: tuple[str, ...] = COCO17.joints
    head: str = ""
    area: str = ""


def _tail_match(a: str, b: str) -> bool:
    pa, pb = PurePosixPath(a).parts, PurePosixPath(b).parts
    n = min(len(pa), len(pb))
    return n > 0 and pa[-n:] == pb[-n:]


def clip_candidates(clip_id: str) -> tuple[str, ...]:
    """Ground-truth clip names that designate the shard clip ``clip_id``: itself, then without its video extension."""
    p = PurePosixPath(clip_id)
    return (clip_id, p.with_suffix("").as_posix()) if p.suffix else (clip_id,)


class ClipIndex:
    """Ground-truth clips by name; a shard clip matches one equal to it or ending with it (or it with the clip)."""

    def __init__(self, clips: list[str]) -> None:
        self.by_name: dict[str, list[str]] = defaultdict(list)
        for clip in clips:
            self.by_name[PurePosixPath(clip).name].append(clip)

    def find(self, clip_id: str) -> str | None:
        for candidate in clip_candidates(clip_id):
            named = self.by_name.get(PurePosixPath(candidate).name, [])
            exact = [c for c in named if c == candidate]
            tail = [c for c in named if _tail_match(c, candidate)]
            if exact or tail:
                return (exact or tail)[0]
        return None


def frame_predictions(clip: SkeletonClip, layout: JointLayout) -> dict[int, Predictions]:
    """``{frame position t: Predictions}`` on COCO-17 of every track of ``clip`` (shards in ``layout``)."""
    rows: dict[int, list[tuple[np.ndarray, np.ndarray, float, float]]] = defaultdict(list)
    for track in clip.tracks:
        kp, sc = track.keypoints.astype(np.float64), track.joint_scores.astype(np.float64)
        if layout.name != COCO17.name:
            kp, sc = convert_keypoints(kp, sc, layout, COCO17)
        present = np.isfinite(kp).all(-1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            joint_mean = np.nanmean(np.where(present, sc, np.nan), axis=1)
        box = track.box_scores.astype(np.float64)
        score = np.nan_to_num(np.where(np.isfinite(box), box * joint_mean, joint_mean))
        for k, t in enumerate(track.t):
            rows[int(t)].append((kp[k], sc[k], float(score[k]), float(track.confidence[k])))
    return {
        t: Predictions(
            np.stack([r[0] for r in people]),
            np.stack([r[1] for r in people]),
            np.array([r[2] for r in people]),
            np.array([r[3] for r in people]),
        )
        for t, people in rows.items()
    }


def collect_predictions(
    truth: GroundTruth, shards: Path
) -> tuple[list[GtImage], list[Predictions], list[str], JointLayout]:
    """The ground-truth images found in the shards, their predictions, the unmatched ``clip/frame`` names, the layout.

    Raises ConfigError when no image maps to a shard frame, or when the shards mix layouts.
    """
    by_clip: dict[str, dict[int, int]] = defaultdict(dict)
    for k, image in enumerate(truth.images):
        by_clip[image.clip][image.frame] = k
    index = ClipIndex(list(by_clip))
    found: dict[int, Predictions] = {}
    layout: JointLayout | None = None
    for clip, info in iter_skeleton_clips(shards):
        key = index.find(clip.clip_id)
        if key is None:
            continue
        if layout is not None and info.layout.name != layout.name:
            raise ConfigError(f"{shards}: shards in layouts {layout.name} and {info.layout.name}; score them apart")
        layout = info.layout
        per_t = None
        for t, frame in enumerate(clip.frame_index):
            k = by_clip[key].get(int(frame))
            if k is not None and k not in found:
                per_t = per_t if per_t is not None else frame_predictions(clip, layout)
                found[k] = per_t.get(t, Predictions.empty())
    unmatched = [f"{img.clip}/{img.frame}" for k, img in enumerate(truth.images) if k not in found]
    if layout is None or not found:
        example = unmatched[0] if unmatched else "none"
        raise ConfigError(
            f"none of the {len(truth.images)} ground-truth images maps to a frame of the shards in {shards} "
            f"(e.g. {example}); extract the image folder itself with --photos (each image is then the clip "
            "named by its file name) or give the images 'clip_id' and 'frame_index' (see posekit.eval.gt_formats)"
        )
    order = sorted(found)
    return [truth.images[k] for k in order], [found[k] for k in order], unmatched, layout


@dataclass
class _Pooled:
    ref: np.ndarray
    pred: np.ndarray
    head: np.ndarray
    boxes: np.ndarray
    confidence: np.ndarray
    matched: np.ndarray
    predicted: int


def pool_matches(images: list[GtImage], predictions: list[Predictions]) -> _Pooled:
    """Labelled persons of ``images`` with the prediction matched to each (Hungarian, per image)."""
    refs, preds, heads, boxes, confs, hits = [], [], [], [], [], []
    predicted = 0
    for image, pred in zip(images, predictions):
        keep = image.scored
        ref = image.keypoints[keep]
        size = person_size(ref, image.boxes[keep])
        idx = match_frame(pred.keypoints, ref, size)
        hit = idx >= 0
        kp = np.full(ref.shape, np.nan)
        kp[hit] = pred.keypoints[idx[hit]]
        conf = np.full(len(ref), np.nan)
        conf[hit] = pred.confidence[idx[hit]]
        refs.append(ref)
        preds.append(kp)
        heads.append(image.head[keep])
        boxes.append(image.boxes[keep])
        confs.append(conf)
        hits.append(hit)
        predicted += len(pred.scores)
    return _Pooled(*(np.concatenate(x) for x in (refs, preds, heads, boxes, confs, hits)), predicted)


def _ratio(num: np.ndarray, den: np.ndarray) -> float:
    return 100.0 * float(num.sum()) / float(den.sum()) if den.sum() else float("nan")


def _bootstrap_ratio(num: np.ndarray, den: np.ndarray, resamples: int, rng: np.random.Generator) -> tuple[float, float]:
    """95 % percentile interval of ``100 * sum(num) / sum(den)`` resampling persons (rows) with replacement."""
    n = len(num)
    if n == 0 or resamples == 0:
        return float("nan"), float("nan")
    pick = rng.integers(0, n, (resamples, n))
    with np.errstate(invalid="ignore", divide="ignore"):
        values = 100.0 * num[pick].sum(1) / den[pick].sum(1)
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def _coverage_notes(
    truth: GroundTruth, coverage: dict[str, tuple[int, int]], n: int, unmatched: list[str], options: GtScoreOptions
) -> list[str]:
    """What the scores leave out, one line each: persons a metric cannot score, images and joints not used."""
    notes = []
    for metric, label in (("pckh", "PCKh"), ("pck", "PCK"), ("mpjpe", "MPJPE")):
        persons = coverage[metric][0]
        if persons < n:
            why = f"no head length ({truth.head} not labelled)" if metric != "pck" else f"no {options.pck_scale} size"
            notes.append(f"{label} covers {persons} of {n} labelled persons: {n - persons} have {why}")
    if unmatched:
        notes.append(
            f"{len(unmatched)} of {len(truth.images)} images map to no shard frame and are not scored "
            f"(e.g. {', '.join(unmatched[:3])})"
        )
    if truth.unlabelled:
        notes.append(f"{truth.unlabelled} persons have no labelled COCO-17 joint and are not scored")
    if truth.unscored_joints:
        notes.append(f"joints of the file no score uses: {', '.join(truth.unscored_joints)}")
    if truth.missing_images:
        notes.append(f"{len(truth.missing_images)} images are not in --images (e.g. {truth.missing_images[0]})")
    return notes


def score_shards(
    gt: Path | GroundTruth, shards: Path, options: GtScoreOptions | None = None, images: Path | None = None
) -> CocoResult:
    """Score every skeletons shard under ``shards`` against the ground-truth file ``gt`` (module docstring).

    ``images`` is the folder holding the ground-truth images (frame folders' positions).
    Raises ConfigError when no image maps to a shard frame.
    """
    truth = gt if isinstance(gt, GroundTruth) else load_ground_truth(gt, images)
    options = options or GtScoreOptions()
    scored, preds, unmatched, layout = collect_predictions(truth, shards)
    m = pool_matches(scored, preds)
    labelled = np.isfinite(m.ref).all(-1)
    predicted = np.isfinite(m.pred).all(-1) & labelled
    n = len(m.ref)
    with_head = np.isfinite(m.head) & (m.head > 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pckh_hit = np.nan_to_num(joint_errors(m.pred, m.ref), nan=np.inf) <= options.pckh_alpha * m.head[:, None]
        pckh_hit &= labelled & with_head[:, None]
        pck_scale = torso_size(m.ref, COCO17) if options.pck_scale == "torso" else person_size(m.ref, m.boxes)
        err = joint_errors(m.pred, m.ref) / m.head[:, None]
    err = np.where(predicted & with_head[:, None], err, np.nan)
    head_joints = labelled & with_head[:, None]
    has_scale = np.isfinite(pck_scale) & (pck_scale > 0)
    stats = oks_stats(scored, preds)
    overall = {k: 100.0 * v for k, v in stats.items()}
    overall["pckh"] = _ratio(pckh_hit.sum(1), head_joints.sum(1))
    overall["pck"] = 100.0 * pck(m.pred, m.ref, pck_scale, options.pck_alpha) if n else float("nan")
    overall["mpjpe"] = float(np.nanmean(err)) if np.isfinite(err).any() else float("nan")
    overall["completeness"] = _ratio(predicted.sum(1), labelled.sum(1))
    overall["recall"] = 100.0 * float(m.matched.mean()) if n else float("nan")
    overall["ref_persons"] = float(n)
    overall["matched"] = float(m.matched.sum())
    overall["pred_persons"] = float(m.predicted)
    c = m.confidence[m.matched]
    overall["mean_c"] = float(np.nanmean(c)) if np.isfinite(c).any() else float("nan")
    all_joints = int(labelled.sum())
    coverage = {
        "ap": (n, all_joints),
        "pckh": (int(with_head.sum()), int(head_joints.sum())),
        "pck": (int(has_scale.sum()), int((labelled & has_scale[:, None]).sum())),
        "mpjpe": (int(with_head.sum()), int(np.isfinite(err).sum())),
        "completeness": (n, all_joints),
        "recall": (n, all_joints),
    }
    notes = _coverage_notes(truth, coverage, n, unmatched, options)
    intervals: dict[str, tuple[float, float]] = {}
    if options.bootstrap:
        rng = np.random.default_rng(options.seed)
        intervals["pckh"] = _bootstrap_ratio(pckh_hit.sum(1), head_joints.sum(1), options.bootstrap, rng)
        lo, hi = bootstrap_ap(scored, preds, options.bootstrap, rng)
        intervals["ap"] = (100.0 * lo, 100.0 * hi)
    ok = m.matched & np.isfinite(m.confidence)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pose_error = np.nanmean(err, axis=1) if n else np.zeros(0)
    ok &= np.isfinite(pose_error)
    return CocoResult(
        overall=overall,
        coverage=coverage,
        intervals=intervals,
        warnings=notes,
        conf=m.confidence[ok],
        error=pose_error[ok],
        images=len(truth.images),
        images_scored=len(scored),
        unmatched=unmatched[:10],
        failures=joint_failures(m.ref, m.pred, m.matched, m.head, COCO17, options.pckh_alpha),
        layout=layout,
        format=truth.format,
        joints=truth.joints,
        head=truth.head,
        area=truth.area,
    )
