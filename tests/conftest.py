"""Shared fixtures: real data paths and small real videos made from them; the fast tier's guard.

``make check`` runs the tests not marked ``slow`` with ``POSEKIT_FAST_TIER=1``: there, constructing a real
pose model (Ultralytics YOLO, MediaPipe's graph) or a Ray cluster fails the test with a line saying to mark it
``slow``, so the fast tier stays free of real models as tests are added.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.videos import read_frames, write_clip

os.environ.setdefault("YOLO_OFFLINE", "1")
FAST_TIER = os.environ.get("POSEKIT_FAST_TIER") == "1"

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


def _refuse_in_fast_tier(what: str):
    def refuse(*args, **kwargs):
        raise RuntimeError(f"{what} in the fast tier: mark the test @pytest.mark.slow (make check runs no real model)")

    return refuse


def pytest_configure(config: pytest.Config) -> None:
    if not FAST_TIER:
        return
    import ray
    import ultralytics
    from mediapipe.python import solution_base

    ultralytics.YOLO.__init__ = _refuse_in_fast_tier("a real YOLO model was loaded")
    solution_base.SolutionBase.__init__ = _refuse_in_fast_tier("MediaPipe's model was started")
    ray.init = _refuse_in_fast_tier("a Ray cluster was started")
