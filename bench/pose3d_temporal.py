"""How stable posekit's tracked 3D is over time on real clips: bone-length spread and jitter per track.

For each clip, ``posekit extract --3d --experts yolo,mediapipe`` (the first ``--max-frames`` frames), then per
skeleton track with at least ``--min-frames`` frames of 3D:

- bone-length spread: the coefficient of variation (std / mean) of each of the 12 limb-joint bones' lengths over
  the track's frames (``posekit.eval.pose3d.bone_length_spread``); one person's bones do not change length, so
  any spread is estimation noise (and depth ambiguity);
- jitter: the mean acceleration of the 3D joints, mm / frame^2 at the clip's frame rate
  (``posekit.eval.metrics.jitter``).

Per clip: tracks measured, frames, the median over tracks of the mean bone spread (%), the median jitter, and
the worst bone (largest median spread). Rows go to ``bench/results/pose3d_temporal.json``. No 3D labels exist for
these clips: the numbers describe stability, not accuracy.

Run: ``python bench/pose3d_temporal.py [--max-frames 120] [--min-frames 10]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from posekit.core.jsonable import jsonable
from posekit.estimators.registry import parse_experts
from posekit.eval.metrics import jitter
from posekit.eval.pose3d import body_bones, bone_length_spread
from posekit.io.shards import iter_skeleton_clips
from posekit.workflows.extraction.options import ExtractOptions
from posekit.workflows.extraction.run import run_extraction

REPO = Path(__file__).resolve().parents[1]
VIDEOS = REPO.parent / "shared" / "data" / "videos"
CLIPS = ("vtest.avi", "kinetics-armwrestling.mp4", "ntu-S001C001P001R001A001_rgb.avi")


def clip_row(video: Path, out: Path, max_frames: int, min_frames: int) -> dict:
    options = ExtractOptions(experts=tuple(parse_experts("yolo,mediapipe")), max_frames=max_frames, pose_3d=True)
    run_extraction(video, out, options, progress=False)
    (clip, info), *_ = list(iter_skeleton_clips(out))
    bones = body_bones(info.layout)
    names = [f"{info.layout.joints[a]}-{info.layout.joints[b]}" for a, b in bones]
    spreads, jitters, frames = [], [], []
    for track in clip.tracks:
        joints = track.keypoints_3d
        present = np.isfinite(joints).all(-1).any(-1)
        if present.sum() < min_frames:
            continue
        spreads.append(bone_length_spread(joints[present], bones))
        dense = np.full((clip.num_frames, *joints.shape[1:]), np.nan)
        dense[track.t] = joints
        jitters.append(jitter(dense, 1e-3))
        frames.append(int(present.sum()))
    per_bone = np.nanmedian(np.array(spreads), axis=0) if spreads else np.full(len(bones), np.nan)
    mean_spread = [float(np.nanmean(s)) for s in spreads]
    return {
        "clip": video.name,
        "fps": clip.fps,
        "frames": clip.num_frames,
        "tracks": len(spreads),
        "track_frames_median": float(np.median(frames)) if frames else float("nan"),
        "bone_spread_pct_median": 100 * float(np.median(mean_spread)) if spreads else float("nan"),
        "jitter_mm_per_frame2_median": float(np.median(jitters)) if jitters else float("nan"),
        "bone_spread_pct_by_bone": {n: 100 * float(v) for n, v in zip(names, per_bone)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=Path, default=VIDEOS)
    parser.add_argument("--max-frames", type=int, default=120)
    parser.add_argument("--min-frames", type=int, default=10)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "pose3d_temporal.json")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in CLIPS:
            rows.append(clip_row(args.videos / name, Path(tmp) / name, args.max_frames, args.min_frames))
    print(f"{'clip':<36} {'fps':>5} {'tracks':>6} {'frames/track':>12} {'bone spread %':>13} {'jitter mm/f^2':>13}")
    for r in rows:
        print(
            f"{r['clip']:<36} {r['fps']:>5.1f} {r['tracks']:>6} {r['track_frames_median']:>12.0f} "
            f"{r['bone_spread_pct_median']:>13.1f} {r['jitter_mm_per_frame2_median']:>13.1f}"
        )
        worst = max(r["bone_spread_pct_by_bone"].items(), key=lambda kv: kv[1] if kv[1] == kv[1] else -1)
        print(f"  largest median spread: {worst[0]} {worst[1]:.1f} %")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(jsonable({"max_frames": args.max_frames, "rows": rows}), indent=2) + "\n")


if __name__ == "__main__":
    main()
