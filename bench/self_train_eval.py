"""Self-training (thesis 3.3.3) measured on held-out frames against SST-A, and on human labels.

1. SST-A skeleton shards (``yolo,yolo-topdown,mediapipe`` at ``--label-imgsz``, 1280 px) of the
   first frames of each video (:data:`LABEL_SPANS`); ``--shards`` reuses them;
2. ``self_train`` on them: pseudo labels split by video, the student (yolo11n-pose) trained at
   ``--imgsz`` (640 px: it learns at a small size from labels made at a large one);
3. on held-out spans that never gave a label (:data:`HOLDOUT_SPANS`), the degradation protocol:
   the clean reference of the three experts at ``--label-imgsz``, then on the clean and each
   degraded version SST-A (thesis mode) of the three at ``--label-imgsz`` and the student before
   (bundled weights, extraction's default person threshold) and after (``posekit.estimators.yolo``
   applies the person threshold and NMS IoU calibrated into its checkpoint) at ``--imgsz``;
4. on the human labels of ``gt-dev`` (COCO, MPII, CrowdPose): ``posekit extract`` with the student
   before and after at ``--imgsz``, scored with COCO OKS AP (``posekit.eval.coco.score_shards``).

Every model runs without the tile pass (``tiles=1``): the student is one network at one input size, the
cheap model the thesis promises, scored against the same ensemble as in earlier runs.

Rows ``{video, condition, method, pckh, pck, recall, detections_per_reference, seconds_per_frame}``
(condition ``mean``: the mean over the degradations; video ``all``: over every held-out span),
the gt-dev rows, the run card and the goals go to ``bench/results/self_train_eval.json``. Scores
on held-out frames are agreement with the experts' clean reference, not accuracy; the gt-dev sets
are a few images (counts are in the rows).

Run: ``python bench/self_train_eval.py [--videos DIR] [--out DIR]`` (about 25 minutes on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from posekit.estimators.base import EstimatorConfig
from posekit.estimators.registry import ExpertSpec, parse_experts
from posekit.eval.degrade import get_degradation
from posekit.eval.reference import build_reference
from posekit.workflows.extraction.experts import ExpertSet
from posekit.workflows.extraction.options import ExtractOptions
from posekit.workflows.extraction.run import run_extraction
from posekit.workflows.protocols.degradation import (
    CLEAN,
    ProtocolOptions,
    boxes_per_frame,
    run_experts_on,
    score_run,
    score_student,
    write_degraded,
)
from posekit.workflows.protocols.holdout import cut_span, used_frames
from posekit.workflows.selftrain.options import PseudoLabelOptions, SelfTrainOptions
from posekit.workflows.selftrain.self_train import self_train

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gt_table import GT_DEV, SETS, extract, row

REPO = Path(__file__).resolve().parents[1]
VIDEOS = REPO.parent / "shared" / "data" / "videos"
RESULTS = REPO / "bench" / "results" / "self_train_eval.json"
EXPERTS = "yolo,yolo-topdown,mediapipe"
LABEL_SPANS = {"vtest.avi": 320, "kinetics-armwrestling.mp4": 140, "ntu-S001C001P001R001A001_rgb.avi": 60}
"""First frames of each video extracted, every one (at a reduced --fps the tracker confirms fewer persons: the shards
held half the people of vtest, and the others would be taught as background)."""
FRAME_FRACTION = 0.25
"""Every 4th extracted frame becomes a pseudo-labelled frame."""
HOLDOUT_SPANS = {
    "vtest.avi": (600, 40),
    "kinetics-armwrestling.mp4": (160, 40),
    "ntu-S001C001P001R001A001_rgb.avi": (64, 39),
}
"""Held-out (first frame, frames) per video, after every frame that gave a pseudo label."""
SSTA = "sst-a thesis"
STUDENTS = ("student-before", "student-after")
MEAN = "mean"


def result_row(video: str, condition: str, method: str, scores: dict, seconds_per_frame: float) -> dict:
    """One table row; ``detections_per_reference``: predicted person-frames per reference person-frame."""
    ref = scores["ref_persons"]
    return {
        "video": video,
        "condition": condition,
        "method": method,
        "pckh": scores["pckh"],
        "pck": scores["pck"],
        "recall": scores["recall"],
        "detections_per_reference": scores["pred_persons"] / ref if ref else float("nan"),
        "seconds_per_frame": seconds_per_frame,
        "ref_persons": ref,
    }


def heldout_rows(
    video: Path,
    name: str,
    experts: tuple[ExpertSpec, ...],
    students: dict[str, tuple[ExpertSpec, EstimatorConfig]],
    degradations: tuple[str, ...],
    imgsz: int,
    workdir: Path,
) -> list[dict]:
    """SST-A and each student on the clean and degraded versions of ``video``, against the experts' clean reference."""
    config = EstimatorConfig(imgsz=imgsz, tiles=1)
    protocol = ProtocolOptions(experts=experts, degradations=degradations, estimator=config)
    expert_set = ExpertSet(experts, protocol.estimator)
    student_sets = {k: (spec, config, ExpertSet((spec,), config)) for k, (spec, config) in students.items()}
    clean = run_experts_on(video, expert_set, protocol)
    reference = build_reference(clean.per_expert, protocol.layout, protocol.reference, protocol.min_joint_score)
    boxes = boxes_per_frame(reference)
    rows = []
    for condition in (CLEAN, *degradations):
        source = video
        if condition != CLEAN:
            source = workdir / f"{video.stem}-{condition}.mkv"
            write_degraded(video, source, get_degradation(condition), boxes=boxes, seed=protocol.seed)
        run = clean if condition == CLEAN else run_experts_on(source, expert_set, protocol)
        ssta = next(r for r in score_run(run, reference, protocol, condition)[0] if r["method"] == SSTA)
        rows.append(result_row(name, condition, "sst-a", ssta, run.seconds / run.num_frames))
        for method, (spec, config, student_set) in student_sets.items():
            srun = run_experts_on(source, student_set, replace(protocol, estimator=config), specs=(spec,))
            scores = score_student(srun, method, reference, protocol, condition)
            rows.append(result_row(name, condition, method, scores, srun.seconds / srun.num_frames))
        print(f"  {name} {condition}: " + ", ".join(f"{r['method']} {r['pckh']:.1f}" for r in rows[-3:]), flush=True)
    return rows


def mean_rows(rows: list[dict], video: str, degradations: tuple[str, ...]) -> list[dict]:
    """Per method, the mean of every score over the degraded rows given (condition ``mean``)."""
    out = []
    for method in dict.fromkeys(r["method"] for r in rows):
        picked = [r for r in rows if r["method"] == method and r["condition"] in degradations]
        mean = {"video": video, "condition": MEAN, "method": method}
        for key in ("pckh", "pck", "recall", "detections_per_reference", "seconds_per_frame", "ref_persons"):
            values = [r[key] for r in picked if math.isfinite(r[key])]
            mean[key] = float(np.mean(values)) if values else float("nan")
        out.append(mean)
    return out


def goals(rows: list[dict], gt_rows: list[dict]) -> dict:
    """The issue's goals, on the mean over every held-out span and degradation, and on gt-dev (mean OKS AP)."""
    here = {r["method"]: r for r in rows if r["video"] == "all" and r["condition"] == MEAN}
    ssta, after = here["sst-a"], here["student-after"]
    ap = {m: float(np.mean([r["ap"] for r in gt_rows if r["method"] == m])) for m in STUDENTS}
    return {
        "pckh_gap_to_ssta": after["pckh"] - ssta["pckh"],
        "pckh_within_1": after["pckh"] >= ssta["pckh"] - 1,
        "recall_gap_to_ssta": after["recall"] - ssta["recall"],
        "recall_within_2": after["recall"] >= ssta["recall"] - 2,
        "detections_per_reference": after["detections_per_reference"],
        "detections_at_most_1.05": after["detections_per_reference"] <= 1.05,
        "time_ratio_to_ssta": after["seconds_per_frame"] / ssta["seconds_per_frame"],
        "time_at_most_one_third": after["seconds_per_frame"] <= ssta["seconds_per_frame"] / 3,
        "gt_dev_mean_ap": ap,
        "gt_dev_ap_not_below_start": ap["student-after"] >= ap["student-before"],
    }


def markdown(rows: list[dict], gt_rows: list[dict]) -> str:
    def fmt(v: float, digits: int = 1) -> str:
        return "-" if not math.isfinite(v) else f"{v:.{digits}f}"

    lines = [
        "| video | condition | method | PCKh@0.5 | PCK@0.2 | recall % | detections / reference | s / frame |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['video']} | {r['condition']} | {r['method']} | {fmt(r['pckh'])} | {fmt(r['pck'])} | "
            f"{fmt(r['recall'])} | {fmt(r['detections_per_reference'], 2)} | {fmt(r['seconds_per_frame'], 3)} |"
        )
    lines += [
        "",
        "| gt-dev set | method | OKS AP | AR | PCKh@0.5 | found / labelled |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in gt_rows:
        lines.append(
            f"| {r['set']} | {r['method']} | {fmt(r['ap'])} | {fmt(r['ar'])} | {fmt(r['pckh'])} | "
            f"{r['found']} / {r['labelled']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=Path, default=VIDEOS, help="Folder holding the videos of LABEL_SPANS.")
    parser.add_argument("--gt-dev", type=Path, default=GT_DEV, help="Folder with coco/, mpii/, crowdpose/.")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "posekit-self-train")
    parser.add_argument("--shards", type=Path, default=None, help="SST-A shards of LABEL_SPANS made before.")
    parser.add_argument("--label-imgsz", type=int, default=1280, help="Input size of the experts (labels, SST-A).")
    parser.add_argument("--imgsz", type=int, default=640, help="Input size of the student (training and use).")
    parser.add_argument("--epochs", type=int, default=SelfTrainOptions.epochs)
    parser.add_argument("--train-heads", default=",".join(SelfTrainOptions.train_heads))
    parser.add_argument("--box-source", default=PseudoLabelOptions.box_source)
    parser.add_argument("--seed", type=int, default=1, help="Seed of the split (1: Kinetics is the val video).")
    parser.add_argument("--degradations", default="downscale-0.5,occlude-0.3")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("ultralytics", "absl", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    experts = tuple(parse_experts(EXPERTS))
    degradations = tuple(d for d in args.degradations.split(",") if d)

    shards = args.shards or args.out / "shards"
    if args.shards is None:
        for name, frames in LABEL_SPANS.items():
            print(f"SST-A labels of {name}: frames 0-{frames - 1}", flush=True)
            run_extraction(
                args.videos / name,
                shards / Path(name).stem,
                ExtractOptions(
                    experts=experts, estimator=EstimatorConfig(imgsz=args.label_imgsz, tiles=1), max_frames=frames
                ),
                progress=False,
            )
    options = SelfTrainOptions(
        labels=PseudoLabelOptions(frame_fraction=FRAME_FRACTION, box_source=args.box_source, seed=args.seed),
        train_heads=tuple(args.train_heads.split(",")),
        epochs=args.epochs,
        imgsz=args.imgsz,
        workers=1,
        seed=args.seed,
    )
    result = self_train(shards, args.out / "run", videos=args.videos, options=options, progress=False)
    card = result.card
    print(f"student: {card['student']}, val split {card['metrics_before']} -> {card['metrics_after']}", flush=True)

    used = used_frames(args.out / "run" / "pseudo-labels")
    student_config = EstimatorConfig(imgsz=args.imgsz, tiles=1)
    students = {
        "student-before": (ExpertSpec("yolo"), student_config),
        "student-after": (ExpertSpec("yolo", result.weights), student_config),
    }
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="posekit-self-train-") as tmp:
        for name, (start, count) in HOLDOUT_SPANS.items():
            last_used = max(used.get(name, [-1]))
            if last_used >= start:
                raise SystemExit(
                    f"{name}: the held-out span starts at {start} but pseudo labels used frame {last_used}"
                )
            span = Path(tmp) / f"{Path(name).stem}-{start}.mkv"
            n = cut_span(args.videos / name, span, start, count)
            print(f"held-out {name}: frames {start}-{start + n - 1} (labels used frames <= {last_used})", flush=True)
            video_rows = heldout_rows(span, name, experts, students, degradations, args.label_imgsz, Path(tmp))
            rows += video_rows + mean_rows(video_rows, name, degradations)
    degraded = [r for r in rows if r["condition"] in degradations]
    rows += mean_rows(degraded, "all", degradations)

    gt_rows = []
    with tempfile.TemporaryDirectory(prefix="posekit-self-train-gt-") as tmp:
        for name, gt_file in SETS.items():
            images = args.gt_dev / name
            for method, weights in (("student-before", None), ("student-after", result.weights)):
                expert = f"yolo:{weights}" if weights else "yolo"
                flags = ["--experts", expert, "--imgsz", str(args.imgsz), "--tiles", "1"]
                shards_out = Path(tmp) / name / method
                seconds = extract(images, shards_out, flags)
                gt_rows.append(row(name, method, images / gt_file, images, shards_out, seconds, 200))

    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU(s), shared",
        "seconds": round(time.perf_counter() - started),
        "label_spans": {k: {"frames": v, "frame_fraction": FRAME_FRACTION} for k, v in LABEL_SPANS.items()},
        "holdout_spans": {k: {"start": v[0], "frames": v[1]} for k, v in HOLDOUT_SPANS.items()},
        "experts": EXPERTS,
        "label_imgsz": args.label_imgsz,
        "student_imgsz": args.imgsz,
        "run_card": {k: card[k] for k in ("settings", "data", "metrics_before", "metrics_after", "student")}
        | {k: card[k] for k in ("calibration_before", "calibration_after", "seconds")},
        "rows": rows,
        "gt_dev": gt_rows,
        "goals": goals(rows, gt_rows),
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(report, indent=1, default=float) + "\n")
    print(markdown(rows, gt_rows))
    print(json.dumps(report["goals"], indent=1))


if __name__ == "__main__":
    main()
