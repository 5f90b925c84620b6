"""SST-A benchmark on the real ssta-demo proposals (AlphaPose, LCRNet++, OpenPose; 1379 frames).

1. Speed: vectorised thesis mode (``posekit.refine.aggregate``) against the per-joint Python
   loop of the same equations (``ssta_reference_loop``); identical output is asserted, the
   speed ratio (goal >= 100x) and frames/s are printed, for one track and for a batch.
2. Quality without ground truth: completeness, jitter, mean C and the fraction of frames kept
   at gamma 0.18 and 0.06, for each expert, thesis mode and robust mode with each option.

Run: ``python bench/sst_a_speed.py [--demo DIR] [--repeat N] [--batch B]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from posekit.eval.metrics import completeness, jitter
from posekit.refine.ssta import RobustOptions, aggregate, body_scale, confidence, ssta_reference_loop
from posekit.testing.demo import find_demo_dir
from posekit.testing.ssta_demo import load_ssta_demo

FIELDS = ("keypoints", "source", "confidence", "keep", "normaliser")


def _timed(fn: Callable[[], object], repeat: int) -> tuple[list[float], object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


def _assert_identical(fast, slow, label: str) -> None:
    for f in FIELDS:
        a, b = getattr(fast, f), getattr(slow, f)
        if not np.array_equal(a, b, equal_nan=True):
            raise AssertionError(f"{label}: vectorised and loop outputs differ in {f}")


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def speed(x: np.ndarray, repeat: int, batch: int) -> None:
    M, T, V, _ = x.shape
    print(f"== speed: thesis mode, vectorised vs per-joint loop ({M} experts, {T} frames, {V} joints) ==")
    head = f"{'case':34s} {'loop s':>8s} {'vec ms (best/median)':>21s} {'ratio best':>10s} {'ratio med':>9s}"
    print(f"{head} {'frames/s':>10s}")
    for kw in ({"missing": "skip"}, {"missing": "zero"}, {"normaliser": "shoulders", "joints": "body12"}):
        loop_t, slow = _timed(lambda kw=kw: ssta_reference_loop(x, **kw), 3)
        aggregate(x, **kw)
        f0 = _minor_faults()
        vec_t, fast = _timed(lambda kw=kw: aggregate(x, **kw), repeat)
        faults = (_minor_faults() - f0) / repeat
        _assert_identical(fast, slow, str(kw))
        lb, vb, vm = min(loop_t), min(vec_t), statistics.median(vec_t)
        label = ", ".join(f"{k}={v}" for k, v in kw.items())
        ratios = f"{lb / vb:9.0f}x {statistics.median(loop_t) / vm:8.0f}x"
        print(
            f"{label:34s} {lb:8.3f} {vb * 1e3:9.2f} / {vm * 1e3:8.2f} {ratios} {T / vb:10.0f}"
            f"  identical; {faults:.0f} page faults/call"
        )
    rng = np.random.default_rng(0)
    tracks = [x + rng.normal(0, 2.0, x.shape) for _ in range(batch)]
    stack = np.stack(tracks)
    loop_t, slows = _timed(lambda: [ssta_reference_loop(t) for t in tracks], 1)
    aggregate(stack)
    vec_t, fast = _timed(lambda: aggregate(stack), max(3, repeat // 5))
    for b, slow in enumerate(slows):
        for f in FIELDS:
            if not np.array_equal(getattr(fast, f)[b], getattr(slow, f), equal_nan=True):
                raise AssertionError(f"batch track {b}: outputs differ in {f}")
    lb, vb, vm = loop_t[0], min(vec_t), statistics.median(vec_t)
    label = f"batch of {batch} noisy copies"
    ratio = f"{lb / vb:9.0f}x {'':9s}"
    print(f"{label:34s} {lb:8.3f} {vb * 1e3:9.2f} / {vm * 1e3:8.2f} {ratio} {batch * T / vb:10.0f}  identical")
    vec_t, _ = _timed(lambda: aggregate(x, mode="robust"), max(3, repeat // 5))
    vb, vm = min(vec_t), statistics.median(vec_t)
    print(f"{'robust mode (default), no loop':34s} {'':8s} {vb * 1e3:9.2f} / {vm * 1e3:8.2f} {'':20s} {T / vb:10.0f}")


def _row(name: str, kp: np.ndarray, x: np.ndarray, scale: float, source: np.ndarray | None = None) -> str:
    c = confidence(kp, x)
    switches = ""
    if source is not None:
        both = (source[1:] >= 0) & (source[:-1] >= 0)
        switches = f"{(source[1:] != source[:-1])[both].mean():8.3f}"
    return (
        f"{name:46s} {completeness(kp):7.3f} {jitter(kp, scale):7.4f} {np.nanmean(c):7.3f}"
        f" {np.mean(c >= 0.18):7.3f} {np.mean(c >= 0.06):7.3f} {switches:>8s}"
    )


def quality(directory: Path) -> None:
    stack = load_ssta_demo(directory)
    x = stack.keypoints
    scale = float(body_scale(x))
    print()
    print("== quality on the ssta-demo proposals (no ground truth) ==")
    print(
        f"completeness: fraction of the {x.shape[1]} x {x.shape[2]} joint-frames present; jitter: mean |2nd temporal"
        f" difference| / body scale ({scale:.1f} px);\nC: eq. 3.4 of each row's poses against the three experts"
        " (head-neck, 13 joints, missing left out), mean over frames\nwhere defined; keep@g: fraction of frames with"
        " C >= g; switches: fraction of joint-frames whose source expert changes."
    )
    print(f"{'rows':46s} {'compl':>7s} {'jitter':>7s} {'mean C':>7s} {'keep.18':>7s} {'keep.06':>7s} {'switches':>8s}")
    for m, name in enumerate(stack.experts):
        print(_row(f"expert {name}", x[m], x, scale))
    R = RobustOptions
    rows: list[tuple[str, dict]] = [
        ("thesis (missing=skip)", {}),
        ("thesis (missing=zero, public code)", {"missing": "zero"}),
        ("robust: NaN-aware only", {"robust": R(drift_threshold=None, consensus_threshold=None, reinit_gap=None)}),
        ("robust: + reinit after gaps", {"robust": R(drift_threshold=None, consensus_threshold=None)}),
        ("robust: + drift re-anchor 0.5", {"robust": R(consensus_threshold=None)}),
        ("robust: + consensus 0.5 (default)", {"robust": R()}),
        ("robust: default, medoid anchor", {"robust": R(anchor="medoid")}),
        ("robust: default, thresholds 0.25", {"robust": R(drift_threshold=0.25, consensus_threshold=0.25)}),
        ("robust: default, thresholds 1.0", {"robust": R(drift_threshold=1.0, consensus_threshold=1.0)}),
        ("robust: default + fill gaps <= 5", {"robust": R(fill_gaps=5)}),
        ("robust: default + savgol 9/2", {"robust": R(smooth="savgol")}),
        ("robust: default + median 5", {"robust": R(smooth="median", smooth_window=5)}),
        ("robust: default + fill 5 + savgol 9/2", {"robust": R(fill_gaps=5, smooth="savgol")}),
    ]
    for name, kw in rows:
        mode = "robust" if "robust" in kw else "thesis"
        agg = aggregate(x, mode=mode, **kw)
        print(_row(name, agg.keypoints, x, scale, agg.source))
    raw = load_ssta_demo(directory, lcrnet_face="all").keypoints
    print("-- LCRNet++ head point kept in all five face slots (the authors' demo input) --")
    public = (("thesis (missing=zero, public code)", {"missing": "zero"}), ("robust (default)", {"mode": "robust"}))
    for name, kw in public:
        agg = aggregate(raw, **kw)
        print(_row(name, agg.keypoints, raw, scale, agg.source))
    own = aggregate(x, missing="zero", normaliser="shoulders", joints="body12")
    print(
        f"thesis missing=zero with the public code's own C (shoulders, 12 joints, (0,0) counted): mean C"
        f" {np.nanmean(own.confidence):.3f}, keep@0.18 {own.keep.mean():.3f},"
        f" keep@0.06 {np.mean(own.confidence >= 0.06):.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=None, help="folder with the ssta-demo *.npz files")
    parser.add_argument("--repeat", type=int, default=50, help="timed runs of the vectorised code")
    parser.add_argument("--batch", type=int, default=8, help="tracks in the batched speed case")
    args = parser.parse_args()
    directory = args.demo or find_demo_dir()
    if directory is None:
        raise SystemExit("ssta-demo data not found: pass --demo DIR or set POSEKIT_SSTA_DEMO")
    print(
        f"numpy {np.__version__}, python {platform.python_version()}, {os.cpu_count()} CPUs,"
        f" load average {os.getloadavg()[0]:.2f}"
    )
    speed(load_ssta_demo(directory).keypoints, args.repeat, args.batch)
    quality(directory)


if __name__ == "__main__":
    main()
