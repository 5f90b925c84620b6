"""Shared fixtures: real data paths and small real videos made from them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.videos import read_frames, write_clip

os.environ.setdefault("YOLO_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CLIP = REPO / "assets" / "vtest-4s.mp4"
SHARED_DATA = REPO.parent / "shared" / "data"
VTEST = SHARED_DATA / "videos" / "vtest.avi"


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
