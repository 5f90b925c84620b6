"""3D poses against motion-capture labels: BlazePose alone on the labelled box vs posekit's tracked 3D, per frame.

For each labels file of ``gt3d-dev`` (MPI-INF-3DHP frames, MMPose body3d ``.npz``) and each method, the
MPJPE (root-aligned on the mid-hip) and PA-MPJPE in mm over the 12 limb joints (``posekit.eval.pose3d``):

- ``alone``: the ``mediapipe`` expert run on the labelled person's box (``center``, ``scale``) alone;
- ``tracked``: ``posekit extract --3d`` over the images (``--experts yolo,mediapipe``: YOLO finds and tracks
  the person, BlazePose poses its box), the 3D of the track matched to the labelled person by 2D joints;
- ``tracked-sst-a``: the same with ``--experts yolo,yolo-topdown,mediapipe`` (SST-A chooses the 2D joints; the
  3D is still BlazePose's on the tracked box).

Rows ``{set, image, method, mpjpe_mm, pa_mpjpe_mm, joints, status}`` and per set and method the pooled errors go to
``bench/results/pose3d.json``. The frames are few: read them per frame; nothing is tuned on them.

Run: ``python bench/pose3d.py [--data DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from posekit.core.jsonable import jsonable
from posekit.estimators.base import EstimatorConfig
from posekit.estimators.registry import build_estimator, parse_experts
from posekit.eval.pose3d import Gt3d, labelled_box_3d, load_gt3d, score_3d, tracked_3d
from posekit.workflows.extraction.options import ExtractOptions
from posekit.workflows.extraction.run import run_extraction

REPO = Path(__file__).resolve().parents[1]
GT3D_DEV = REPO.parent / "shared" / "data" / "gt3d-dev"
TRACKED = {"tracked": "yolo,mediapipe", "tracked-sst-a": "yolo,yolo-topdown,mediapipe"}


def tracked_shards(images: list[Path], out: Path, experts: str) -> Path:
    """``posekit extract --3d`` over a folder linking ``images`` (each a 1-frame clip named by its file)."""
    folder = out / "images"
    folder.mkdir(parents=True, exist_ok=True)
    for image in images:
        link = folder / image.name
        if not link.exists():
            os.symlink(image, link)
    shards = out / experts.replace(",", "+")
    options = ExtractOptions(experts=tuple(parse_experts(experts)), pose_3d=True)
    run_extraction(folder, shards, options, progress=False)
    return shards


def rows_of(set_name: str, method: str, gt: Gt3d, pred, layout) -> tuple[list[dict], dict]:
    score = score_3d(pred, gt, layout)
    rows = [
        {
            "set": set_name,
            "image": name,
            "method": method,
            "mpjpe_mm": score.mpjpe[i],
            "pa_mpjpe_mm": score.pa_mpjpe[i],
            "joints": int(score.joints[i]),
            "status": score.status[i],
        }
        for i, name in enumerate(gt.images)
    ]
    return rows, {"set": set_name, "method": method, **score.overall()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=GT3D_DEV)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "pose3d.json")
    args = parser.parse_args()
    expert = build_estimator("mediapipe", EstimatorConfig())
    rows, pooled = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for labels in sorted(args.data.glob("*.npz")):
            gt = load_gt3d(labels, images=args.data)
            set_name = labels.stem
            found, summary = rows_of(set_name, "alone", gt, labelled_box_3d(gt, args.data, expert), expert.layout)
            rows += found
            pooled.append(summary)
            for method, experts in TRACKED.items():
                shards = tracked_shards([args.data / name for name in gt.images], Path(tmp) / set_name, experts)
                found, summary = rows_of(set_name, method, gt, *tracked_3d(gt, shards))
                rows += found
                pooled.append(summary)
    print(f"{'set':<18} {'image':<26} {'method':<14} {'MPJPE mm':>9} {'PA-MPJPE mm':>12} {'joints':>7}")
    for r in rows:
        print(
            f"{r['set']:<18} {r['image']:<26} {r['method']:<14} {r['mpjpe_mm']:>9.1f} {r['pa_mpjpe_mm']:>12.1f} "
            f"{r['joints']:>7}"
        )
    for p in pooled:
        errors = f"{p['mpjpe']:>9.1f} {p['pa_mpjpe']:>12.1f}"
        print(f"{p['set']:<18} {'all':<26} {p['method']:<14} {errors} {p['joints']:>7}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(jsonable({"rows": rows, "pooled": pooled}), indent=2) + "\n")


if __name__ == "__main__":
    main()
