"""RTMPose adapter (crop, normalise, SimCC decode, back-project) vs bare ``session.run`` on the same crops.

Prints per-person-crop milliseconds of both and the adapter's pre/post-processing overhead.
Without ``--model`` it exports the tests' SimCC model (192x256, constant logits), whose
session is almost free, so the overhead in ms is the figure to read; with a real RTMPose
ONNX file the ratio shows what the adapter adds to real inference.

    python bench/onnx_overhead.py [--model rtmpose-m.onnx] [--persons 8] [--frames 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def person_boxes(persons: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    """``(persons, 4)`` xyxy pedestrian-sized boxes inside a ``width x height`` frame."""
    rng = np.random.default_rng(seed)
    w = rng.uniform(30, 90, persons)
    h = w * rng.uniform(2.0, 3.0, persons)
    x1 = rng.uniform(0, width - w)
    y1 = rng.uniform(0, height - h)
    return np.stack([x1, y1, x1 + w, y1 + h], axis=1).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--persons", type=int, default=8)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from posekit.estimators.base import EstimatorConfig
    from posekit.estimators.onnx_pose import RTMPose
    from tests.test_onnx_pose import write_simcc_model
    from tests.videos import read_frames

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or write_simcc_model(Path(tmp) / "simcc-192x256.onnx")
        expert = RTMPose(model, EstimatorConfig())
        frames = read_frames(REPO / "assets" / "vtest-4s.mp4", args.frames)
        H, W = frames[0].shape[:2]
        boxes = [person_boxes(args.persons, W, H, seed=i) for i in range(len(frames))]
        crops = np.stack([expert.preprocess(f, b)[0] for f, bs in zip(frames, boxes) for b in bs])
        n = len(crops)

        expert.predict(frames, boxes)
        expert.run(crops)
        bare, full = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            expert.run(crops)
            bare.append(time.perf_counter() - start)
            start = time.perf_counter()
            expert.predict(frames, boxes)
            full.append(time.perf_counter() - start)

    bare_ms, full_ms = 1e3 * min(bare) / n, 1e3 * min(full) / n
    batch = "dynamic" if expert.batch_size is None else str(expert.batch_size)
    print(f"model {Path(model).name}: input {expert.width}x{expert.height}, batch {batch}, {n} crops per call")
    print(f"bare session.run : {bare_ms:8.3f} ms / crop")
    print(f"adapter predict  : {full_ms:8.3f} ms / crop")
    print(f"pre/post overhead: {full_ms - bare_ms:8.3f} ms / crop (adapter / bare = {full_ms / bare_ms:.2f}x)")


if __name__ == "__main__":
    main()
