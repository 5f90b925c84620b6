"""The tile pass of one-stage experts: tile geometry, the per-person merge of the two passes, real people found."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.core.boxes import box_iou
from posekit.estimators.base import EstimatorConfig
from posekit.estimators.registry import ExpertSpec, build_estimator
from posekit.estimators.tiles import cut_by_inner_edge, frame_tiles, merge_passes, tile_windows
from posekit.skeleton.layouts import COCO17
from posekit.skeleton.records import PoseProposals


def proposals(boxes: list[list[float]], scores: list[float]) -> PoseProposals:
    """Persons with the given boxes; each one's joints all at its box centre, so the source can be told apart."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    centre = (b[:, :2] + b[:, 2:]) / 2
    keypoints = np.repeat(centre[:, None, :], COCO17.num_joints, axis=1)
    return PoseProposals(keypoints, np.ones(keypoints.shape[:2], np.float32), b, np.asarray(scores, np.float32), COCO17)


def test_tile_windows_cover_the_frame_with_equal_tiles_sharing_the_overlap():
    windows = tile_windows(576, 768, 2, 116)
    assert windows.tolist() == [[0, 0, 442, 346], [326, 0, 768, 346], [0, 230, 442, 576], [326, 230, 768, 576]]
    assert windows[1, 0] == windows[0, 2] - 116 and windows[2, 1] == windows[0, 3] - 116
    assert tile_windows(576, 768, 3, 50).shape == (9, 4)


def test_tiles_overlap_by_the_largest_small_person_and_run_only_where_they_enlarge_little():
    windows, upscale = frame_tiles(576, 768, 2, 640, 96.0)
    overlap = windows[0, 2] - windows[1, 0]
    assert overlap == 116  # 96 network px at 640 / 768 are 115.2 frame px
    assert upscale == pytest.approx(640 / 442)
    assert frame_tiles(256, 340, 2, 640, 96.0)[1] > 2  # Kinetics at 640: the whole-frame pass enlarges it already
    assert frame_tiles(1080, 1920, 2, 640, 96.0)[1] < 1  # 1080p: the tiles shrink it less than the frame pass


def test_a_tile_person_touching_an_inner_edge_is_cut_but_not_at_the_frame_edge():
    window = np.array([326, 0, 768, 346])
    boxes = np.array([[330, 10, 400, 100], [700, 0, 768, 120], [500, 300, 560, 346], [500, 100, 560, 200]], np.float32)
    assert cut_by_inner_edge(boxes, window, 576, 768).tolist() == [True, False, True, False]


def test_small_people_come_from_the_tiles_large_ones_from_the_whole_frame():
    full = proposals([[100, 100, 130, 160], [300, 50, 500, 450]], [0.9, 0.9])  # 60 px and 400 px tall
    tiles = proposals([[101, 99, 131, 161], [302, 52, 498, 448], [600, 300, 620, 340]], [0.5, 0.99, 0.6])
    merged = merge_passes(full, tiles, np.array([0, 1, 1]), full_scale=1.0, small_below=96)
    assert merged.boxes.tolist() == [[300, 50, 500, 450], [101, 99, 131, 161], [600, 300, 620, 340]]
    assert merged.scores.tolist() == pytest.approx([0.9, 0.5, 0.6])


def test_people_of_one_pass_that_overlap_are_both_kept():
    full = proposals([[100, 100, 200, 400], [110, 110, 190, 390]], [0.9, 0.8])
    merged = merge_passes(full, proposals([[400, 100, 420, 140]], [0.7]), np.array([0]), 1.0, 96)
    assert len(merged) == 3
    twice = proposals([[100, 100, 120, 140], [101, 100, 121, 141]], [0.7, 0.6])  # one person in two tiles
    assert len(merge_passes(PoseProposals.empty(COCO17), twice, np.array([0, 1]), 1.0, 96)) == 1


@pytest.mark.slow
def test_the_tile_pass_finds_the_street_people_the_whole_frame_misses_at_640(sample_frames):
    frame = sample_frames[:1]
    whole = build_estimator(ExpertSpec("yolo"), EstimatorConfig(imgsz=640, tiles=1)).predict(frame)[0]
    tiled = build_estimator(ExpertSpec("yolo"), EstimatorConfig(imgsz=640)).predict(frame)[0]
    large = build_estimator(ExpertSpec("yolo"), EstimatorConfig(imgsz=1280, tiles=1)).predict(frame)[0]
    assert len(whole) == 0 and len(large) >= 3
    assert len(tiled) == len(large)
    assert (box_iou(large.boxes, tiled.boxes).max(axis=1) >= 0.8).all()
    assert np.isfinite(tiled.keypoints).any(axis=(1, 2)).all()


@pytest.mark.slow
def test_the_tiles_are_laid_out_for_the_input_size_the_network_runs_at():
    expert = build_estimator(ExpertSpec("yolo"), EstimatorConfig(imgsz=100))
    assert expert.network_side() == 128, "Ultralytics rounds --imgsz 100 up to its stride, 32"
