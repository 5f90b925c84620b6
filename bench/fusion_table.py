"""Fusion against every expert: the NTU-Pose protocol on two real videos, then the chosen settings on gt-dev.

1. **NTU-Pose protocol** (:mod:`posekit.workflows.protocols.ntu_pose`) on the NTU RGB+D clip
   (1920x1080 -> 320x180 + occluders) and on the street video ``vtest.avi`` (768x576 -> 240x180
   + occluders): clean reference where the experts agree on the full-resolution frames (input
   1280), scored runs at ``--imgsz`` 640 and 1280; every expert, SST-A thesis, robust and the
   fused variants of :data:`FUSED_VARIANTS` (no model run each). Scores are **agreement with a
   clean reference**, not accuracy against human labels.
2. **Choices made on the protocol only**: each method's input size (the better mean PCKh of
   the two videos) and the fused variant (the best mean PCKh); the labelled images choose nothing.
3. **gt-dev** (human labels, OKS AP / AR / PCKh through ``bench/gt_table.py``'s ``extract`` and
   ``row``): each expert, SST-A thesis and fused at those choices, and ``default``
   (``posekit extract`` without flags: yolo at 640).

Rows: PCKh@0.5 (%), MPJPE / head, persons found / reference (recall %), seconds per frame
(each expert alone and the three together, on 10 degraded frames), and the failure classes of
:func:`~posekit.workflows.protocols.ntu_pose.failure_classes`. Writes
``bench/results/fusion_table.json``.

Run: ``python bench/fusion_table.py [--ntu-frames 60] [--street-frames 40] [--sets coco,mpii,crowdpose]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")

from posekit.core.jsonable import jsonable
from posekit.estimators.base import EstimatorConfig
from posekit.estimators.registry import parse_experts
from posekit.refine.ssta import AggregationOptions
from posekit.refine.ssta.options import FusedOptions
from posekit.workflows.protocols.degradation import run_protocol
from posekit.workflows.protocols.ntu_pose import failure_classes, ntu_pose_options, seconds_per_frame

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from gt_table import GT_DEV, SETS, extract, row  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "videos"
VIDEOS = {"ntu": DATA / "ntu-S001C001P001R001A001_rgb.avi", "street": DATA / "vtest.avi"}
EXPERTS = ("yolo", "yolo-topdown", "mediapipe")
IMGSZ = (640, 1280)
THESIS = "sst-a thesis"
FUSED_VARIANTS = {
    f"sst-a fused tol={tol:g} {weights}{'' if repair else ' no-swap'}": FusedOptions(
        fuse_tolerance=tol, fuse_weights=weights, swap_repair=repair
    )
    for tol in (0.1, 0.2, 0.3, 0.5)
    for weights in ("scores", "equal")
    for repair in (True, False)
}
"""The fused settings scored on the protocol (row name -> options); the best one goes to gt-dev."""


def protocol_rows(video: Path, frames: int) -> tuple[list[dict], dict]:
    """Rows ``{method, imgsz, pckh, mpjpe, recall, ...}`` of the NTU-Pose protocol at each input size, and timings."""
    specs = parse_experts(",".join(EXPERTS))
    variants = {name: AggregationOptions(mode="fused", fused=f) for name, f in FUSED_VARIANTS.items()}
    rows, timing = [], {}
    for imgsz in IMGSZ:
        options = ntu_pose_options(
            video, specs, estimator=EstimatorConfig(imgsz=imgsz), reference_imgsz=1280, max_frames=frames,
            fused=variants,
        )  # fmt: skip
        result = run_protocol(video, options)
        degradation = options.degradations[0]
        for r in result.rows:
            if r["degradation"] != degradation:
                continue
            classes = failure_classes(result.matched[degradation][r["method"]], options.layout)
            rows.append({**r, "imgsz": imgsz, "failures": classes})
        timing[imgsz] = {**seconds_per_frame(video, options), "reference_meta": result.meta["reference"]}
        print(f"  {video.name} @ {imgsz}: {len(result.rows)} rows, {result.meta['seconds']}", flush=True)
    return rows, timing


def best_imgsz(rows: dict[str, list[dict]], method: str) -> int:
    """The input size of ``method`` with the best PCKh, averaged over the videos."""

    def mean(imgsz: int) -> float:
        values = [r["pckh"] for rs in rows.values() for r in rs if r["method"] == method and r["imgsz"] == imgsz]
        return sum(values) / len(values)

    return max(IMGSZ, key=mean)


def pick(rows: list[dict], method: str, imgsz: int) -> dict:
    return next(r for r in rows if r["method"] == method and r["imgsz"] == imgsz)


def fused_flags(name: str, imgsz: int) -> list[str]:
    f = FUSED_VARIANTS[name]
    return [
        "--experts", ",".join(EXPERTS), "--imgsz", str(imgsz), "--mode", "fused",
        "--fuse-tolerance", f"{f.fuse_tolerance:g}", "--fuse-weights", f.fuse_weights,
        "--swap-repair" if f.swap_repair else "--no-swap-repair",
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ntu-frames", type=int, default=60, help="First frames of the NTU clip (it has 103).")
    parser.add_argument("--street-frames", type=int, default=40, help="First frames of vtest.avi.")
    parser.add_argument("--sets", default=",".join(SETS), help="gt-dev sets to score ('' to skip).")
    parser.add_argument("--bootstrap", type=int, default=200, help="Bootstrap resamples of the gt-dev intervals.")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "fusion_table.json")
    args = parser.parse_args()

    frames = {"ntu": args.ntu_frames, "street": args.street_frames}
    protocol, timing = {}, {}
    for name, video in VIDEOS.items():
        protocol[name], timing[name] = protocol_rows(video, frames[name])

    fused_names = list(FUSED_VARIANTS)
    size = {m: best_imgsz(protocol, m) for m in (*EXPERTS, THESIS, *fused_names)}

    def score(m: str) -> float:
        return sum(pick(rs, m, size[m])["pckh"] for rs in protocol.values()) / len(protocol)

    chosen = max(fused_names, key=score)
    table = {}
    for name, rs in protocol.items():
        lines = [(e, e, size[e]) for e in EXPERTS] + [(THESIS, THESIS, size[THESIS]), ("fused", chosen, size[chosen])]
        lines.append(("default", "yolo", 640))
        table[name] = []
        for label, method, imgsz in lines:
            r = pick(rs, method, imgsz)
            expert_time = timing[name][imgsz].get(method, timing[name][imgsz]["all"])
            table[name].append(
                {"method": label, "setting": f"{method} @ {imgsz}", "pckh": r["pckh"], "mpjpe": r["mpjpe"],
                 "recall": r["recall"], "matched": r["matched"], "ref_persons": r["ref_persons"],
                 "seconds_per_frame": expert_time, "failures": r["failures"]}
            )  # fmt: skip

    gt_rows = []
    if args.sets:
        gt_methods = [(e, ["--experts", e, "--imgsz", str(size[e])]) for e in EXPERTS]
        gt_methods += [(THESIS, ["--experts", ",".join(EXPERTS), "--imgsz", str(size[THESIS])])]
        gt_methods += [("fused", fused_flags(chosen, size[chosen])), ("default", [])]
        with tempfile.TemporaryDirectory() as tmp:
            for set_name in args.sets.split(","):
                images = GT_DEV / set_name
                for method, flags in gt_methods:
                    shards = Path(tmp) / set_name / method.replace(" ", "-")
                    seconds = extract(images, shards, flags)
                    r = row(set_name, method, images / SETS[set_name], images, shards, seconds, args.bootstrap)
                    gt_rows.append({**r, "flags": flags})
                    print(f"  gt-dev {set_name} {method}: AP {r['ap']:.1f} PCKh {r['pckh']:.1f}", flush=True)

    doc = {
        "note": "protocol scores are agreement with a clean reference built from the same experts, not accuracy "
        "against human labels; gt-dev scores are against human labels (few images: see the intervals)",
        "frames": frames,
        "chosen": {"fused": chosen, "imgsz": size},
        "table": table,
        "protocol": protocol,
        "timing": timing,
        "gt_dev": gt_rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(jsonable(doc), indent=1) + "\n")
    for name, rs in table.items():
        print(f"\n{name}: method | setting | PCKh@0.5 | MPJPE/head | found/ref | s/frame")
        for r in rs:
            print(
                f"  {r['method']} | {r['setting']} | {r['pckh']:.1f} | {r['mpjpe']:.3f} | "
                f"{r['matched']:.0f}/{r['ref_persons']:.0f} | {r['seconds_per_frame']:.2f}"
            )
    for r in gt_rows:
        print(f"  gt-dev {r['set']} {r['method']}: AP {r['ap']:.1f} AR {r['ar']:.1f} PCKh {r['pckh']:.1f}")


if __name__ == "__main__":
    main()
