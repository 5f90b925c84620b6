"""Fake experts built on the real bases, so pipeline tests run without a pose model.

:class:`FakeDetector` "finds" two people at fixed boxes in every frame; :class:`FakeTopDown` places a
COCO-17 stick figure in each crop, scaled to the box the crop was made for. Everything else (cropping,
mapping back, score filtering, registration, tracking, aggregation, shards) is posekit's own code.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from posekit.estimators.base import CropPoses, EstimatorConfig, OneStageExpert, TopDownExpert
from posekit.skeleton.layouts import COCO17
from posekit.skeleton.records import PoseProposals

PEOPLE = np.array([[100, 100, 160, 260], [400, 120, 470, 300], [600, 50, 640, 100]], np.float32)
"""Fixed person boxes, xyxy pixels; the third scores below the default ``min_box_score`` (0.1)."""
PEOPLE_SCORES = np.array([0.9, 0.8, 0.05], np.float32)

FIGURE = np.array(
    [
        (0.5, 0.08), (0.45, 0.06), (0.55, 0.06), (0.4, 0.08), (0.6, 0.08),
        (0.3, 0.25), (0.7, 0.25), (0.2, 0.42), (0.8, 0.42), (0.15, 0.58), (0.85, 0.58),
        (0.38, 0.58), (0.62, 0.58), (0.36, 0.78), (0.64, 0.78), (0.35, 0.97), (0.65, 0.97),
    ],
    np.float32,
)  # fmt: skip
"""COCO-17 joints as fractions of the person box (x from the left, y from the top)."""


def figure_in(box: np.ndarray) -> np.ndarray:
    """``(17, 2)`` pixels: :data:`FIGURE` placed in the xyxy ``box``."""
    x1, y1, x2, y2 = box
    return (np.array([x1, y1]) + FIGURE * np.array([x2 - x1, y2 - y1])).astype(np.float32)


class FakeDetector(OneStageExpert):
    """Two people (and one low-scoring detection) at :data:`PEOPLE` in every frame, with the stick figure.

    Only images that hold all of :data:`PEOPLE` are frames: the tiles of the tile pass (smaller) hold nobody.
    """

    name = "fake-detector"
    layout = COCO17

    def __init__(self, weights: Path | None, config: EstimatorConfig) -> None:
        super().__init__(config)

    def infer_frames(self, frames: Sequence[np.ndarray]) -> list[PoseProposals]:
        keypoints = np.stack([figure_in(box) for box in PEOPLE])
        joint_scores = np.full(keypoints.shape[:2], 0.9, np.float32)
        people = PoseProposals(keypoints, joint_scores, PEOPLE.copy(), PEOPLE_SCORES.copy(), COCO17)
        width, height = PEOPLE[:, 2].max(), PEOPLE[:, 3].max()
        whole = [f.shape[1] >= width and f.shape[0] >= height for f in frames]
        return [people if w else PoseProposals.empty(COCO17) for w in whole]


class FakeTopDown(TopDownExpert):
    """The stick figure in each crop's person box; nobody in an all-black crop (a box outside the frame)."""

    name = "fake-topdown"
    layout = COCO17

    def __init__(self, weights: Path | None, config: EstimatorConfig) -> None:
        super().__init__(config)
        self.crops_seen: list[np.ndarray] = []

    def infer_crops(self, crops: np.ndarray, boxes: np.ndarray) -> CropPoses:
        self.crops_seen.append(crops)
        N, V = len(crops), self.layout.num_joints
        found = crops.reshape(N, -1).max(axis=1) > 0
        keypoints = np.full((N, V, 2), np.nan, np.float32)
        keypoints[found] = np.stack([figure_in(box) for box in boxes])[found]
        joint_scores = np.where(found[:, None], 0.8, 0.0).astype(np.float32) * np.ones((N, V), np.float32)
        return CropPoses(keypoints, joint_scores, np.where(found, 0.8, 0.0).astype(np.float32))


def write_fake_plugin(root: Path, extra_entry_points: str = "") -> Path:
    """Write, under ``root``, an installed package ``fake-posekit-plugin`` declaring both fakes as experts.

    It is what ``pip install`` leaves for a package whose ``pyproject.toml`` has a
    ``[project.entry-points."posekit.experts"]`` table: a module and a ``.dist-info`` with ``entry_points.txt``.
    Put ``root`` on ``sys.path`` and call ``EXPERTS.refresh()`` to see them.
    """
    (root / "fake_posekit_plugin.py").write_text("from tests.fake_expert import FakeDetector, FakeTopDown\n")
    info = root / "fake_posekit_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-posekit-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[posekit.experts]\n"
        "fake-detector = fake_posekit_plugin:FakeDetector\n"
        "fake-topdown = fake_posekit_plugin:FakeTopDown\n" + extra_entry_points
    )
    return root


@contextlib.contextmanager
def fake_plugin_installed(root: Path, monkeypatch, extra_entry_points: str = "") -> Iterator[Path]:
    """:func:`write_fake_plugin` under ``root`` (made), on ``sys.path`` and in the expert registry while the block
    runs; yields the folder to put on a subprocess's ``PYTHONPATH``."""
    from posekit.estimators.registry import EXPERTS

    root.mkdir(parents=True, exist_ok=True)
    plugin = write_fake_plugin(root, extra_entry_points)
    monkeypatch.syspath_prepend(str(plugin))
    EXPERTS.refresh()
    try:
        yield plugin
    finally:
        monkeypatch.undo()
        loaded = [name for name, m in sys.modules.items() if str(getattr(m, "__file__", "")).startswith(str(root))]
        for name in loaded:  # the plugin's modules, so that the next test imports its own
            sys.modules.pop(name, None)
        EXPERTS.refresh()
