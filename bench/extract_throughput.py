"""`posekit extract` throughput: one batch after the other (PyTorch, ``--threads 1``) against the pipeline.

Each setting (``default``: the YOLO expert at 640; ``3-expert``: yolo, yolo-topdown and mediapipe at 1280)
runs as whole ``posekit extract`` processes, the variants in turn (A B C A B C ...), several repeats; the
median frames/s and CPU seconds per frame are reported, each variant's ratio taken against the ``--threads 1`` run of
the same repeat. Every variant's shards are compared with that run's: ``equal_output`` is byte equality of the
skeleton shards, ``max_joint_diff_px`` the largest joint difference of the raw expert proposals. Peak RSS
is the process's own (``ru_maxrss``); each setting is also run at two lengths, ``--rss-repeats`` times, to show it
flat (the peak of a run varies by a few % from run to run, so each repeat's growth is kept and the median reported).
With ``--device cuda:N`` every run is on that GPU (the OpenVINO variant, a CPU runtime, is left out) and
``--batch-size`` sets the frames per batch.

    python bench/extract_throughput.py [--video V] [--repeats 3] [--rss-frames 40,400] [--rss-frames-3-expert 40,200]
        [--rss-repeats 3] [--device cuda:0 --batch-size 32]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = REPO.parent / "shared" / "data" / "videos" / "vtest.avi"
SETTINGS = {
    "default": (["--experts", "yolo"], 48),
    "3-expert": (["--experts", "yolo,yolo-topdown,mediapipe", "--imgsz", "1280"], 48),
}
VARIANTS = {
    "torch": ["--runtime", "torch", "--threads", "1"],
    "torch+pipeline": ["--runtime", "torch"],
    "openvino+pipeline": ["--runtime", "openvino"],
}
"""The path of one batch after the other first (the yardstick), then the pipeline of ``--threads`` left to its
default (two models at once on two cores or more)."""


def extract(video: Path, out: Path, args: list[str], frames: int) -> dict[str, float]:
    """One ``posekit extract`` process: wall seconds, CPU seconds (user + system) and peak RSS (MB)."""
    command = [sys.executable, "-m", "posekit.cli.app", "extract", str(video), "--out", str(out)]
    command += [*args, "--max-frames", str(frames), "--keep-proposals", "--no-progress", "--overwrite"]
    env = {**os.environ, "YOLO_OFFLINE": "1"}
    start = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    error = child.stderr.read().decode(errors="replace") if child.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"posekit extract failed ({' '.join(args)}):\n{error[-2000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024}


def max_joint_diff(a: Path, b: Path) -> float:
    """Largest difference (pixels) between the raw proposals of two runs; inf when the persons differ."""
    import pyarrow.parquet as pq

    ta = pq.read_table(next((a / "proposals").glob("*.parquet"))).to_pandas()
    tb = pq.read_table(next((b / "proposals").glob("*.parquet"))).to_pandas()
    worst = 0.0
    for ka, kb in zip(ta["keypoints"], tb["keypoints"]):
        xa = np.array([np.stack(list(p)) for p in ka], float) if len(ka) else np.zeros((0, 0, 2))
        xb = np.array([np.stack(list(p)) for p in kb], float) if len(kb) else np.zeros((0, 0, 2))
        if xa.shape != xb.shape or not np.array_equal(np.isnan(xa), np.isnan(xb)):
            return float("inf")
        if xa.size:
            worst = max(worst, float(np.nanmax(np.abs(xa - xb), initial=0.0)))
    return worst


def same_skeletons(a: Path, b: Path) -> bool:
    """Whether two runs wrote byte-identical skeleton shards."""
    shards = sorted(p.name for p in a.glob("skeletons-*.parquet"))
    return shards == sorted(p.name for p in b.glob("skeletons-*.parquet")) and all(
        (a / name).read_bytes() == (b / name).read_bytes() for name in shards
    )


def installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rss-frames", default="40,400", help="Lengths the default setting's peak RSS is taken at.")
    parser.add_argument("--rss-frames-3-expert", default="40,200", help="The same for the 3-expert setting.")
    parser.add_argument("--rss-repeats", type=int, default=3, help="Runs of each length for the RSS growth.")
    parser.add_argument("--device", default="cpu", help="cpu or cuda:N, for every run.")
    parser.add_argument("--batch-size", type=int, default=None, help="Frames per batch (default: posekit's).")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "extract_throughput.json")
    args = parser.parse_args()
    on_cpu = args.device == "cpu"
    variants = {k: v for k, v in VARIANTS.items() if "openvino" not in k or (on_cpu and installed("openvino"))}
    common = ["--device", args.device] + ([] if args.batch_size is None else ["--batch-size", str(args.batch_size)])
    load_before = os.getloadavg()
    rows, notes = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for setting, (setting_args, frames) in SETTINGS.items():
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
            for repeat in range(args.repeats):
                for name, variant_args in variants.items():
                    out = Path(tmp) / setting / name
                    runs[name].append(extract(args.video, out, setting_args + variant_args + common, frames))
                    print(setting, name, repeat, {k: round(v, 2) for k, v in runs[name][-1].items()}, flush=True)
            base = Path(tmp) / setting / "torch"
            for name in variants:
                out = Path(tmp) / setting / name
                wall_ratio = [b["wall_s"] / r["wall_s"] for r, b in zip(runs[name], runs["torch"])]
                cpu_ratio = [b["cpu_s"] / r["cpu_s"] for r, b in zip(runs[name], runs["torch"])]
                rows.append(
                    {
                        "setting": setting,
                        "runtime": name,
                        "frames": frames,
                        "frames_per_s": round(frames / statistics.median(r["wall_s"] for r in runs[name]), 3),
                        "ratio_vs_torch": round(statistics.median(wall_ratio), 3),
                        "cpu_s_per_frame": round(statistics.median(r["cpu_s"] for r in runs[name]) / frames, 3),
                        "cpu_ratio_vs_torch": round(statistics.median(cpu_ratio), 3),
                        "equal_output": same_skeletons(base, out),
                        "max_joint_diff_px": max_joint_diff(base, out),
                        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs[name]), 1),
                    }
                )
                print(rows[-1], flush=True)
        for setting, frames_list in (("default", args.rss_frames), ("3-expert", args.rss_frames_3_expert)):
            lengths = [int(n) for n in frames_list.split(",")]
            setting_args, _ = SETTINGS[setting]
            out = Path(tmp) / f"rss-{setting}"
            repeats = [
                {n: extract(args.video, out, setting_args + common, n)["peak_rss_mb"] for n in lengths}
                for _ in range(args.rss_repeats)
            ]
            growth = [rss[lengths[-1]] / rss[lengths[0]] - 1 for rss in repeats]
            notes[f"{setting}_peak_rss_mb_by_frames"] = [{str(n): round(v, 1) for n, v in r.items()} for r in repeats]
            notes[f"{setting}_rss_growth_per_repeat"] = [round(g, 4) for g in growth]
            notes[f"{setting}_rss_growth"] = round(statistics.median(growth), 4)
            print(setting, notes[f"{setting}_peak_rss_mb_by_frames"], flush=True)
    notes["device"] = args.device
    notes["load_average_before_after"] = [round(x, 2) for x in (*load_before, *os.getloadavg())]
    notes["cpus"] = os.cpu_count()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "notes": notes}, indent=2) + "\n")
    print(json.dumps(notes, indent=2))


if __name__ == "__main__":
    main()
