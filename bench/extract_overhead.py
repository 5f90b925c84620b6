"""posekit extract (YOLO expert) vs the bare Ultralytics loop on the same frames, in one run.

Prints the overhead ratio (goal <= 1.10) and the peak RSS of `posekit extract` on a short
input and on a 4x longer one (goal: flat, since frames are streamed).

    python bench/extract_overhead.py [--video V] [--frames 48] [--imgsz 1280] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = REPO.parent / "shared" / "data" / "videos" / "vtest.avi"


def bare_loop(frames_bgr, weights: Path, imgsz: int, batch_size: int) -> float:
    """Load the model and run it over already decoded frames, as a bare script would."""
    from ultralytics import YOLO

    start = time.perf_counter()
    model = YOLO(str(weights))
    for i in range(0, len(frames_bgr), batch_size):
        model.predict(frames_bgr[i : i + batch_size], imgsz=imgsz, conf=0.1, verbose=False)
    return time.perf_counter() - start


def posekit_run(video: Path, frames: int, imgsz: int, batch_size: int) -> float:
    """The whole ``posekit extract`` run: model load, decoding, inference, tracking, shards."""
    from posekit.estimators.base import EstimatorConfig
    from posekit.estimators.registry import parse_experts
    from posekit.workflows.extraction.options import ExtractOptions
    from posekit.workflows.extraction.run import run_extraction

    options = ExtractOptions(
        experts=tuple(parse_experts("yolo")),
        estimator=EstimatorConfig(imgsz=imgsz),
        batch_size=batch_size,
        max_frames=frames,
    )
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        summary = run_extraction(video, Path(out), options, progress=False)
        elapsed = time.perf_counter() - start
    assert summary.done == 1 and summary.frames == frames, summary
    return elapsed


def peak_rss_mb(video: Path, frames: int, imgsz: int, batch_size: int) -> float:
    """Run one extraction in a fresh process and return its peak resident memory."""
    code = (
        "import resource, sys, json;"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r});"
        "from extract_overhead import posekit_run;"
        f"posekit_run(__import__('pathlib').Path({str(video)!r}), {frames}, {imgsz}, {batch_size});"
        "print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--imgsz", type=int, default=1280)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import av

    from posekit.estimators.yolo import bundled_yolo_weights

    with av.open(str(args.video)) as container:
        frames_bgr = []
        for frame in container.decode(video=0):
            frames_bgr.append(frame.to_ndarray(format="bgr24"))
            if len(frames_bgr) == args.frames:
                break

    posekit_run(args.video, args.batch_size, args.imgsz, args.batch_size)
    bare, ours = [], []
    for _ in range(args.repeats):
        bare.append(bare_loop(frames_bgr, bundled_yolo_weights(), args.imgsz, args.batch_size))
        ours.append(posekit_run(args.video, args.frames, args.imgsz, args.batch_size))
    b, o = min(bare), min(ours)
    print(
        f"video={args.video.name} frames={args.frames} imgsz={args.imgsz} "
        f"batch={args.batch_size} cpu_threads={os.cpu_count()}"
    )
    print(f"bare YOLO load + loop (frames already decoded): {b:.2f} s ({1000 * b / args.frames:.0f} ms/frame)")
    print(f"posekit extract (load+decode+track+shards):    {o:.2f} s ({1000 * o / args.frames:.0f} ms/frame)")
    print(f"overhead ratio posekit/bare: {o / b:.3f}  (goal <= 1.10)")

    short = peak_rss_mb(args.video, args.frames, args.imgsz, args.batch_size)
    long = peak_rss_mb(args.video, 4 * args.frames, args.imgsz, args.batch_size)
    print(
        f"peak RSS: {args.frames} frames {short:.0f} MB, {4 * args.frames} frames {long:.0f} MB, "
        f"ratio {long / short:.3f} (goal: flat)"
    )
    print(json.dumps({"overhead_ratio": round(o / b, 4), "rss_short_mb": round(short), "rss_long_mb": round(long)}))


if __name__ == "__main__":
    main()
