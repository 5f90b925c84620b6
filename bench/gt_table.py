"""Experts, SST-A and the default extraction scored against human keypoint labels, per development set.

For each set of ``gt-dev`` (COCO, MPII, CrowdPose: images with their labels, scored apart,
never pooled) and each method, runs the real ``posekit extract`` on the image folder (each
image a 1-frame clip named by its file: ``--photos``) and ``posekit.eval.coco.score_shards`` on the result:

- each expert alone (``yolo``, ``yolo-topdown``, ``mediapipe``) at ``--imgsz`` 640 and 1280;
- SST-A of the three (``--experts yolo,yolo-topdown,mediapipe``) at 640 and 1280;
- SST-A of the three and the flip-test expert ``yolo-flip`` at the default input size, in the thesis
  mode (``sst-a+flip``) and the fused mode (``fused+flip``);
- ``default``: ``posekit extract`` without flags.

Rows ``{set, method, ap, ap_low, ap_high, ar, pckh, pckh_low, pckh_high, pckh_persons, found,
labelled, seconds_per_frame, failures}`` go to ``bench/results/gt_table.json``: OKS AP / AR (%,
pycocotools), PCKh@0.5 (%, with the persons it covers), 95 % bootstrap intervals (images for
AP, persons for PCKh: the sets are a few images), persons found / labelled, and the median
per-clip extraction time per frame over the clips after the first (which carries the model
warm-up), and where the joints PCKh scores end up (``posekit.eval.failures``: correct, missed
person, wrong person, swapped sides, missing joint, joint error, % of them). No threshold
is chosen from these numbers; the sets are too small for that.

Run: ``python bench/gt_table.py [--data DIR] [--sets coco,mpii,crowdpose] [--bootstrap 200]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from posekit.core.jsonable import jsonable
from posekit.eval.coco import GtScoreOptions, score_shards
from posekit.eval.failures import FAILURES

REPO = Path(__file__).resolve().parents[1]
GT_DEV = REPO.parent / "shared" / "data" / "gt-dev"
SETS = {"coco": "test_coco.json", "mpii": "test_mpii.json", "crowdpose": "test_crowdpose.json"}
EXPERT_SETS = {"yolo": "yolo", "yolo-topdown": "yolo-topdown", "mediapipe": "mediapipe"}
SSTA = "yolo,yolo-topdown,mediapipe"
SSTA_FLIP = "yolo,yolo-flip,yolo-topdown,mediapipe"


def methods() -> list[tuple[str, list[str]]]:
    """``(method name, posekit extract flags)`` in table order."""
    out = []
    for name, experts in [*EXPERT_SETS.items(), ("sst-a", SSTA)]:
        for imgsz in (640, 1280):
            out.append((f"{name}@{imgsz}", ["--experts", experts, "--imgsz", str(imgsz)]))
    out.append(("sst-a+flip", ["--experts", SSTA_FLIP, "--mode", "thesis"]))
    out.append(("fused+flip", ["--experts", SSTA_FLIP, "--mode", "fused"]))
    out.append(("default", []))
    return out


def extract(images: Path, out: Path, flags: list[str]) -> float:
    """Run ``posekit extract`` on ``images`` into ``out``; median seconds per frame of its clips after the first."""
    cmd = [sys.executable, "-m", "posekit", "extract", str(images), "--out", str(out), "--photos", *flags]
    cmd.append("--no-progress")
    env = {**os.environ, "YOLO_OFFLINE": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"posekit extract failed ({done.returncode}): {' '.join(cmd)}\n{done.stdout}\n{done.stderr}")
    entries = [e for e in json.loads((out / "manifest.json").read_text())["entries"] if e["status"] == "done"]
    warm = entries[1:] or entries
    return statistics.median(e["seconds"] / max(e["frames"], 1) for e in warm)


def row(name: str, method: str, gt: Path, images: Path, shards: Path, seconds: float, bootstrap: int) -> dict:
    result = score_shards(gt, shards, GtScoreOptions(bootstrap=bootstrap), images)
    r = result.overall
    ap_low, ap_high = result.intervals.get("ap", (float("nan"),) * 2)
    pckh_low, pckh_high = result.intervals.get("pckh", (float("nan"),) * 2)
    return {
        "set": name,
        "method": method,
        "ap": r["ap"],
        "ap_low": ap_low,
        "ap_high": ap_high,
        "ar": r["ar"],
        "pckh": r["pckh"],
        "pckh_low": pckh_low,
        "pckh_high": pckh_high,
        "pckh_persons": result.coverage["pckh"][0],
        "found": int(r["matched"]),
        "labelled": int(r["ref_persons"]),
        "images": result.images_scored,
        "seconds_per_frame": seconds,
        "failures": result.failures,
        "warnings": result.warnings,
    }


def markdown(rows: list[dict]) -> str:
    def fmt(v: float) -> str:
        return "-" if v != v else f"{v:.1f}"

    lines = [
        "| set | method | OKS AP [95 % CI] | AR | PCKh@0.5 [95 % CI] (persons) | found / labelled | s / frame "
        "| missed person / wrong person / swapped / missing joint / joint error (% of joints) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for x in rows:
        lines.append(
            f"| {x['set']} | {x['method']} | {fmt(x['ap'])} [{fmt(x['ap_low'])}, {fmt(x['ap_high'])}] | "
            f"{fmt(x['ar'])} | "
            f"{fmt(x['pckh'])} [{fmt(x['pckh_low'])}, {fmt(x['pckh_high'])}] ({x['pckh_persons']}) | "
            f"{x['found']} / {x['labelled']} | {x['seconds_per_frame']:.2f} | "
            + " / ".join(fmt(x["failures"][k]) for k in FAILURES[1:])
            + " |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=GT_DEV, help="Folder with coco/, mpii/, crowdpose/.")
    parser.add_argument("--sets", default=",".join(SETS), help="Comma-separated sets to score.")
    parser.add_argument("--methods", default="", help="Comma-separated methods (default: all).")
    parser.add_argument("--bootstrap", type=int, default=200, help="Bootstrap resamples for the intervals.")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "gt_table.json")
    args = parser.parse_args()
    wanted = {m for m in args.methods.split(",") if m}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets.split(","):
            images = args.data / name
            for method, flags in methods():
                if wanted and method not in wanted:
                    continue
                shards = Path(tmp) / name / method
                seconds = extract(images, shards, flags)
                rows.append(row(name, method, images / SETS[name], images, shards, seconds, args.bootstrap))
                print(markdown(rows[-1:]).splitlines()[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(jsonable(rows), indent=1) + "\n")
    print(markdown(rows))


if __name__ == "__main__":
    main()
