"""The degradation-protocol table of issue 3 on the real street video ``vtest.avi``.

Clean reference from the experts' agreement on the clean frames, then each degradation;
every expert alone, SST-A thesis mode, robust mode and robust + Savitzky-Golay smoothing
scored against the reference (PCKh@0.5, PCK@0.2 torso, MPJPE / head, completeness, jitter,
person recall). The numbers are agreement with a clean reference built from the same
experts, not accuracy against human labels. A shorter smoothing window (5 frames) is scored
as an ablation (no model run). Ends with the comparison that decides whether
``mode="robust"`` should become the default.

Run: ``python bench/degradation_table.py [--video PATH] [--frames 60] [--imgsz 1280] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import tempfile
import time
from pathlib import Path

from posekit.estimators.base import EstimatorConfig
from posekit.estimators.registry import parse_experts
from posekit.eval.degrade import DEFAULT_DEGRADATIONS
from posekit.refine.ssta import RobustOptions
from posekit.refine.tracks import AggregationOptions
from posekit.workflows.protocols.degradation import MEAN_ROW, ProtocolOptions, ProtocolResult, run_protocol
from posekit.workflows.protocols.report import markdown_table, write_outputs

REPO = Path(__file__).resolve().parents[1]
VTEST = REPO.parent / "shared" / "data" / "videos" / "vtest.avi"


def _row(result: ProtocolResult, degradation: str, method: str) -> dict | None:
    return next((r for r in result.rows if r["degradation"] == degradation and r["method"] == method), None)


def verdict(result: ProtocolResult) -> str:
    """Robust vs thesis mode and SST-A vs the best expert, averaged over the degraded conditions."""
    thesis = _row(result, MEAN_ROW, "sst-a thesis")
    lines = []
    if thesis is None:
        return "no degraded condition was run"
    for method in ("sst-a robust", "sst-a robust+savgol", "sst-a robust+savgol-5"):
        other = _row(result, MEAN_ROW, method)
        if other is None:
            continue
        d = {k: other[k] - thesis[k] for k in ("pckh", "pck", "completeness", "recall")}
        jit = (other["jitter"] / thesis["jitter"] - 1) * 100 if thesis["jitter"] else math.nan
        lines.append(
            f"{method} vs sst-a thesis (mean over degradations): PCKh {d['pckh']:+.1f}, PCK {d['pck']:+.1f}, "
            f"completeness {d['completeness']:+.1f}, recall {d['recall']:+.1f} points; jitter {jit:+.0f} %"
        )
    per = [g for g in result.gains if g["degradation"] not in ("none", MEAN_ROW)]
    for method in ("sst-a thesis", "sst-a robust", "sst-a robust+savgol", "sst-a robust+savgol-5"):
        wins = sum(g.get(method, -1) > 0 for g in per)
        lines.append(f"{method} beats the best single expert's PCKh on {wins} of {len(per)} degradations")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=VTEST)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--experts", default="yolo,yolo-topdown,mediapipe")
    parser.add_argument("--degradations", default=",".join(DEFAULT_DEGRADATIONS))
    parser.add_argument("--imgsz", type=int, default=1280)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "posekit-degradation")
    args = parser.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")

    options = ProtocolOptions(
        experts=tuple(parse_experts(args.experts)),
        degradations=tuple(d for d in args.degradations.split(",") if d),
        estimator=EstimatorConfig(device=args.device, imgsz=args.imgsz),
        max_frames=args.frames,
        seed=args.seed,
        extra_ssta={
            "sst-a robust+savgol-5": AggregationOptions(
                mode="robust", robust=RobustOptions(smooth="savgol", smooth_window=5)
            ),
        },
    )
    started = time.perf_counter()
    result = run_protocol(
        args.video, options, on_stage=lambda name, n: print(f"[{time.perf_counter() - started:6.0f} s] {name}")
    )
    write_outputs(result, args.out)
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} CPU(s), device {args.device}")
    print(f"seconds per run: {result.meta['seconds']}\n")
    print(markdown_table(result))
    print(verdict(result))
    print(f"\nwrote {args.out}/degradation_table.{{csv,json,md}} and plots/")


if __name__ == "__main__":
    main()
