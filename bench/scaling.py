"""Ray backend scaling: clips/s single-process vs Ray with 1 and 2 workers, in one run.

Cuts a few short real clips from a video at run time, extracts them with each backend (the
models loaded once per process or actor), checks every backend wrote the same shards and
prints clips/s, the Ray overhead at 1 worker (goal <= 15 %) and a paper estimate of wall
time and cost for Posetics (142k clips) on N GPUs, scaled from the measured per-frame cost.

    python bench/scaling.py [--video V] [--clips 8] [--frames 16] [--imgsz 640] [--repeats 2]

Same compute on both sides: Ultralytics runs the single process with min(8, CPUs - 1) torch
threads, so "ray, 1 worker" gets that many (--cpus-per-worker) and the overhead is measured
between the two; "ray, 1 worker x CPUs" is the default (all CPUs to the one actor).

Throughput is measured in the steady state: clips after the first divided by the time from
the first result to the last (Ray's start, the actors' model loading and the single
process's model loading are reported apart as start-up, a fixed cost per job).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")

import av
import numpy as np

from posekit.estimators.base import EstimatorConfig
from posekit.estimators.registry import parse_experts
from posekit.io.shards import list_shards, read_skeletons
from posekit.io.video import VideoInput
from posekit.workflows.extraction.clip import ClipOutcome
from posekit.workflows.extraction.options import ExtractOptions
from posekit.workflows.extraction.ray_backend import RayBackend, RayOptions
from posekit.workflows.extraction.run import Backend, LocalBackend, run_extraction

REPO = Path(__file__).resolve().parents[1]
SINGLE_THREADS = min(8, max(1, (os.cpu_count() or 1) - 1))
"""Torch threads of the single process: Ultralytics sets this on its first prediction."""
POSETICS_CLIPS = 142_000


class Timed:
    """Wraps a backend and records when each clip's result reaches the driver."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.name = inner.name
        self.started = 0.0
        self.times: list[float] = []

    def outcomes(self, videos: list[VideoInput], options: ExtractOptions, progress: bool) -> Iterator[ClipOutcome]:
        self.started = time.perf_counter()
        for outcome in self.inner.outcomes(videos, options, progress):
            self.times.append(time.perf_counter())
            yield outcome

    def rates(self) -> tuple[float, float, float]:
        """(start-up s, steady clips/s, total s)."""
        steady = (len(self.times) - 1) / (self.times[-1] - self.times[0])
        return self.times[0] - self.started, steady, self.times[-1] - self.started


def cut_clips(video: Path, folder: Path, clips: int, frames: int) -> None:
    """``clips`` clips of ``frames`` frames each, from successive parts of ``video``."""
    with av.open(str(video)) as container:
        images = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    step = max(1, (len(images) - frames) // max(1, clips - 1))
    for i in range(clips):
        start = (i * step) % max(1, len(images) - frames)
        with av.open(str(folder / f"clip{i:03d}.mp4"), mode="w") as out:
            stream = out.add_stream("libx264", rate=10)
            stream.height, stream.width = images[0].shape[:2]
            stream.pix_fmt = "yuv420p"
            for image in images[start : start + frames]:
                out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            out.mux(stream.encode())


def run(name: str, backend: Backend, inputs: Path, options: ExtractOptions, shards: dict) -> tuple[float, float, float]:
    timed = Timed(backend)
    with tempfile.TemporaryDirectory() as out:
        summary = run_extraction(inputs, Path(out), options, progress=False, backend=timed)
        assert summary.failed == 0, summary.failures
        shards[name] = ([p.read_bytes() for p in list_shards(Path(out))], read_skeletons(Path(out)))
    return timed.rates()


def compare(mine: tuple[list[bytes], list], theirs: tuple[list[bytes], list]) -> str:
    """Byte-identical shards, or the largest keypoint difference between the same tracks."""
    if mine[0] == theirs[0]:
        return "shards byte-identical"
    a, b = mine[1], theirs[1]
    same_rows = [c.clip_id for c in a] == [c.clip_id for c in b]
    same_tracks = same_rows and all(
        [(t.track_id, len(t)) for t in x.tracks] == [(t.track_id, len(t)) for t in y.tracks] for x, y in zip(a, b)
    )
    if not same_tracks:
        return f"same rows: {same_rows}, same tracks: False"
    diff = max(
        (
            float(np.nanmax(np.abs(s.keypoints - t.keypoints), initial=0.0))
            for x, y in zip(a, b)
            for s, t in zip(x.tracks, y.tracks)
        ),
        default=0.0,
    )
    return f"same rows and tracks, keypoints differ by at most {diff:.2g} px (float summation order)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=REPO / "assets" / "vtest-4s.mp4")
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--repeats", type=int, default=2, help="rounds of the three backends, interleaved")
    parser.add_argument("--frames-per-clip", type=float, default=250, help="Posetics: 10 s clips at 25 fps")
    parser.add_argument(
        "--gpu-speedup", type=float, default=30.0, help="ASSUMED per-frame speed-up of one GPU over this CPU"
    )
    parser.add_argument("--gpu-hour-cost", type=float, default=2.5, help="ASSUMED price of one GPU hour (USD)")
    args = parser.parse_args()

    import ray

    cpus = len(os.sched_getaffinity(0))
    options = ExtractOptions(
        experts=tuple(parse_experts("yolo")), estimator=EstimatorConfig(imgsz=args.imgsz), shard_clips=4
    )
    with tempfile.TemporaryDirectory() as folder:
        inputs = Path(folder)
        cut_clips(args.video, inputs, args.clips, args.frames)
        started = time.perf_counter()
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        ray_start = time.perf_counter() - started
        configs: dict[str, Backend] = {
            "single process": LocalBackend(),
            "ray, 1 worker": RayBackend(RayOptions(workers=1, cpus_per_worker=SINGLE_THREADS)),
            "ray, 2 workers": RayBackend(RayOptions(workers=2, cpus_per_worker=max(1, cpus // 2))),
            f"ray, 1 worker x {cpus} CPUs": RayBackend(RayOptions(workers=1)),
        }
        results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in configs}
        shards: dict[str, list[bytes]] = {}
        for _ in range(args.repeats):
            for name, backend in configs.items():
                results[name].append(run(name, backend, inputs, options, shards))
                print(f"  {name}: {results[name][-1][1]:.3f} clips/s", flush=True)
        ray.shutdown()

    frames = args.clips * args.frames
    print(f"\n{args.clips} clips x {args.frames} frames ({args.video.name}), yolo at --imgsz {args.imgsz}, {cpus} CPUs")
    print(f"ray.init (local cluster): {ray_start:.1f} s, once per job")
    print(f"single process: {SINGLE_THREADS} torch thread(s); Ray workers: --cpus-per-worker threads each")
    print(f"{'backend':<24} {'start-up s':>10} {'clips/s':>8} {'frames/s':>9} {'vs single':>10}")
    base = statistics.median(r[1] for r in results["single process"])
    for name, runs in results.items():
        startup = statistics.median(r[0] for r in runs)
        rate = statistics.median(r[1] for r in runs)
        print(f"{name:<24} {startup:>10.1f} {rate:>8.3f} {rate * args.frames:>9.2f} {rate / base:>9.2f}x")
    overhead = 1 - statistics.median(r[1] for r in results["ray, 1 worker"]) / base
    print(f"Ray overhead at 1 worker: {overhead * 100:+.1f} % of single-process throughput (goal <= 15 %)")
    print(f"output vs single process ({len(shards['single process'][0])} shards, {frames} frames):")
    for name in list(configs)[1:]:
        print(f"  {name}: {compare(shards['single process'], shards[name])}")

    s_per_frame = 1 / (base * args.frames)
    total = POSETICS_CLIPS * args.frames_per_clip
    print(
        f"\nPosetics paper estimate ({POSETICS_CLIPS} clips x {args.frames_per_clip:.0f} frames = {total / 1e6:.1f} M)"
    )
    print(f"measured here: {s_per_frame * 1000:.0f} ms/frame on {cpus} CPU cores (yolo, imgsz {args.imgsz})")
    print(f"  CPU only, this machine: {total * s_per_frame / 3600:.0f} h")
    gpu_fps = args.gpu_speedup / s_per_frame
    efficiency = min(1.0, 1 - overhead)
    print(
        f"GPU figures are SCALED FROM CPU, not measured: ASSUMED {args.gpu_speedup:.0f}x per GPU = {gpu_fps:.0f} "
        f"frames/s, {efficiency:.2f} parallel efficiency (measured Ray overhead, at most 1), "
        f"${args.gpu_hour_cost}/GPU-hour"
    )
    for gpus in (1, 8, 32, 128):
        hours = total / (gpu_fps * gpus * efficiency) / 3600
        cost = hours * gpus * args.gpu_hour_cost
        print(f"  {gpus:>4} GPUs: {hours:7.1f} h wall, {hours * gpus:7.0f} GPU-h, ${cost:,.0f}")


if __name__ == "__main__":
    main()
