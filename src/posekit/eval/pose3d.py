"""3D poses against motion-capture labels: MPJPE (root-aligned) and PA-MPJPE, in millimetres.

Labels come in MMPose's body3d ``.npz`` layout, one row per labelled person: ``imgname``, ``S`` ``(N, V, 4)``
camera coordinates + visibility, ``part`` ``(N, V, 3)`` pixels + visibility, ``center`` ``(N, 2)`` pixels and
``scale`` ``(N,)`` (the person box's side / 200). The joint order is Human3.6M's or MPI-INF-3DHP's 17
(:data:`~posekit.skeleton.layouts.H36M17`, :data:`~posekit.skeleton.layouts.MPI_INF_3DHP17`), told apart by
which joint is the midpoint of the hips unless named; ``S`` is read in metres or millimetres (MMPose's files use
both), as named or by its size: no labelled person stands 50 m from a camera, none is 50 mm across.

Predictions are mapped onto the label's joints by joint meaning (:mod:`posekit.skeleton.convert`); the joints
scored are the labelled ones the prediction's layout gives, the root left out (its error is 0 once
root-aligned): the 12 limb joints from COCO-17, Posetics-17 or BlazePose-33. Both sides are root-aligned on
their midpoint of the hips. PA-MPJPE first aligns each predicted pose to its label by the similarity transform
(scale, rotation, translation) that fits it best in least squares (Procrustes analysis).

A labelled person is matched to the predictions of its image (the shard frame the image designates, as
:mod:`posekit.eval.gt_formats` says) by its 2D joints (``part``), as the 2D scores match persons
(:func:`posekit.eval.reference.match_frame`); a person without a match, or matched to a pose without 3D, is
counted and not scored.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from posekit.core.errors import ConfigError
from posekit.core.options import check_bounds
from posekit.estimators.base import Estimator
from posekit.eval.coco import ClipIndex
from posekit.eval.gt_formats import ImageResolver
from posekit.eval.reference import match_frame
from posekit.io.shards import iter_skeleton_clips
from posekit.skeleton.convert import conversion_matrix, convert_keypoints
from posekit.skeleton.layouts import COCO17, H36M17, MPI_INF_3DHP17, JointLayout

GT3D_LAYOUTS = {layout.name: layout for layout in (H36M17, MPI_INF_3DHP17)}
ROOT = "mid_hip"
MM_PER_METRE = 1000.0
LARGEST_METRES = 50.0
"""``S`` whose median absolute coordinate exceeds this is read as millimetres (``unit="auto"``)."""


@dataclass(frozen=True)
class Gt3dOptions:
    """How a 3D labels file is read."""

    gt3d_layout: Literal["auto", "h36m17", "mpi_inf_3dhp17"] = field(
        default="auto",
        metadata={
            "help": "Joint order of the labels' S (auto: the one whose root is the midpoint of the hips).",
            "panel": "3D labels",
        },
    )
    gt3d_unit: Literal["auto", "m", "mm"] = field(
        default="auto",
        metadata={
            "help": "Unit of the labels' S (auto: millimetres when its values are above 50).",
            "panel": "3D labels",
        },
    )

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass
class Gt3d:
    """A 3D labels file, read.

    Attributes:
        layout: the labels' joint layout.
        unit: ``"m"`` or ``"mm"``, the unit ``S`` was read in.
        images: ``(N,)`` the image of each labelled person, as the file names it.
        clips, frames: ``(N,)`` the shard clip and frame each image designates.
        joints: ``(N, V, 3)`` float64 metres, camera axes, NaN where not labelled.
        joints_2d: ``(N, V, 2)`` float64 pixels, NaN where not labelled.
        boxes: ``(N, 4)`` float64 xyxy pixels of the labelled person box.
    """

    layout: JointLayout
    unit: str
    images: list[str]
    clips: list[str]
    frames: list[int]
    joints: np.ndarray
    joints_2d: np.ndarray
    boxes: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


def _detect_layout(S: np.ndarray) -> JointLayout:
    """The layout in which the labels' root lies midway between their hips (smallest mean gap)."""
    gaps = {}
    for layout in GT3D_LAYOUTS.values():
        hips = S[:, layout.indices(["left_hip", "right_hip"]), :3].mean(axis=1)
        gaps[layout.name] = float(np.nanmean(np.linalg.norm(S[:, layout.index(ROOT), :3] - hips, axis=-1)))
    return GT3D_LAYOUTS[min(gaps, key=gaps.__getitem__)]


def load_gt3d(path: Path, options: Gt3dOptions | None = None, images: Path | None = None) -> Gt3d:
    """Read an MMPose body3d ``.npz`` (module docstring); ``images``: the folder of the labelled images."""
    options = options or Gt3dOptions()
    try:
        doc = np.load(path, allow_pickle=False)
        S, names = np.asarray(doc["S"], np.float64), [str(n) for n in doc["imgname"]]
        part, center, scale = np.asarray(doc["part"]), np.asarray(doc["center"]), np.asarray(doc["scale"])
    except FileNotFoundError:
        raise ConfigError(f"--gt3d {path}: file not found") from None
    except (OSError, ValueError, KeyError) as exc:
        message = f"--gt3d {path}: not an MMPose body3d .npz with imgname, S, part, center, scale ({exc})"
        raise ConfigError(message) from None
    if S.ndim != 3 or S.shape[1:] != (17, 4) or part.shape[:2] != S.shape[:2]:
        raise ConfigError(f"--gt3d {path}: S is {S.shape} and part {part.shape}; expected (N, 17, 4) and (N, 17, 3)")
    layout = _detect_layout(S) if options.gt3d_layout == "auto" else GT3D_LAYOUTS[options.gt3d_layout]
    unit = options.gt3d_unit
    if unit == "auto":
        unit = "mm" if np.nanmedian(np.abs(S[..., :3])) > LARGEST_METRES else "m"
    joints = np.where(S[..., 3:] > 0, S[..., :3], np.nan) / (MM_PER_METRE if unit == "mm" else 1.0)
    side = np.asarray(scale, np.float64).reshape(-1) * 200.0
    centre = np.asarray(center, np.float64).reshape(-1, 2)
    resolve = ImageResolver(images)
    placed = [resolve({"file_name": name}, Path(path)) for name in names]
    return Gt3d(
        layout,
        unit,
        names,
        [clip for clip, _ in placed],
        [frame for _, frame in placed],
        joints,
        np.where(part[..., 2:] > 0, part[..., :2], np.nan).astype(np.float64),
        np.concatenate([centre - side[:, None] / 2, centre + side[:, None] / 2], axis=1),
    )


def scored_joints(pred_layout: JointLayout | str, gt_layout: JointLayout) -> np.ndarray:
    """``(J,)`` indices of the labels' joints a prediction in ``pred_layout`` gives by meaning, root left out."""
    pred_name = pred_layout if isinstance(pred_layout, str) else pred_layout.name
    given = conversion_matrix(pred_name, gt_layout.name).any(axis=1)
    given[gt_layout.index(ROOT)] = False
    return np.flatnonzero(given)


def root_aligned(joints: np.ndarray, layout: JointLayout) -> np.ndarray:
    """``(..., V, 3)`` joints minus their midpoint of the hips."""
    hips = joints[..., layout.indices(["left_hip", "right_hip"]), :].mean(axis=-2, keepdims=True)
    return joints - hips


def procrustes_aligned(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``pred`` ``(J, 3)`` moved by the similarity transform (scale, rotation, no reflection, translation) that
    brings it closest to ``gt`` ``(J, 3)`` in least squares; both without NaN."""
    mu_pred, mu_gt = pred.mean(axis=0), gt.mean(axis=0)
    p, g = pred - mu_pred, gt - mu_gt
    U, s, Vt = np.linalg.svd(p.T @ g)
    d = np.sign(np.linalg.det(U @ Vt)) or 1.0
    D = np.diag([1.0, 1.0, d])
    rotation = U @ D @ Vt
    scale = float(np.trace(np.diag(s) @ D)) / float((p**2).sum())
    return scale * p @ rotation + mu_gt


@dataclass
class Pose3dScore:
    """Per labelled person: MPJPE and PA-MPJPE (mm, NaN where not scored) and why a person was not scored.

    Attributes:
        mpjpe, pa_mpjpe: ``(N,)`` mm, mean over the person's scored joints.
        joints: ``(N,)`` joints scored per person.
        status: ``(N,)`` ``"scored"``, ``"no match"`` (no predicted person there) or ``"no 3d"``.
        joint_names: the joints that can be scored.
    """

    mpjpe: np.ndarray
    pa_mpjpe: np.ndarray
    joints: np.ndarray
    status: list[str]
    joint_names: tuple[str, ...]

    def overall(self) -> dict[str, float | int]:
        """Both errors over every scored joint of every scored person (mm), and the counts they cover."""
        n = self.joints
        total = int(n.sum())
        pooled = {
            key: float(np.nansum(values * n) / total) if total else float("nan")
            for key, values in (("mpjpe", self.mpjpe), ("pa_mpjpe", self.pa_mpjpe))
        }
        counts = {s: self.status.count(s) for s in ("scored", "no match", "no 3d")}
        return {
            **pooled,
            "persons": len(self.status),
            **{k.replace(" ", "_"): v for k, v in counts.items()},
            "joints": total,
        }


def score_3d(pred: list[np.ndarray | None], gt: Gt3d, pred_layout: JointLayout | str) -> Pose3dScore:
    """Score ``pred[i]``, the ``(V_pred, 3)`` metres matched to labelled person ``i`` in ``pred_layout`` (None:
    no match), against ``gt``."""
    joints = scored_joints(pred_layout, gt.layout)
    N = len(gt)
    mpjpe, pa, counted = np.full(N, np.nan), np.full(N, np.nan), np.zeros(N, np.int64)
    status = []
    for i, pose in enumerate(pred):
        if pose is None:
            status.append("no match")
            continue
        mapped, _ = convert_keypoints(pose, None, pred_layout, gt.layout)
        p, g = root_aligned(mapped.astype(np.float64), gt.layout)[joints], root_aligned(gt.joints[i], gt.layout)[joints]
        ok = np.isfinite(p).all(-1) & np.isfinite(g).all(-1)
        if not ok.any():
            status.append("no 3d")
            continue
        status.append("scored")
        counted[i] = int(ok.sum())
        mpjpe[i] = MM_PER_METRE * float(np.linalg.norm(p[ok] - g[ok], axis=-1).mean())
        if ok.sum() >= 3:
            pa[i] = MM_PER_METRE * float(np.linalg.norm(procrustes_aligned(p[ok], g[ok]) - g[ok], axis=-1).mean())
    return Pose3dScore(mpjpe, pa, counted, status, tuple(gt.layout.joints[j] for j in joints))


def tracked_3d(gt: Gt3d, shards: Path) -> tuple[list[np.ndarray | None], JointLayout]:
    """The 3D of the shards' track matched to each labelled person by 2D joints (None: no person matched there),
    and the shards' layout."""
    by_clip: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, (clip, frame) in enumerate(zip(gt.clips, gt.frames)):
        by_clip[clip][frame].append(i)
    index = ClipIndex(list(by_clip))
    out: list[np.ndarray | None] = [None] * len(gt)
    layout: JointLayout | None = None
    found = False
    for clip, info in iter_skeleton_clips(shards):
        key = index.find(clip.clip_id)
        if key is None:
            continue
        found, layout = True, info.layout
        for t, frame in enumerate(clip.frame_index):
            labelled = by_clip[key].get(int(frame), [])
            present = [(tr, int(np.flatnonzero(tr.t == t)[0])) for tr in clip.tracks if (tr.t == t).any()]
            if not labelled or not present:
                continue
            poses_2d = np.stack([tr.keypoints[k] for tr, k in present])
            mapped, _ = convert_keypoints(poses_2d, None, layout, gt.layout)
            ref = gt.joints_2d[labelled].copy()
            ref[:, np.setdiff1d(np.arange(gt.layout.num_joints), scored_joints(layout, gt.layout))] = np.nan
            side = (gt.boxes[labelled, 2] - gt.boxes[labelled, 0]).astype(np.float64)
            for i, m in zip(labelled, match_frame(mapped, ref, side)):
                if m >= 0:
                    track, k = present[m]
                    missing = np.full((layout.num_joints, 3), np.nan, np.float32)
                    out[i] = missing if track.keypoints_3d is None else track.keypoints_3d[k]
    if not found or layout is None:
        raise ConfigError(
            f"none of the {len(gt)} labelled images maps to a clip of the shards in {shards} (e.g. {gt.images[0]}); "
            "extract the image folder itself with --3d (an image is the clip named by its file name)"
        )
    return out, layout


def labelled_box_3d(gt: Gt3d, images: Path, expert: Estimator) -> list[np.ndarray | None]:
    """A 3D top-down expert (``expert.gives_3d``) run alone on each labelled person's box: ``(V_expert, 3)`` metres."""
    import cv2

    out: list[np.ndarray | None] = []
    for name, box in zip(gt.images, gt.boxes):
        image = cv2.imread(str(Path(images) / name))
        if image is None:
            raise ConfigError(f"--images {images}: cannot read {name}")
        (props,) = expert.predict([cv2.cvtColor(image, cv2.COLOR_BGR2RGB)], [box[None].astype(np.float32)])
        out.append(props.keypoints_3d[0] if props.keypoints_3d is not None else None)
    return out


BODY_JOINTS = frozenset(COCO17.joints[5:])
"""The 12 limb joints: bones between two of them (limbs, shoulder and hip widths, torso sides) keep their length."""


def body_bones(layout: JointLayout) -> list[tuple[int, int]]:
    """The ``layout``'s bones whose two joints are both limb joints (12 in COCO-17)."""
    return [(a, b) for a, b in layout.edges if {layout.joints[a], layout.joints[b]} <= BODY_JOINTS]


def bone_length_spread(joints: np.ndarray, bones: list[tuple[int, int]]) -> np.ndarray:
    """``(B,)`` coefficient of variation (std / mean) of each bone's length over a track's ``(n, V, 3)`` frames,
    counted where both its joints are present; NaN for a bone seen on fewer than two frames or of length 0."""
    a, b = np.array(bones).T
    lengths = np.linalg.norm(joints[:, a] - joints[:, b], axis=-1)
    spread = np.full(len(bones), np.nan)
    for k, column in enumerate(lengths.T):
        found = column[np.isfinite(column)]
        if len(found) >= 2 and found.mean() > 0:
            spread[k] = found.std() / found.mean()
    return spread
