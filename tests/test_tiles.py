"""The second pass of one-stage experts: zoom or tiles chosen per expert, tile geometry, the per-person merge of
the two passes, real people found."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from posekit.core.boxes import box_iou
from posekit.estimators.base import EstimatorConfig, OneStageExpert
from posekit.estimators.registry import ExpertSpec, build_estimator
from posekit.estimators.tiles import (
    cut_by_inner_edge,
    frame_tiles,
    merge_passes,
    needs_input_size_pass,
    tile_windows,
)
from posekit.skeleton.layouts import COCO17
from posekit.skeleton.records import PoseProposals


def proposals(boxes: list[list[float]], scores: list[float]) -> PoseProposals:
    """Persons with the given boxes; each one's joints all at its box centre, so the source can be told apart."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    centre = (b[:, :2] + b[:, 2:]) / 2
    keypoints = np.repeat(centre[:, None, :], COCO17.num_joints, axis=1)
    return PoseProposals(keypoints, np.ones(keypoints.shape[:2], np.float32), b, np.asarray(scores, np.float32), COCO17)


class PluginExpert(OneStageExpert):
    """A third-party expert implementing only ``infer_frames(frames)``: records the image shapes it is given."""

    name = "plugin"
    layout = COCO17

    def __init__(self, config: EstimatorConfig) -> None:
        super().__init__(config)
        self.calls: list[tuple[tuple[int, ...], int | None]] = []
        self.batches: list[tuple[int, int | None]] = []

    def infer_frames(self, frames: Sequence[np.ndarray]) -> list[PoseProposals]:
        self.calls += [(f.shape[:2], None) for f in frames]
        return [PoseProposals.empty(COCO17) for _ in frames]


class ZoomingExpert(PluginExpert):
    """An expert that runs at a given input size: at its own, a large person (:data:`LARGE`); at any other, the
    same person a little shifted and a small one (:data:`SMALL`), as a larger input finds. Frames whose first
    pixel is :data:`NOBODY_LARGE` hold only the small person, :data:`NOBODY` no one."""

    zooms = True

    def infer_frames(self, frames: Sequence[np.ndarray], imgsz: int | None = None) -> list[PoseProposals]:
        self.calls += [(f.shape[:2], imgsz) for f in frames]
        self.batches.append((len(frames), imgsz))
        return [self._found(f[0, 0, 0], imgsz) for f in frames]

    @staticmethod
    def _found(marker: int, imgsz: int | None) -> PoseProposals:
        if marker == NOBODY:
            return PoseProposals.empty(COCO17)
        if marker == NOBODY_LARGE:
            return proposals([SMALL], [0.6]) if imgsz else PoseProposals.empty(COCO17)
        return proposals([LARGE], [0.9]) if imgsz is None else proposals([LARGE + 4, SMALL], [0.95, 0.6])


LARGE = np.array([100, 50, 400, 550], np.float32)
"""A person 500 frame px tall: 417 network px at 640 on a 768 px wide frame (large)."""
SMALL = np.array([600, 300, 620, 340], np.float32)
"""A person 40 frame px tall: 33 network px at 640 on a 768 px wide frame (small)."""
STREET = np.zeros((576, 768, 3), np.uint8)
NOBODY_LARGE, NOBODY = 1, 2


def street(marker: int) -> np.ndarray:
    frame = STREET.copy()
    frame[0, 0, 0] = marker
    return frame


def test_an_expert_that_zooms_sees_the_whole_frame_again_at_tiles_times_its_input_size():
    expert = ZoomingExpert(EstimatorConfig(imgsz=640))
    (merged,) = expert.predict([STREET])
    assert expert.calls == [((576, 768), 1280), ((576, 768), None)]
    np.testing.assert_array_equal(merged.boxes, [LARGE, SMALL])  # large from the 640 pass, small from the zoom
    expert = ZoomingExpert(EstimatorConfig(imgsz=640, tiles=3, tile_max_upscale=4.0))
    expert.predict([STREET])
    assert expert.calls[0] == ((576, 768), 1920)


def test_the_zoom_pass_takes_frames_a_quarter_batch_at_a_time_so_its_tensors_stay_the_full_passs():
    expert = ZoomingExpert(EstimatorConfig(imgsz=640))
    expert.predict([STREET] * 8)
    assert expert.batches == [(2, 1280)] * 4 + [(8, None)]
    expert = ZoomingExpert(EstimatorConfig(imgsz=640))
    expert.predict([STREET] * 3)
    assert expert.batches == [(1, 1280)] * 3 + [(3, None)]


def test_the_zoom_pass_runs_only_on_frames_it_enlarges_at_most_tile_max_upscale():
    kinetics = np.zeros((256, 340, 3), np.uint8)  # 1280 / 340 = 3.8x
    expert = ZoomingExpert(EstimatorConfig(imgsz=640))
    expert.predict([kinetics, STREET])
    assert expert.calls == [((576, 768), 1280), ((256, 340), None), ((576, 768), None)]
    expert = ZoomingExpert(EstimatorConfig(imgsz=640, tile_max_upscale=4.0))
    expert.predict([kinetics])
    assert expert.calls == [((256, 340), 1280), ((256, 340), None)]


def test_the_input_size_pass_runs_only_where_the_zoom_pass_found_someone_large_or_nobody():
    frames = [street(NOBODY_LARGE), STREET, street(NOBODY), street(NOBODY_LARGE)]
    expert = ZoomingExpert(EstimatorConfig(imgsz=640))
    merged = expert.predict(frames)
    assert expert.batches == [(1, 1280)] * 4 + [(2, None)]
    assert [c for c in expert.calls if c[1] is None] == [((576, 768), None)] * 2  # frames 1 and 2
    every = ZoomingExpert(EstimatorConfig(imgsz=640, input_size_pass="every"))
    for skipped, all_passes in zip(merged, every.predict(frames)):  # nothing the merge takes from the frames skipped
        np.testing.assert_array_equal(skipped.boxes, all_passes.boxes)
        np.testing.assert_array_equal(skipped.keypoints, all_passes.keypoints)
    assert every.batches[-1] == (4, None)
    np.testing.assert_array_equal(merged[0].boxes, [SMALL])
    np.testing.assert_array_equal(merged[1].boxes, [LARGE, SMALL])
    assert len(merged[2]) == 0


def test_a_person_is_large_for_the_input_size_pass_from_tile_below_network_pixels():
    scale = 640 / 768
    assert needs_input_size_pass(proposals([[0, 0, 10, 116]], [0.9]), scale, 96)  # 96.7 network px
    assert not needs_input_size_pass(proposals([[0, 0, 10, 115]], [0.9]), scale, 96)
    assert needs_input_size_pass(PoseProposals.empty(COCO17), scale, 96)


def test_plugin_experts_and_second_pass_tiles_get_the_tiles_at_their_own_input_size():
    for expert in (PluginExpert(EstimatorConfig()), ZoomingExpert(EstimatorConfig(second_pass="tiles"))):
        expert.predict([STREET])
        (x0, y0, x1, y1) = frame_tiles(576, 768, 2, 640, 96.0)[0][0]
        assert expert.calls == [((576, 768), None)] + [((y1 - y0, x1 - x0), None)] * 4


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
def test_the_zoom_pass_and_the_tiles_find_the_street_people_the_whole_frame_misses_at_640(sample_frames):
    frame = sample_frames[:1]
    whole = build_estimator(ExpertSpec("yolo"), EstimatorConfig(imgsz=640, tiles=1)).predict(frame)[0]
    zoomed = build_estimator(ExpertSpec("yolo"), EstimatorConfig(imgsz=640)).predict(frame)[0]
    tiled = build_estimator(ExpertSpec("yolo"), EstimatorConfig(imgsz=640, second_pass="tiles")).predict(frame)[0]
    large = build_estimator(ExpertSpec("yolo"), EstimatorConfig(imgsz=1280, tiles=1)).predict(frame)[0]
    assert len(whole) == 0 and len(large) >= 3
    for found in (zoomed, tiled):
        assert len(found) == len(large)
        assert (box_iou(large.boxes, found.boxes).max(axis=1) >= 0.8).all()
        assert np.isfinite(found.keypoints).any(axis=(1, 2)).all()
    np.testing.assert_array_equal(zoomed.boxes, large.boxes)  # the zoom pass is the 1280 pass on these people


@pytest.mark.slow
def test_the_second_pass_is_sized_for_the_input_size_the_network_runs_at():
    expert = build_estimator(ExpertSpec("yolo"), EstimatorConfig(imgsz=100))
    assert expert.network_side() == 128, "Ultralytics rounds --imgsz 100 up to its stride, 32"


def test_a_run_recorded_before_the_zoom_pass_resumes_with_second_pass_tiles_and_is_told_otherwise(tmp_path):
    import json

    from posekit.core.errors import ConfigError
    from posekit.io.manifest import MANIFEST_NAME, RunManifest
    from posekit.workflows.extraction.options import ExtractOptions

    def settings(estimator: EstimatorConfig) -> dict:
        return ExtractOptions(experts=(ExpertSpec("yolo"),), estimator=estimator).settings()

    old = settings(EstimatorConfig(second_pass="tiles"))
    del old["second_pass"]
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"settings": old, "entries": []}))
    RunManifest.open(tmp_path, settings(EstimatorConfig(second_pass="tiles")))
    with pytest.raises(ConfigError, match="second_pass differ"):
        RunManifest.open(tmp_path, settings(EstimatorConfig()))


def test_a_run_recorded_before_the_input_size_pass_could_skip_frames_resumes_with_every(tmp_path):
    import json

    from posekit.core.errors import ConfigError
    from posekit.io.manifest import MANIFEST_NAME, RunManifest
    from posekit.workflows.extraction.options import ExtractOptions

    def settings(**estimator) -> dict:
        return ExtractOptions(experts=(ExpertSpec("yolo"),), estimator=EstimatorConfig(**estimator)).settings()

    assert settings()["input_size_pass"] == "needed"
    assert settings(tiles=1)["input_size_pass"] == settings(second_pass="tiles")["input_size_pass"] == "every"
    for old, resumes in (({"tiles": 1}, {"tiles": 1}), ({}, {"input_size_pass": "every"})):
        recorded = settings(**old)
        del recorded["input_size_pass"]
        (tmp_path / MANIFEST_NAME).write_text(json.dumps({"settings": recorded, "entries": []}))
        RunManifest.open(tmp_path, settings(**resumes))
    with pytest.raises(ConfigError, match="input_size_pass differ"):
        RunManifest.open(tmp_path, settings())  # the zoom run of before, with today's default
