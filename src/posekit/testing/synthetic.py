"""Procedural, labelled skeleton actions written as real skeletons shards.

A small stand-in for Posetics that tests, benchmarks and demos can make in a second: each
clip is one person performing one of :data:`ACTIONS` (waving, clapping, squatting, jumping,
walking, punching, bowing, kicking), built from a 3D stick figure (metres, y up, facing the
camera along +z) driven by per-clip random frequency, amplitude, phase and body proportions,
then

- seen from a random view (yaw, camera pitch) through an orthographic camera, with a random
  in-plane tilt, person height (pixels) and position in a frame of random size;
- with Gaussian pixel noise, randomly missing joints, bursts of missing limbs, frames where the
  person is not detected, and joints leaving the frame marked missing (NaN);
- sometimes beside a second, less present person standing idle;
- with ``with_3d``, the figure's 3D joints too (``keypoints_3d``: metres in the camera's axes, x right,
  y down, z away, origin at the mid-hip, the shards' default 3D convention).

The figure has the joints of the COCO-17, Posetics-17 and NTU-25 (Kinect) layouts.

:func:`write_synthetic_dataset` writes a dataset laid out as ``posekit build-dataset`` leaves one
(:mod:`posekit.workflows.datasets.build`: ``out/<split>/skeletons-*.parquet`` with a ``label``
column, ``dataset.json`` with the official train/val split, the dataset card), plus the labels
sidecar ``out/labels.json`` described in :mod:`posekit.io.torch_dataset`; so the exports keep
its splits apart. ``python -m posekit.testing.synthetic OUT`` does the same from the command line.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from posekit.io.samples import LABELS_JSON, LabelMap
from posekit.io.schema import ShardInfo
from posekit.io.shards import ShardWriter
from posekit.skeleton.layouts import JointLayout, get_layout
from posekit.skeleton.records import SkeletonClip, SkeletonTrack
from posekit.workflows.datasets.build.options import BuildOptions
from posekit.workflows.datasets.build.run import build_dataset
from posekit.workflows.datasets.inputs import AnnotatedClip, Collection

ACTIONS = ("waving", "clapping", "squatting", "jumping", "walking", "punching", "bowing", "kicking")
FRAME_SIZES = ((640, 480), (1280, 720), (1920, 1080), (480, 640), (720, 1280))

UPPER_ARM, FOREARM, THIGH, SHIN = 0.30, 0.27, 0.45, 0.43
HALF_SHOULDERS, HALF_HIPS, TORSO, ANKLE_HEIGHT = 0.18, 0.11, 0.52, 0.07


def _direction(abduction: np.ndarray, flexion: np.ndarray, side: float) -> np.ndarray:
    """``(T, 3)`` unit limb directions from the hanging pose: ``abduction`` (rad) raises the limb
    sideways (``side`` = +1 for the left limb, at +x), ``flexion`` (rad) swings it forward (+z)."""
    a, f = np.broadcast_arrays(np.asarray(abduction, float), np.asarray(flexion, float))
    return np.stack([side * np.sin(a), -np.cos(a) * np.cos(f), np.cos(a) * np.sin(f)], axis=-1)


class _Pose:
    """Joint angles of one person over ``T`` frames, hanging arms and straight legs by default."""

    def __init__(self, T: int) -> None:
        z = np.zeros(T)
        self.T = T
        self.root = np.stack([z, z, z], axis=-1)
        self.lean = z.copy()
        self.arm = {s: [z + 0.12, z.copy(), z + 0.12, z + 0.15] for s in (1.0, -1.0)}
        self.leg = {s: [z + 0.03, z.copy(), z + 0.03, z.copy()] for s in (1.0, -1.0)}

    def stand_height(self) -> np.ndarray:
        """``(T,)`` hip height (m) that keeps the lower ankle on the ground."""
        drop = [
            THIGH * np.cos(ta) * np.cos(tf) + SHIN * np.cos(sa) * np.cos(sf) for ta, tf, sa, sf in self.leg.values()
        ]
        return np.broadcast_to(np.maximum(*drop) + ANKLE_HEIGHT, (self.T,))

    def joints(self, scale: np.ndarray) -> dict[str, np.ndarray]:
        """Named ``(T, 3)`` joint positions in metres (``scale``: per-bone length factors)."""
        up = np.stack([np.zeros(self.T), np.cos(self.lean), np.sin(self.lean)], axis=-1)
        mid_hip = self.root
        neck = mid_hip + TORSO * scale[0] * up
        j: dict[str, np.ndarray] = {"mid_hip": mid_hip, "neck": neck, "chest": (neck + mid_hip) / 2}
        forward = np.stack([np.zeros(self.T), -np.sin(self.lean), np.cos(self.lean)], axis=-1)
        j["nose"] = neck + 0.20 * scale[1] * up + 0.08 * forward
        j["mouth"] = j["nose"] - 0.05 * up
        for s, name in ((1.0, "left"), (-1.0, "right")):
            side = np.array([s, 0.0, 0.0])
            j[f"{name}_eye"] = j["nose"] + 0.035 * side + 0.035 * up - 0.02 * forward
            j[f"{name}_ear"] = j["nose"] + 0.075 * side - 0.08 * forward
            shoulder = neck + HALF_SHOULDERS * scale[2] * side - 0.02 * up
            ua, uf, fa, ff = self.arm[s]
            elbow = shoulder + UPPER_ARM * scale[3] * _direction(ua, uf, s)
            j[f"{name}_shoulder"], j[f"{name}_elbow"] = shoulder, elbow
            j[f"{name}_wrist"] = elbow + FOREARM * scale[4] * _direction(fa, ff, s)
            hip = mid_hip + HALF_HIPS * scale[2] * side
            ta, tf, sa, sf = self.leg[s]
            knee = hip + THIGH * scale[5] * _direction(ta, tf, s)
            j[f"{name}_hip"], j[f"{name}_knee"] = hip, knee
            j[f"{name}_ankle"] = knee + SHIN * scale[6] * _direction(sa, sf, s)
            forearm = j[f"{name}_wrist"] - elbow
            j[f"{name}_hand"] = j[f"{name}_wrist"] + 0.3 * forearm
            j[f"{name}_hand_tip"] = j[f"{name}_wrist"] + 0.6 * forearm
            j[f"{name}_thumb"] = j[f"{name}_hand"] + 0.04 * side
            j[f"{name}_foot"] = j[f"{name}_ankle"] + 0.12 * forward - 0.05 * up
        j.update(spine_base=mid_hip, spine_mid=j["chest"], spine_shoulder=neck, head=j["nose"] - 0.08 * forward)
        return j


def _waving(p: _Pose, ph: np.ndarray, r: np.random.Generator) -> None:
    s = float(r.choice([1.0, -1.0]))
    p.arm[s] = [2.2 + r.normal(0, 0.1), 0.25, 2.75 + r.uniform(0.35, 0.55) * np.sin(ph), 0.2]


def _clapping(p: _Pose, ph: np.ndarray, r: np.random.Generator) -> None:
    apart = (1 + np.sin(ph)) / 2
    for s in (1.0, -1.0):
        p.arm[s] = [0.1 + 0.35 * apart, 1.0 + r.normal(0, 0.1), -0.35 + 0.8 * apart, 1.45]


def _squatting(p: _Pose, ph: np.ndarray, r: np.random.Generator) -> None:
    depth = r.uniform(0.7, 1.0) * (1 - np.cos(ph)) / 2
    for s in (1.0, -1.0):
        p.leg[s] = [0.1, 1.4 * depth, 0.05, -0.8 * depth]
        p.arm[s] = [0.15, 1.4 * depth, 0.15, 1.5 * depth]
    p.lean = 0.5 * depth
    p.root[:, 1] = p.stand_height()


def _jumping(p: _Pose, ph: np.ndarray, r: np.random.Generator) -> None:
    air = np.maximum(0.0, np.sin(ph))
    crouch = 0.5 * np.maximum(0.0, -np.sin(ph))
    for s in (1.0, -1.0):
        p.leg[s] = [0.05 + 0.25 * air, 0.9 * crouch, 0.05 + 0.25 * air, -0.9 * crouch]
        p.arm[s] = [0.3 + 2.3 * air, 0.0, 0.3 + 2.4 * air, 0.0]
    p.lean = 0.3 * crouch
    p.root[:, 1] = p.stand_height() + r.uniform(0.2, 0.35) * air


def _walking(p: _Pose, ph: np.ndarray, r: np.random.Generator) -> None:
    swing = r.uniform(0.35, 0.5) * np.sin(ph)
    for s in (1.0, -1.0):
        knee = 0.7 * np.maximum(0.0, np.sin(ph + s * np.pi / 2))
        p.leg[s] = [0.03, s * swing, 0.03, s * swing - knee]
        p.arm[s] = [0.1, -0.8 * s * swing, 0.1, -0.8 * s * swing + 0.3]
    p.root[:, 1] = p.stand_height() + 0.02 * np.abs(np.cos(ph))
    p.root[:, 2] = r.uniform(0.5, 0.8) * (ph - ph[0]) / np.pi


def _punching(p: _Pose, ph: np.ndarray, r: np.random.Generator) -> None:
    for s in (1.0, -1.0):
        reach = np.maximum(0.0, np.sin(ph + (s + 1) * np.pi / 2)) ** 2
        p.arm[s] = [0.15, 0.5 + 1.0 * reach, -0.15 * reach, 1.9 - 0.4 * reach]


def _bowing(p: _Pose, ph: np.ndarray, r: np.random.Generator) -> None:
    p.lean = r.uniform(0.8, 1.3) * (1 - np.cos(ph)) / 2
    for s in (1.0, -1.0):
        p.leg[s] = [0.03, -0.3 * p.lean, 0.03, -0.3 * p.lean]
    p.root[:, 1] = p.stand_height()
    p.root[:, 2] = -0.15 * p.lean


def _kicking(p: _Pose, ph: np.ndarray, r: np.random.Generator) -> None:
    s = float(r.choice([1.0, -1.0]))
    lift = np.maximum(0.0, np.sin(ph)) ** 2
    p.leg[s] = [0.05, r.uniform(1.0, 1.4) * lift, 0.05, 1.2 * lift - 0.6 * np.sqrt(lift) * (1 - lift)]
    for a in (1.0, -1.0):
        p.arm[a] = [0.4, -0.3 * lift, 0.4, 0.2]
    p.root[:, 1] = p.stand_height()


def _idle(p: _Pose, ph: np.ndarray, r: np.random.Generator) -> None:
    p.root[:, 0] = 0.03 * np.sin(ph)
    p.root[:, 1] = p.stand_height()


_MOTIONS: dict[str, tuple[Callable[[_Pose, np.ndarray, np.random.Generator], None], tuple[float, float]]] = {
    "waving": (_waving, (1.5, 3.0)),
    "clapping": (_clapping, (1.5, 3.0)),
    "squatting": (_squatting, (0.3, 0.6)),
    "jumping": (_jumping, (0.8, 1.4)),
    "walking": (_walking, (0.8, 1.2)),
    "punching": (_punching, (0.8, 1.6)),
    "bowing": (_bowing, (0.25, 0.5)),
    "kicking": (_kicking, (0.5, 1.0)),
    "idle": (_idle, (0.1, 0.3)),
}
"""Each action: how it sets the joint angles from the phase, and its frequency range (Hz)."""


def _rotation(yaw: float, pitch: float) -> np.ndarray:
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    about_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    about_x = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return about_x @ about_y


def person_motion(action: str, T: int, fps: float, rng: np.random.Generator, layout: JointLayout) -> np.ndarray:
    """``(T, V + 1, 3)`` metres: one person doing ``action`` over ``T`` frames in ``layout`` order, then the
    mid-hip (the origin of the 3D joints)."""
    if action not in _MOTIONS:
        raise ValueError(f"unknown action {action!r}; actions: {', '.join(ACTIONS)}")
    motion, (f_lo, f_hi) = _MOTIONS[action]
    ph = 2 * np.pi * rng.uniform(f_lo, f_hi) * np.arange(T) / fps + rng.uniform(0, 2 * np.pi)
    pose = _Pose(T)
    pose.root[:, 1] = pose.stand_height()
    motion(pose, ph, rng)
    joints = pose.joints(rng.uniform(0.9, 1.1, size=7))
    missing = [name for name in layout.joints if name not in joints]
    if missing:
        raise ValueError(f"the synthetic figure has no joints {missing} of layout {layout.name!r}")
    return np.stack([joints[name] for name in (*layout.joints, "mid_hip")], axis=1)


def _project(
    xyz: np.ndarray, rng: np.random.Generator, width: int, height: int, anchor: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(T, V + 1, 3)`` metres (the joints, then the origin) -> ``(T, V, 2)`` pixels through a random view,
    NaN outside the frame, and the ``(T, V, 3)`` metres in the camera's axes (x right, y down, z away) from the
    origin."""
    R = _rotation(rng.uniform(-1.2, 1.2), rng.uniform(-0.25, 0.45))
    cam = xyz @ R.T
    uv = np.stack([cam[..., 0], -cam[..., 1]], axis=-1)[:, :-1]
    tilt = rng.uniform(-0.15, 0.15)
    c, s = np.cos(tilt), np.sin(tilt)
    uv = uv @ np.array([[c, -s], [s, c]]).T
    px_per_m = rng.uniform(0.25, 0.75) * height / 1.75
    uv = (uv - np.nanmean(uv[0], axis=0)) * px_per_m + anchor
    outside = (uv[..., 0] < 0) | (uv[..., 0] >= width) | (uv[..., 1] < 0) | (uv[..., 1] >= height)
    uv[outside] = np.nan
    return uv, (cam[:, :-1] - cam[:, -1:]) * np.array([1.0, -1.0, -1.0])


def _corrupt(uv: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Pixel noise, missing joints, missing-limb bursts (in place on a copy)."""
    T, V, _ = uv.shape
    scale = np.nanmax(uv[..., 1]) - np.nanmin(uv[..., 1]) if np.isfinite(uv).any() else 100.0
    uv = uv + rng.normal(0, rng.uniform(0.003, 0.015) * scale, uv.shape)
    uv[rng.random((T, V)) < rng.uniform(0.0, 0.08)] = np.nan
    if rng.random() < 0.3 and T > 4:
        a = int(rng.integers(0, T - 2))
        b = int(min(T, a + rng.integers(2, max(3, T // 3))))
        uv[a:b, rng.choice(V, size=int(rng.integers(1, max(2, V // 3))), replace=False)] = np.nan
    return uv


def _track(
    uv: np.ndarray,
    rng: np.random.Generator,
    track_id: int,
    score: tuple[float, float],
    drop: float,
    xyz: np.ndarray | None = None,
) -> SkeletonTrack | None:
    """A :class:`SkeletonTrack` of the frames where the person is seen (some frames dropped); ``xyz``: the
    ``(T, V, 3)`` 3D joints of every frame, if any."""
    seen = np.isfinite(uv).all(axis=-1).any(axis=-1) & (rng.random(len(uv)) >= drop)
    t = np.flatnonzero(seen).astype(np.int32)
    if len(t) == 0:
        return None
    kp = uv[t].astype(np.float32)
    present = np.isfinite(kp).all(axis=-1)
    kp[~present] = np.nan
    n, V = present.shape
    joint_scores = np.where(present, rng.uniform(0.4, 1.0, (n, V)), 0.0).astype(np.float32)
    boxes = np.concatenate([np.nanmin(kp, axis=1), np.nanmax(kp, axis=1)], axis=1).astype(np.float32)
    return SkeletonTrack(
        track_id=track_id,
        t=t,
        keypoints=kp,
        joint_scores=joint_scores,
        joint_source=np.where(present, 0, -1).astype(np.int8),
        boxes=boxes,
        box_scores=rng.uniform(*score, n).astype(np.float32),
        confidence=rng.uniform(0.2, 1.0, n).astype(np.float32),
        keypoints_3d=None if xyz is None else xyz[t].astype(np.float32),
    )


def synthetic_clip(
    clip_id: str,
    action: str,
    rng: np.random.Generator,
    layout: JointLayout,
    frames: tuple[int, int] = (48, 96),
    fps: float = 30.0,
    bystander: float = 0.3,
    with_3d: bool = False,
) -> SkeletonClip:
    """One clip of ``action``: the actor (track 0) and, with probability ``bystander``, an idle
    second person (track 1, seen less); ``with_3d``: the tracks carry their 3D joints."""
    width, height = FRAME_SIZES[int(rng.integers(len(FRAME_SIZES)))]
    T = int(rng.integers(frames[0], frames[1] + 1))
    frame = np.array([width, height], dtype=float)
    tracks = []
    people = [(action, (0.6, 1.0), 0.03)]
    if rng.random() < bystander:
        people.append(("idle", (0.15, 0.5), 0.4))
    for k, (what, score, drop) in enumerate(people):
        xyz = person_motion(what, T, fps, rng, layout)
        anchor = frame * rng.uniform([0.25, 0.2], [0.75, 0.45])
        uv, cam = _project(xyz, rng, width, height, anchor)
        uv = _corrupt(uv, rng)
        track = _track(uv, rng, k, score, drop, cam if with_3d else None)
        if track is not None:
            tracks.append(track)
    frame_index = np.arange(T, dtype=np.int32)
    return SkeletonClip(
        clip_id=clip_id,
        video_path=f"synthetic://{action}/{clip_id}",
        width=width,
        height=height,
        fps=fps,
        frame_index=frame_index,
        timestamp=frame_index / fps,
        tracks=tracks,
    )


def write_synthetic_dataset(
    out: Path | str,
    clips_per_class: Mapping[str, int] | None = None,
    actions: Sequence[str] = ACTIONS,
    frames: tuple[int, int] = (48, 96),
    layout: str = "coco17",
    seed: int = 0,
    shard_clips: int = 64,
    with_3d: bool = False,
) -> LabelMap:
    """Write a built dataset of synthetic clips into ``out`` (splits, ``dataset.json``, card, ``labels.json``);
    return the labels.

    ``clips_per_class`` maps a split name to clips per action (default ``train: 32, val: 12``).
    ``layout`` is the joint layout stored in the shards (COCO-17 by default, as a YOLO pose
    expert writes it; the torch dataset converts it to Posetics-17). Same seed, same bytes
    of keypoints; every clip is kept (no presence filter). ``with_3d``: the tracks carry 3D joints.
    """
    out = Path(out)
    staging = out / ".synthetic"
    shutil.rmtree(staging, ignore_errors=True)
    splits = dict(clips_per_class or {"train": 32, "val": 12})
    lay = get_layout(layout)
    info = ShardInfo(
        kind="skeletons",
        layout=lay,
        experts=("synthetic",),
        extra=json.dumps({"generator": "posekit.testing.synthetic", "seed": seed, "actions": list(actions)}),
    )
    clips: dict[str, str] = {}
    annotated: list[AnnotatedClip] = []
    for s, (split, per_class) in enumerate(splits.items()):
        rng = np.random.default_rng([seed, s])
        (staging / split).mkdir(parents=True)
        writer = ShardWriter(staging / split, info, max_clips=shard_clips)
        order = [a for a in actions for _ in range(per_class)]
        for k in rng.permutation(len(order)):
            clip_id = f"syn-{split}-{len(clips):05d}"
            clips[clip_id] = order[k]
            annotated.append(AnnotatedClip(clip_id, order[k], split))
            writer.add([synthetic_clip(clip_id, order[k], rng, lay, frames, with_3d=with_3d)])
            if writer.should_flush:
                writer.flush()
        writer.flush()
    label_map = out / ".synthetic-classes.json"
    label_map.write_text(json.dumps({"classes": list(actions), "_doc": "the synthetic actions, in order"}))
    options = BuildOptions(
        min_pose_frames=0.0, label_map=str(label_map), split="official", seed=seed, shard_clips=shard_clips
    )
    collection = Collection(annotated, "synthetic", "posekit.testing.synthetic")
    try:
        build_dataset(collection, out, options, shards=staging, progress=False)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        label_map.unlink()
    labels = LabelMap(tuple(actions), clips)
    labels.save(out / LABELS_JSON)
    return labels


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m posekit.testing.synthetic", description="write a synthetic labelled skeleton dataset"
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--train", type=int, default=32, help="training clips per action")
    parser.add_argument("--val", type=int, default=12, help="validation clips per action")
    parser.add_argument("--actions", default=",".join(ACTIONS))
    parser.add_argument("--frames", type=int, nargs=2, default=(48, 96), metavar=("MIN", "MAX"))
    parser.add_argument("--layout", default="coco17")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    labels = write_synthetic_dataset(
        args.out,
        {"train": args.train, "val": args.val},
        tuple(args.actions.split(",")),
        tuple(args.frames),
        args.layout,
        args.seed,
    )
    print(f"wrote {len(labels.clips)} clips of {labels.num_classes} actions to {args.out}")


if __name__ == "__main__":
    main()
