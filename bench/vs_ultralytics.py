"""`posekit extract` against Ultralytics' own tracked loop on the same weights: CPU, system time, wall, memory.

Two settings, each a pair of whole processes on the same frames (the first ``--frames`` of the street video, cut
once to a lossless clip both read):

- ``yolo@640``: ``posekit extract --experts yolo --imgsz 640 --tiles 1`` against
  ``YOLO(w).track(clip, imgsz=640, tracker="bytetrack.yaml", stream=True)``;
- ``default``: ``posekit extract --experts yolo`` (the zoom pass at 1280, and the pass at 640 on the frames where
  it found someone large or nobody) against the same loop at ``imgsz=1280``, which finds the same small people;
- ``every-frame``: the same with ``--input-size-pass every`` (both passes on every frame);
- ``one-lane``: the default with ``--threads 1`` (one model at a time, as Ultralytics' loop runs: the memory of a
  second detector lane against its wall time).

Both run at the same person threshold (``conf`` 0.1, Ultralytics' tracking default). The two processes of a
setting run in turn (A B A B ...), ``--repeats`` times; the median of each figure and the median of the
per-repeat ratios (posekit / Ultralytics) are reported. CPU is user + system seconds of the process
(``ru_utime + ru_stime``), peak RSS its ``ru_maxrss``; ``person_frames`` counts the (frame, person) pairs each
found, the people-finding yardstick of this comparison (the street video has no labels; bench/people_finding.py
scores recall against a clean reference), ``frames_per_s`` the frames over the wall seconds. With ``--device cuda:N``
both sides run on that one GPU (posekit at its GPU default of 8 frames per batch, Ultralytics' loop frame by frame),
and each row also gives ``frames_per_s_per_gpu``. Results go to ``bench/results/vs_ultralytics.json``.

    python bench/vs_ultralytics.py [--video V] [--frames 200] [--repeats 3] [--device cpu|cuda:N] [--settings S,...]
        [--out bench/results/vs_ultralytics.json]
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

from posekit.core.device import check_device
from posekit.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = REPO.parent / "shared" / "data" / "videos" / "vtest.avi"
RESULTS = REPO / "bench" / "results" / "vs_ultralytics.json"
CONF = 0.1
SETTINGS = {
    "yolo@640": (["--experts", "yolo", "--imgsz", "640", "--tiles", "1"], 640),
    "default": (["--experts", "yolo"], 1280),
    "every-frame": (["--experts", "yolo", "--input-size-pass", "every"], 1280),
    "one-lane": (["--experts", "yolo", "--threads", "1"], 1280),
}
"""Setting -> (posekit flags, the input size of the Ultralytics loop it is compared with)."""
FIGURES = ("wall_s", "cpu_s", "user_s", "sys_s", "peak_rss_mib", "minor_faults", "person_frames", "frames_per_s")
"""The figures of each run that the table and the ratios report."""

ULTRALYTICS_LOOP = """
import json, sys
from ultralytics import YOLO
from posekit.estimators.yolo import bundled_yolo_weights
clip, imgsz, conf, device = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
model = YOLO(str(bundled_yolo_weights()))
frames = persons = 0
for result in model.track(clip, imgsz=imgsz, conf=conf, tracker="bytetrack.yaml", stream=True, verbose=False,
                          device=device):
    frames += 1
    persons += 0 if result.boxes is None or result.boxes.id is None else len(result.boxes.id)
print(json.dumps({"frames": frames, "person_frames": persons}))
"""


def run_child(command: list[str]) -> tuple[dict[str, float], str]:
    """Run ``command`` as a process: its wall, user and system seconds, peak RSS (MiB) and minor page faults
    (from ``wait4``), and its stdout."""
    env = {**os.environ, "YOLO_OFFLINE": "1"}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{' '.join(command[:5])} ... failed:\n{err.read().decode(errors='replace')[-2000:]}")
        figures = {
            "wall_s": wall,
            "user_s": usage.ru_utime,
            "sys_s": usage.ru_stime,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mib": usage.ru_maxrss / 1024,
            "minor_faults": usage.ru_minflt,
        }
        return figures, out.read().decode()


def cut_clip(video: Path, frames: int, out: Path) -> Path:
    """The first ``frames`` frames of ``video`` as a lossless FFV1 clip (both sides decode the same pixels)."""
    import av

    with av.open(str(video)) as src, av.open(str(out), "w") as dst:
        stream = src.streams.video[0]
        rate = stream.average_rate or 10
        enc = dst.add_stream("ffv1", rate=rate)
        enc.width, enc.height, enc.pix_fmt = stream.width, stream.height, "bgr0"
        for index, frame in enumerate(src.decode(stream)):
            if index == frames:
                break
            for packet in enc.encode(frame.reformat(format="bgr0")):
                dst.mux(packet)
        for packet in enc.encode():
            dst.mux(packet)
    return out


def posekit_run(clip: Path, out: Path, flags: list[str], device: str) -> dict[str, float]:
    from posekit.io.shards import read_skeletons

    command = [sys.executable, "-m", "posekit.cli.app", "extract", str(clip), "--out", str(out), *flags]
    command += ["--conf", str(CONF), "--device", device, "--no-progress", "--overwrite"]
    figures, _ = run_child(command)
    clips = read_skeletons(out)
    figures["frames"] = sum(len(clip.frame_index) for clip in clips)
    figures["person_frames"] = sum(len(track) for clip in clips for track in clip.tracks)
    figures["frames_per_s"] = figures["frames"] / figures["wall_s"]
    return figures


def ultralytics_run(clip: Path, imgsz: int, device: str) -> dict[str, float]:
    command = [sys.executable, "-c", ULTRALYTICS_LOOP, str(clip), str(imgsz), str(CONF), device]
    figures, stdout = run_child(command)
    figures.update(json.loads(stdout.strip().splitlines()[-1]))
    figures["frames_per_s"] = figures["frames"] / figures["wall_s"]
    return figures


def median_row(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(run[key] for run in runs), 3) for key in runs[0]}


def median_ratio(mine: list[dict[str, float]], theirs: list[dict[str, float]], key: str) -> float | None:
    """The median over the repeats of posekit's ``key`` over Ultralytics' (None where Ultralytics' is always 0)."""
    ratios = [a[key] / b[key] for a, b in zip(mine, theirs) if b[key]]
    return round(statistics.median(ratios), 3) if ratios else None


def compare(name: str, clip: Path, work: Path, repeats: int, device: str) -> dict:
    flags, imgsz = SETTINGS[name]
    mine, theirs = [], []
    for _ in range(repeats):
        mine.append(posekit_run(clip, work / name, flags, device))
        theirs.append(ultralytics_run(clip, imgsz, device))
    ratios = {key: median_ratio(mine, theirs, key) for key in FIGURES}
    row = {
        "setting": name,
        "posekit": " ".join(flags),
        "ultralytics": f"model.track(imgsz={imgsz}, tracker=bytetrack)",
        "posekit_median": median_row(mine),
        "ultralytics_median": median_row(theirs),
        "ratio_median": ratios,
    }
    if device != "cpu":
        row["frames_per_s_per_gpu"] = {
            side: row[f"{side}_median"]["frames_per_s"] for side in ("posekit", "ultralytics")
        }
    return row


def table(rows: list[dict]) -> str:
    lines = ["| setting | figure | posekit | Ultralytics | ratio |", "| --- | --- | --- | --- | --- |"]
    for row in rows:
        for key in FIGURES:
            mine, theirs = row["posekit_median"][key], row["ultralytics_median"][key]
            ratio = row["ratio_median"][key]
            shown = "n/a" if ratio is None else f"{ratio:.2f}x"
            lines.append(f"| {row['setting']} | {key} | {mine:g} | {theirs:g} | {shown} |")
    return "\n".join(lines)


def gpu_name(device: str) -> str:
    """The name of the GPU ``device`` names (empty for ``cpu``); :class:`ConfigError` when it is malformed or absent."""
    check_device(device)
    if device == "cpu":
        return ""
    import torch

    return torch.cuda.get_device_name(torch.device(device))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--out", type=Path, default=RESULTS, help="Where the rows go (JSON).")
    args = parser.parse_args()
    try:
        gpu = gpu_name(args.device)
    except ConfigError as exc:
        parser.error(str(exc))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clip = cut_clip(args.video, args.frames, work / "clip.mkv")
        rows = [compare(name, clip, work, args.repeats, args.device) for name in args.settings.split(",")]
    print(table(rows))
    doc = {
        "video": args.video.name,
        "frames": args.frames,
        "repeats": args.repeats,
        "device": args.device,
        "gpu": gpu,
        "cpus": os.cpu_count(),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
