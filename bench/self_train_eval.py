"""Self-training (thesis 3.3.3) measured on held-out frames: student before vs after vs SST-A.

1. SST-A skeleton shards of the first ``--train-frames`` frames of the video (three experts;
   ``--shards`` reuses an extraction made before);
2. for each ``--anchor-classes`` setting, ``posekit refine --self-train`` on them;
3. the degradation protocol on a **held-out later span** (``--holdout-start``,
   ``--holdout-frames``) that never gave a pseudo label: each expert, SST-A and every refined
   student run alone, scored against the clean reference of the three experts (PCKh@0.5,
   PCK@0.2, completeness, person recall); extraction seconds per frame of a student alone and
   of the three-expert ensemble from the same run.

Scores are agreement with a clean reference built from the same experts, not accuracy
against human labels (the thesis' Table 3.1 uses labels).

Run: ``python bench/self_train_eval.py [--video PATH] [--out DIR]`` (about 30-40 minutes on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import tempfile
import time
from pathlib import Path

from posekit.estimators.base import EstimatorConfig
from posekit.estimators.registry import ExpertSpec, parse_experts
from posekit.workflows.extraction.driver import ExtractOptions, run_extraction
from posekit.workflows.protocols.degradation import (
    MEAN_ROW,
    ProtocolOptions,
    markdown_table,
    run_protocol,
    write_outputs,
)
from posekit.workflows.protocols.holdout import cut_span, used_frames
from posekit.workflows.selftrain.pseudo_labels import PseudoLabelOptions
from posekit.workflows.selftrain.self_train import SelfTrainOptions, self_train

REPO = Path(__file__).resolve().parents[1]
VTEST = REPO.parent / "shared" / "data" / "videos" / "vtest.avi"
EXPERTS = "yolo,yolo-topdown,mediapipe"


def _fmt(v: float | None, digits: int = 1) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def summary_table(rows: list[dict], students: list[str], experts: list[str]) -> str:
    """Per condition: base student (yolo), each refined student, SST-A thesis, the best expert."""
    lines = [
        "| condition | method | PCKh@0.5 | PCK@0.2 | complete % | recall % | persons found |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for cond in dict.fromkeys(r["degradation"] for r in rows):
        here = {r["method"]: r for r in rows if r["degradation"] == cond}
        best = max((e for e in experts if e in here), key=lambda e: here[e]["pckh"], default=None)
        order = ["yolo", *students, "sst-a thesis"] + ([best] if best not in ("yolo", None) else [])
        for method in order:
            r = here.get(method)
            if r is None:
                continue
            label = {"yolo": "student before (yolo11n-pose)", "sst-a thesis": "SST-A (3 experts)"}.get(method, method)
            if method == best and method != "yolo":
                label = f"best expert ({method})"
            lines.append(
                f"| {cond} | {label} | {_fmt(r['pckh'])} | {_fmt(r['pck'])} | {_fmt(r['completeness'])} | "
                f"{_fmt(r['recall'])} | {_fmt(r['pred_persons'], 0)} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=VTEST)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "posekit-self-train")
    parser.add_argument("--shards", type=Path, default=None, help="SST-A shards of the training span (else extracted)")
    parser.add_argument("--train-frames", type=int, default=320)
    parser.add_argument("--holdout-start", type=int, default=600)
    parser.add_argument("--holdout-frames", type=int, default=80)
    parser.add_argument("--imgsz", type=int, default=1280, help="extraction and evaluation input size")
    parser.add_argument("--train-imgsz", type=int, default=960)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--frame-fraction", type=float, default=0.2)
    parser.add_argument("--anchor-classes", default="1,20")
    parser.add_argument("--degradations", default="downscale-0.5,occlude-0.3")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("ultralytics", "absl", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def stamp(msg: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {msg}", flush=True)

    experts = tuple(parse_experts(EXPERTS))
    estimator = EstimatorConfig(device=args.device, imgsz=args.imgsz)
    shards = args.shards or args.out / "shards"
    if args.shards is None:
        stamp(f"SST-A extraction of frames 0-{args.train_frames - 1}")
        run_extraction(
            args.video,
            shards,
            ExtractOptions(experts=experts, estimator=estimator, max_frames=args.train_frames),
            progress=False,
        )

    students: dict[str, ExpertSpec] = {}
    cards = {}
    for b in (int(x) for x in args.anchor_classes.split(",")):
        stamp(f"self-training, {b} anchor class(es)")
        options = SelfTrainOptions(
            labels=PseudoLabelOptions(frame_fraction=args.frame_fraction, anchor_classes=b),
            epochs=args.epochs,
            imgsz=args.train_imgsz,
            batch=args.batch,
            device=args.device,
            workers=1,
        )
        result = self_train(shards, args.out / f"run-b{b}", videos=args.video.parent, options=options, progress=False)
        name = f"student B={b}"
        students[name] = ExpertSpec("yolo", result.weights)
        cards[name] = result.card
        stamp(f"{name}: {result.card['metrics_before']} -> {result.card['metrics_after']}")

    used = used_frames(args.out / "run-b1" / "pseudo-labels") if (args.out / "run-b1").exists() else {}
    last_used = max((max(v) for v in used.values()), default=-1)
    if last_used >= args.holdout_start:
        raise SystemExit(f"held-out span starts at {args.holdout_start} but pseudo labels used frame {last_used}")
    holdout = args.out / f"holdout-{args.holdout_start}-{args.holdout_frames}.mkv"
    n = cut_span(args.video, holdout, args.holdout_start, args.holdout_frames)
    span = f"{args.holdout_start}-{args.holdout_start + n - 1}"
    stamp(f"held-out span: frames {span} (pseudo labels used frames <= {last_used})")
    protocol = ProtocolOptions(
        experts=experts,
        degradations=tuple(d for d in args.degradations.split(",") if d),
        estimator=estimator,
        students=students,
    )
    result = run_protocol(holdout, protocol, on_stage=lambda name, _: stamp(f"protocol: {name}"))
    write_outputs(result, args.out / "protocol", plots=False)

    secs = result.meta["seconds"]
    ensemble = secs["reference"] / n
    cost = {name: secs[f"{name} @ none"] / n for name in students}
    summary = summary_table(result.rows, list(students), [s.label for s in experts])
    report = [
        f"machine: {platform.machine()}, {os.cpu_count()} CPU(s), device {args.device}; "
        f"total {time.perf_counter() - started:.0f} s",
        f"held-out: frames {args.holdout_start}-{args.holdout_start + n - 1} of {args.video.name}; pseudo labels "
        f"from frames <= {last_used} (every {round(1 / args.frame_fraction)}th of 0-{args.train_frames - 1}, "
        f"C >= 0.18); students trained {args.epochs} epochs at {args.train_imgsz}, evaluated at {args.imgsz}",
        "",
        summary,
        "",
        "Extraction seconds per frame (same run, clean span): three experts + SST-A "
        f"{ensemble:.2f}; " + "; ".join(f"{k} alone {v:.2f} ({ensemble / v:.1f}x faster)" for k, v in cost.items()),
        "",
        "Run cards (pseudo-label validation split, every class a person):",
    ]
    for name, card in cards.items():
        report.append(
            f"- {name}: {card['data']['frames']} frames, {card['data']['poses']} poses, "
            f"box mAP50 {card['metrics_before'].get('box_map50')} -> {card['metrics_after'].get('box_map50')}, "
            f"pose mAP50 {card['metrics_before'].get('pose_map50')} -> {card['metrics_after'].get('pose_map50')}, "
            f"{card['seconds']} s"
        )
    means = {r["method"]: r for r in result.rows if r["degradation"] == MEAN_ROW}
    if "sst-a thesis" in means:
        for name in students:
            if name in means:
                d = means[name]["pckh"] - means["sst-a thesis"]["pckh"]
                report.append(f"- {name} vs SST-A, mean over degradations: PCKh {d:+.1f} points")
    text = "\n".join(report) + "\n\nFull protocol table:\n\n" + markdown_table(result)
    (args.out / "self_train_table.md").write_text(text)
    (args.out / "self_train_cards.json").write_text(json.dumps(cards, indent=1))
    print(text)


if __name__ == "__main__":
    main()
