"""Shared fixtures: real data paths and small real videos made from them."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest

os.environ.setdefault("YOLO_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CLIP = REPO / "assets" / "vtest-4s.mp4"
SHARED_DATA = REPO.parent / "shared" / "data"
VTEST = SHARED_DATA / "videos" / "vtest.avi"


def write_clip(path: Path, frames: list[np.ndarray], fps: int = 10, codec: str = "libx264") -> Path:
    """Encode RGB frames as a real video file."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def read_frames(path: Path, count: int) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        out = []
        for frame in container.decode(video=0):
            out.append(frame.to_ndarray(format="rgb24"))
            if len(out) == count:
                break
        return out


@pytest.fixture(scope="session")
def sample_clip() -> Path:
    assert SAMPLE_CLIP.is_file(), "the bundled sample clip assets/vtest-4s.mp4 is missing"
    return SAMPLE_CLIP


@pytest.fixture(scope="session")
def sample_frames(sample_clip: Path) -> list[np.ndarray]:
    return read_frames(sample_clip, 8)


@pytest.fixture(scope="session")
def short_clip(tmp_path_factory: pytest.TempPathFactory, sample_frames: list[np.ndarray]) -> Path:
    """A 6-frame real clip (cut from the sample) for fast end-to-end runs."""
    return write_clip(tmp_path_factory.mktemp("clips") / "short clip é.mp4", sample_frames[:6])
