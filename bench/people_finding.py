"""Scale-aware people finding (the second pass of :mod:`posekit.estimators.tiles`) against one input size.

Methods: ``yolo`` at 640 and 1280 without a second pass (``--tiles 1``), ``yolo`` at 640 with the default
second pass (the whole frame again at 1280, ``--second-pass zoom``) and with 2x2 tiles at 640
(``--second-pass tiles``), SST-A of ``yolo,yolo-topdown,mediapipe`` at 640 without and with the default second
pass, and SST-A with the flip-test expert ``yolo-flip`` added.

1. **gt-dev** (human labels): ``posekit extract`` on each image folder, scored by
   ``posekit.eval.coco.score_shards``: OKS AP, AR, AR of COCO's medium and large persons (pycocotools
   has no small bucket for keypoints), persons found / labelled.
2. **Videos** (no labels: agreement with a clean reference): the street video, the NTU sample and the
   Kinetics-style clip, ``--frames`` frames each; the reference is where the three experts agree at 1280
   without tiles (:func:`posekit.eval.reference.build_reference`). Person recall per COCO size bucket of
   the reference box (small < 32^2, medium < 96^2, large; box IoU >= 0.5, one-to-one), PCKh@0.5 and
   persons per reference person of each method alone, seconds per frame.

Writes ``bench/results/people_finding.json``. The sets are a few images and three clips: no threshold is
chosen from these numbers.

Run: ``python bench/people_finding.py [--frames 40] [--methods yolo@640,...]`` (all: about 10 minutes on 2 CPU
cores).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

os.environ.setdefault("YOLO_OFFLINE", "1")

from posekit.core.boxes import box_iou
from posekit.core.jsonable import jsonable
from posekit.estimators.base import EstimatorConfig
from posekit.estimators.registry import parse_experts
from posekit.eval.coco import GtScoreOptions, score_shards
from posekit.eval.reference import build_reference
from posekit.workflows.extraction.experts import ExpertSet
from posekit.workflows.protocols.degradation import (
    CLEAN,
    ProtocolOptions,
    boxes_per_frame,
    run_experts_on,
    score_run,
    score_student,
)
from posekit.workflows.protocols.holdout import cut_span

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from gt_table import GT_DEV, SETS, extract  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "videos"
VIDEOS = {
    "street": (DATA / "vtest.avi", 600),
    "ntu": (DATA / "ntu-S001C001P001R001A001_rgb.avi", 0),
    "kinetics": (DATA / "kinetics-armwrestling.mp4", 160),
}
"""Name -> (video, first frame used)."""
THREE = "yolo,yolo-topdown,mediapipe"
METHODS = {
    "yolo@640": ("yolo", 640, 1, "zoom"),
    "yolo@1280": ("yolo", 1280, 1, "zoom"),
    "yolo@640+zoom": ("yolo", 640, 2, "zoom"),
    "yolo@640+tiles": ("yolo", 640, 2, "tiles"),
    "sst-a@640": (THREE, 640, 1, "zoom"),
    "sst-a@640+zoom": (THREE, 640, 2, "zoom"),
    "sst-a+flip@640+zoom": (f"yolo,yolo-flip,{THREE.split(',', 1)[1]}", 640, 2, "zoom"),
}
"""Row name -> (experts, --imgsz, --tiles, --second-pass)."""
BUCKETS = {"small": (0, 32**2), "medium": (32**2, 96**2), "large": (96**2, float("inf"))}
MATCH_IOU = 0.5


def bucket_recall(found: list[np.ndarray], reference: list[np.ndarray]) -> dict[str, tuple[int, int]]:
    """Per size bucket of the reference boxes, ``(matched, reference persons)``; one-to-one, box IoU >= 0.5."""
    counts = {name: [0, 0] for name in BUCKETS}
    for pred, ref in zip(found, reference):
        hit = np.zeros(len(ref), bool)
        if len(pred) and len(ref):
            iou = box_iou(ref, pred)
            rows, cols = linear_sum_assignment(-iou)
            hit[rows[iou[rows, cols] >= MATCH_IOU]] = True
        area = np.prod(np.clip(ref[:, 2:] - ref[:, :2], 0, None), axis=1)
        for name, (lo, hi) in BUCKETS.items():
            inside = (area >= lo) & (area < hi)
            counts[name][0] += int(hit[inside].sum())
            counts[name][1] += int(inside.sum())
    return {k: tuple(v) for k, v in counts.items()}


def video_rows(name: str, video: Path, frames: int, workdir: Path, methods: list[str]) -> list[dict]:
    """Every method on ``frames`` frames of ``video`` against the three experts' clean reference at 1280."""
    start = VIDEOS[name][1]
    span = workdir / f"{name}.mkv"
    count = cut_span(video, span, start, frames)
    base = ProtocolOptions(experts=tuple(parse_experts(THREE)), degradations=(), estimator=EstimatorConfig())
    ref_config = EstimatorConfig(imgsz=1280, tiles=1)
    clean = run_experts_on(span, ExpertSet(base.experts, ref_config), replace(base, estimator=ref_config))
    reference = build_reference(clean.per_expert, base.layout, base.reference, base.min_joint_score)
    ref_boxes = boxes_per_frame(reference)
    rows = []
    for method in methods:
        experts, imgsz, tiles, second_pass = METHODS[method]
        specs = tuple(parse_experts(experts))
        config = EstimatorConfig(imgsz=imgsz, tiles=tiles, second_pass=second_pass)
        options = replace(base, estimator=config)
        run = run_experts_on(span, ExpertSet(specs, config), options, specs=specs)
        if len(specs) == 1:
            scores = score_student(run, method, reference, options, CLEAN)
        else:
            scores = next(r for r in score_run(run, reference, options, CLEAN)[0] if r["method"] == "sst-a thesis")
        found = [p.boxes for p in run.per_expert[0]]
        buckets = bucket_recall(found, ref_boxes)
        rows.append(
            {
                "video": name,
                "frames": count,
                "method": method,
                "pckh": scores["pckh"],
                "recall": scores["recall"],
                "persons_per_reference": scores["pred_persons"] / max(scores["ref_persons"], 1),
                "ref_persons": scores["ref_persons"],
                "recall_by_size": {k: 100.0 * m / n if n else float("nan") for k, (m, n) in buckets.items()},
                "reference_by_size": {k: n for k, (_, n) in buckets.items()},
                "seconds_per_frame": run.seconds / run.num_frames,
            }
        )
        print(f"  {name} {method}: " + json.dumps(jsonable(rows[-1]["recall_by_size"])), flush=True)
    return rows


def gt_rows(sets: list[str], workdir: Path, methods: list[str]) -> list[dict]:
    rows = []
    for name in sets:
        images = GT_DEV / name
        for method in methods:
            experts, imgsz, tiles, second_pass = METHODS[method]
            out = workdir / name / method.replace("@", "-").replace("+", "-")
            flags = ["--experts", experts, "--imgsz", str(imgsz), "--tiles", str(tiles), "--second-pass", second_pass]
            seconds = extract(images, out, flags)
            result = score_shards(images / SETS[name], out, GtScoreOptions(bootstrap=0), images)
            r = result.overall
            rows.append(
                {
                    "set": name,
                    "method": method,
                    **{k: r[k] for k in ("ap", "ar", "ar_medium", "ar_large", "pckh")},
                    "found": int(r["matched"]),
                    "labelled": int(r["ref_persons"]),
                    "seconds_per_frame": seconds,
                }
            )
            print(f"  {name} {method}: AP {r['ap']:.1f} AR {r['ar']:.1f}", flush=True)
    return rows


def fmt(v: float) -> str:
    return "-" if v != v else f"{v:.1f}"


def markdown(videos: list[dict], gt: list[dict]) -> str:
    lines = [
        "| video | method | recall small / medium / large (reference persons) | PCKh@0.5 | persons / ref | s / frame |",
        "|---|---|---|---:|---:|---:|",
    ]
    for r in videos:
        by = " / ".join(f"{fmt(r['recall_by_size'][k])} ({r['reference_by_size'][k]})" for k in BUCKETS)
        lines.append(
            f"| {r['video']} | {r['method']} | {by} | {fmt(r['pckh'])} | {r['persons_per_reference']:.2f} | "
            f"{r['seconds_per_frame']:.3f} |"
        )
    lines += ["", "| gt-dev set | method | OKS AP | AR | AR medium | AR large | found / labelled | s / frame |"]
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in gt:
        lines.append(
            f"| {r['set']} | {r['method']} | {fmt(r['ap'])} | {fmt(r['ar'])} | {fmt(r['ar_medium'])} | "
            f"{fmt(r['ar_large'])} | {r['found']} / {r['labelled']} | {r['seconds_per_frame']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40, help="Frames per video.")
    parser.add_argument("--videos", default=",".join(VIDEOS), help="Videos to run, of: " + ", ".join(VIDEOS))
    parser.add_argument("--sets", default=",".join(SETS), help="gt-dev sets to run.")
    parser.add_argument("--methods", default=",".join(METHODS), help="Methods to run, of: " + ", ".join(METHODS))
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "people_finding.json")
    args = parser.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    if unknown := sorted(set(methods) - set(METHODS)):
        parser.error(f"unknown --methods {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="posekit-people-") as tmp:
        video = [
            r for n in args.videos.split(",") if n for r in video_rows(n, VIDEOS[n][0], args.frames, Path(tmp), methods)
        ]
        gt = gt_rows([s for s in args.sets.split(",") if s], Path(tmp), methods)
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU(s)",
        "seconds": round(time.perf_counter() - started),
        "note": "video scores are agreement with a clean reference (three experts at 1280, no tiles), not accuracy; "
        "gt-dev scores are against human labels (a few images)",
        "methods": {
            k: {"experts": e, "imgsz": s, "tiles": t, "second_pass": p}
            for k, (e, s, t, p) in METHODS.items()
            if k in methods
        },
        "videos": video,
        "gt_dev": gt,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(jsonable(report), indent=1) + "\n")
    print(markdown(video, gt))


if __name__ == "__main__":
    main()
