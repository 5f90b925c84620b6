"""Writers of small files in the official formats of other skeleton datasets, for the import tests.

Each writes the file as the dataset ships it (NTU ``.skeleton`` text, ST-GCN JSON, pyskl pickles, Penn
Action ``.mat``, Toyota Smarthome JSON) from arrays the test keeps, so an import can be compared with them.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import scipy.io


def ntu_body(rng: np.random.Generator, offset: float, motion: float, T: int) -> dict[str, np.ndarray]:
    """One Kinect body over ``T`` frames: ``xyz`` (T, 25, 3) metres moving by ``motion``, ``color`` (T, 25, 2)
    pixels, ``state`` (T, 25) tracking states."""
    base = rng.normal(0, 0.3, (25, 3)) + np.array([offset, 0, 3.0])
    xyz = base + motion * np.sin(np.arange(T))[:, None, None] * rng.normal(0, 1, (1, 25, 3))
    color = 960 + 300 * xyz[..., :2] / xyz[..., 2:]
    state = rng.choice([1, 2], size=(T, 25), p=[0.2, 0.8])
    return {"xyz": np.round(xyz, 6), "color": np.round(color, 4), "state": state}


def write_ntu_skeleton(path: Path, frames: list[list[dict[str, np.ndarray]]]) -> None:
    """``frames[t]`` lists the bodies of frame t, each ``{"xyz": (25, 3), "color": (25, 2), "state": (25,)}``."""
    lines = [str(len(frames))]
    for bodies in frames:
        lines.append(str(len(bodies)))
        for m, body in enumerate(bodies):
            lines.append(f"7205759403792{m:04d} 0 1 1 1 1 0 0.1 -0.2 2")
            lines.append("25")
            for v in range(25):
                x, y, z = body["xyz"][v]
                cx, cy = body["color"][v]
                lines.append(f"{x} {y} {z} 250.1 200.2 {cx} {cy} 0.1 0.2 0.3 0.9 {int(body['state'][v])}")
    Path(path).write_text("\r\n".join(lines) + "\r\n")


def ntu_frames(bodies: list[dict[str, np.ndarray]], present: list[range]) -> list[list[dict[str, np.ndarray]]]:
    """Per-frame body lists: body ``b`` is in frame t when ``t in present[b]`` (position = order of ``bodies``)."""
    T = max(r.stop for r in present)
    return [[{k: v[t] for k, v in body.items()} for body, seen in zip(bodies, present) if t in seen] for t in range(T)]


def write_stgcn_json(path: Path, keypoints: np.ndarray, scores: np.ndarray, label: str, index: int) -> None:
    """ST-GCN Kinetics-skeleton JSON from ``keypoints`` (M, T, 18, 2) in [0, 1] and ``scores`` (M, T, 18);
    a person whose scores are all 0 in a frame is left out of that frame, as OpenPose gives none."""
    data = []
    for t in range(keypoints.shape[1]):
        people = [
            {"pose": np.round(keypoints[m, t], 3).ravel().tolist(), "score": np.round(scores[m, t], 3).tolist()}
            for m in range(keypoints.shape[0])
            if scores[m, t].any()
        ]
        if people:
            data.append({"frame_index": t + 1, "skeleton": people})
    Path(path).write_text(json.dumps({"data": data, "label": label, "label_index": index}))


def write_smarthome_json(path: Path, pose2d: np.ndarray, pose3d: np.ndarray | None = None) -> None:
    """Smarthome pose JSON from ``pose2d`` (T, P, 13, 2) pixels and optionally ``pose3d`` (T, P, 13, 3) metres;
    a person all NaN in a frame is left out."""
    frames = []
    for t, people in enumerate(pose2d):
        persons = []
        for m, p in enumerate(people):
            if np.isnan(p).all():
                continue
            person = {"pose2d": p.T.ravel().tolist()}
            if pose3d is not None:
                person["pose3d"] = pose3d[t, m].T.ravel().tolist()
            persons.append(person)
        frames.append(persons)
    Path(path).write_text(json.dumps({"njts": 13, "frames": frames}))


def write_penn_mat(path: Path, x: np.ndarray, y: np.ndarray, visibility: np.ndarray, action: str, train: int) -> None:
    """A Penn Action label file as the dataset ships it (``x``, ``y``, ``visibility`` (T, 13) and the rest)."""
    T = len(x)
    scipy.io.savemat(
        str(path),
        {
            "action": action,
            "pose": "front",
            "x": x,
            "y": y,
            "visibility": visibility,
            "train": np.array([[train]]),
            "bbox": np.tile([10.0, 20.0, 200.0, 300.0], (T, 1)),
            "dimensions": np.array([[360, 480, T]]),
            "nframes": np.array([[T]]),
        },
    )


def write_pyskl(path: Path, doc: dict) -> None:
    Path(path).write_bytes(pickle.dumps(doc, protocol=4))
