"""Skeletons a user can trust on real clips: ghosts, identities, invented joints, the main persons.

Each case is a real clip or a crop of one made here (nothing is written into the repo):

- ``armwrestling``: the Kinetics-style arm-wrestling clip, its first 40 frames (two wrestlers, spectators
  behind; from frame ~5 one detection often covers both wrestlers);
- ``leg-only``: the NTU sample cropped to the performer's legs, sandals and hands (x 800-1300, y 480-780 of
  1920x1080, upscaled x1.5), 40 frames;
- ``torso-cut``: the NTU sample cropped so that the frame's left edge cuts the performer's body in half
  (x 1040-1340, y 250-760, upscaled x1.5), 40 frames;
- ``leave-reenter``: the NTU sample seen through a 480x540 window that pans right until the performer has
  left the view (frames 12-24), stays away, and pans back (frames 36-48), 60 frames;
- ``crossing``: the street video from frame 600 at ``--imgsz 1280``, 60 frames (pedestrians crossing).

Each case runs ``posekit extract`` with the default expert and with ``yolo,yolo-topdown,mediapipe``, once
with the flags that reproduce the former behaviour (``before``: ``--merged-boxes keep --stitch-seconds 0
--lone-joints keep``, persons ordered by summed box score as ``to_array`` did) and once with the defaults
(``after``); with the default expert also with ``--tracker botsort`` (``after, botsort``). Per run:

- ``ghost_frames``: pose-frames whose box holds the centres of two other poses of the frame, each 25-80 %
  of its area (a box check, the same on every case);
- ``id_switches``: arm wrestling: per wrestler (a pose taller than 70 % of the frame and narrower than
  75 % of it, on the left or right half), the times the id on that wrestler changes between the frames
  it is seen; leave-reenter (one person in view): identities of the performer minus 1; crossing: the
  times a track's box centre jumps by more than half its height between consecutive frames (the id
  moved to someone else), with the number of tracks beside it;
- ``joints_present``: % of the main person's joints present over its frames (partial views), with each
  expert alone for the comparison the goal asks for;
- ``first_two``: what the first two export slots hold (arm wrestling: left / right wrestler or other);
- ``dropped``: person-frames left out by reason (``merged_box`` among them), and frames each wrestler
  is present, so that nothing real is lost unseen.

Writes ``bench/results/trust.json``. Run: ``python bench/trust.py [--cases armwrestling,...]`` (about 10
minutes on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

os.environ.setdefault("YOLO_OFFLINE", "1")

from posekit.io.shards import read_skeletons
from posekit.skeleton.records import SkeletonClip, SkeletonTrack

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "videos"
ARMWRESTLING = DATA / "kinetics-armwrestling.mp4"
NTU = DATA / "ntu-S001C001P001R001A001_rgb.avi"
STREET = DATA / "vtest.avi"
THREE = "yolo,yolo-topdown,mediapipe"
EXPERT_SETS = ("yolo", THREE)
BEFORE = ["--merged-boxes", "keep", "--stitch-seconds", "0", "--lone-joints", "keep"]
WRESTLER_HEIGHT, WRESTLER_WIDTH = 0.7, 0.75


def frames_of(path: Path, start: int, count: int) -> list[np.ndarray]:
    """``count`` RGB frames of ``path`` from frame ``start``."""
    out = []
    with av.open(str(path)) as container:
        for k, frame in enumerate(container.decode(video=0)):
            if k >= start:
                out.append(frame.to_ndarray(format="rgb24"))
            if len(out) == count:
                break
    return out


def write_video(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=round(fps))
        stream.height, stream.width = (s - s % 2 for s in frames[0].shape[:2])
        stream.pix_fmt = "yuv420p"
        for image in frames:
            image = np.ascontiguousarray(image[: stream.height, : stream.width])
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def resized(image: np.ndarray, factor: float) -> np.ndarray:
    import cv2

    return cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)


def pan_offsets(count: int) -> list[int]:
    """Left edge of the leave-reenter window per frame: still, pan right, away, pan back, still."""
    out = []
    for t in range(count):
        if t < 12:
            share = 0.0
        elif t < 24:
            share = (t - 12) / 12
        elif t < 36:
            share = 1.0
        elif t < 48:
            share = 1 - (t - 36) / 12
        else:
            share = 0.0
        out.append(round(780 + share * 400))
    return out


def make_cases(workdir: Path) -> dict[str, tuple[Path, list[str]]]:
    """Case name -> (video made in ``workdir``, extra extract flags)."""
    ntu = frames_of(NTU, 0, 60)
    return {
        "armwrestling": (ARMWRESTLING, ["--max-frames", "40"]),
        "leg-only": (write_video(workdir / "leg.mp4", [resized(f[480:780, 800:1300], 1.5) for f in ntu[:40]], 30), []),
        "torso-cut": (
            write_video(workdir / "torso.mp4", [resized(f[250:760, 1040:1340], 1.5) for f in ntu[:40]], 30),
            [],
        ),
        "leave-reenter": (
            write_video(workdir / "pan.mp4", [f[250:790, x : x + 480] for f, x in zip(ntu, pan_offsets(60))], 30),
            [],
        ),
        "crossing": (write_video(workdir / "street.mp4", frames_of(STREET, 600, 60), 10), ["--imgsz", "1280"]),
    }


def extract(video: Path, out: Path, flags: list[str]) -> tuple[SkeletonClip, dict]:
    cmd = [sys.executable, "-m", "posekit", "extract", str(video), "--out", str(out), *flags, "--no-progress"]
    done = subprocess.run(cmd, env={**os.environ, "YOLO_OFFLINE": "1"}, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"posekit extract failed ({done.returncode}): {' '.join(cmd)}\n{done.stdout}\n{done.stderr}")
    (clip,) = read_skeletons(out)
    (entry,) = json.loads((out / "manifest.json").read_text())["entries"]
    return clip, entry


def poses_by_frame(clip: SkeletonClip) -> list[list[tuple[int, np.ndarray]]]:
    """Per frame, ``(track id, (4,) xyxy box)`` of every pose."""
    out: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(clip.num_frames)]
    for track in clip.tracks:
        for k, t in enumerate(track.t):
            out[t].append((track.track_id, track.boxes[k]))
    return out


def ghost_frames(clip: SkeletonClip) -> int:
    """Pose-frames whose box holds the centres of two other poses of 25-80 % of its area."""
    count = 0
    for poses in poses_by_frame(clip):
        boxes = np.array([box for _, box in poses]).reshape(-1, 4)
        area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        for i in range(len(boxes)):
            inside = (centre >= boxes[i, :2]).all(1) & (centre <= boxes[i, 2:]).all(1)
            ratio = area / max(area[i], 1e-9)
            inside[i] = False
            count += int((inside & (ratio >= 0.25) & (ratio <= 0.8)).sum() >= 2)
    return count


def wrestler_side(box: np.ndarray, width: int, height: int) -> str | None:
    w, h = box[2] - box[0], box[3] - box[1]
    if h < WRESTLER_HEIGHT * height or w >= WRESTLER_WIDTH * width:
        return None
    return "left" if (box[0] + box[2]) / 2 < width / 2 else "right"


def wrestler_switches(clip: SkeletonClip) -> dict[str, dict[str, int]]:
    """Per wrestler: id changes between the frames it is seen, and frames seen."""
    out = {side: {"id_switches": 0, "frames": 0} for side in ("left", "right")}
    last: dict[str, int] = {}
    for poses in poses_by_frame(clip):
        for track_id, box in poses:
            side = wrestler_side(box, clip.width, clip.height)
            if side is None:
                continue
            out[side]["frames"] += 1
            out[side]["id_switches"] += int(side in last and last[side] != track_id)
            last[side] = track_id
    return out


def jump_switches(clip: SkeletonClip) -> int:
    """Times a track's box centre moves more than half its box height between consecutive frames present."""
    count = 0
    for track in clip.tracks:
        centre = (track.boxes[:, :2] + track.boxes[:, 2:]) / 2
        height = track.boxes[:, 3] - track.boxes[:, 1]
        step = np.linalg.norm(np.diff(centre, axis=0), axis=1)
        count += int((step > 0.5 * np.maximum(height[1:], height[:-1])).sum())
    return count


def former_order(clip: SkeletonClip) -> list[SkeletonTrack]:
    """The persons in the former ``to_array`` / export order: summed box score, highest first."""
    return sorted(clip.tracks, key=lambda track: -float(np.nansum(track.box_scores)))


def slot_name(track: SkeletonTrack, clip: SkeletonClip) -> str:
    sides = [wrestler_side(box, clip.width, clip.height) for box in track.boxes]
    named = [s for s in sides if s is not None]
    if len(named) < len(sides) / 2:
        return f"other (id {track.track_id})"
    return f"{max(set(named), key=named.count)} wrestler (id {track.track_id})"


def joints_present(clip: SkeletonClip) -> float:
    """% of the main person's joints present over its frames (NaN without a person)."""
    if not clip.tracks:
        return float("nan")
    track = clip.main_persons(1)[0]
    return 100.0 * float((~np.isnan(track.keypoints).any(-1)).mean())


def measure(case: str, clip: SkeletonClip, entry: dict, variant: str) -> dict:
    order = former_order(clip) if variant == "before" else clip.main_persons()
    row = {
        "ghost_frames": ghost_frames(clip),
        "tracks": len(clip.tracks),
        "poses": sum(len(track) for track in clip.tracks),
        "dropped": {k: v for k, v in entry.get("dropped", {}).items() if v},
        "joints_present": joints_present(clip),
    }
    if case == "armwrestling":
        row["wrestlers"] = wrestler_switches(clip)
        row["id_switches"] = sum(w["id_switches"] for w in row["wrestlers"].values())
        row["first_two"] = [slot_name(track, clip) for track in order[:2]]
    elif case == "leave-reenter":
        row["id_switches"] = max(0, sum(len(track) >= 3 for track in clip.tracks) - 1)
    elif case == "crossing":
        row["id_switches"] = jump_switches(clip)
    return row


def run_case(case: str, video: Path, flags: list[str], workdir: Path) -> list[dict]:
    rows = []
    for experts in EXPERT_SETS:
        variants = [("before", BEFORE), ("after", [])]
        if experts == "yolo":
            variants.append(("after, botsort", ["--tracker", "botsort"]))
        for variant, extra in variants:
            out = workdir / f"{case}-{experts.count(',')}-{variant.replace(', ', '-')}"
            started = time.perf_counter()
            clip, entry = extract(video, out, ["--experts", experts, *flags, *extra])
            row = {"case": case, "experts": experts, "variant": variant, **measure(case, clip, entry, variant)}
            row["seconds"] = round(time.perf_counter() - started, 1)
            rows.append(row)
            print("  " + json.dumps(row, default=float), flush=True)
    return rows


def single_experts(case: str, video: Path, flags: list[str], workdir: Path) -> list[dict]:
    """The top-down experts alone, for the partial-view comparison (the default row is ``yolo`` alone)."""
    rows = []
    for expert in THREE.split(",")[1:]:
        clip, _ = extract(video, workdir / f"{case}-{expert}", ["--experts", expert, *flags])
        rows.append({"case": case, "experts": expert, "variant": "alone", "joints_present": joints_present(clip)})
        print("  " + json.dumps(rows[-1], default=float), flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| case | experts | variant | ghost pose-frames | id switches | joints present % | first two slots | dropped |",
        "|---|---|---|---:|---:|---:|---|---|",
    ]
    for r in rows:
        first = ", ".join(r.get("first_two", [])) or "-"
        dropped = ", ".join(f"{k} {v}" for k, v in r.get("dropped", {}).items()) or "-"
        switches = r.get("id_switches", "-")
        ghosts = r.get("ghost_frames", "-")
        lines.append(
            f"| {r['case']} | {r['experts']} | {r['variant']} | {ghosts} | {switches} | {r['joints_present']:.0f} | "
            f"{first} | {dropped} |"
        )
    return "\n".join(lines)


CASE_NAMES = ("armwrestling", "leg-only", "torso-cut", "leave-reenter", "crossing")
PARTIAL = ("leg-only", "torso-cut")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASE_NAMES), help="Cases to run, of: " + ", ".join(CASE_NAMES))
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "trust.json")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="posekit-trust-") as tmp:
        cases = make_cases(Path(tmp))
        for case in args.cases.split(","):
            video, flags = cases[case]
            rows += run_case(case, video, flags, Path(tmp))
            if case in PARTIAL:
                rows += single_experts(case, video, flags, Path(tmp))
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU(s)",
        "seconds": round(time.perf_counter() - started),
        "note": "real clips and crops of them, no labels: counts by the documented box checks, not accuracy",
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, default=float) + "\n")
    print(markdown(rows))


if __name__ == "__main__":
    main()
