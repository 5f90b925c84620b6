"""Helpers that make small real video files for tests."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


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
