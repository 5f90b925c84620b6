import numpy as np
import pytest

from posekit.core.errors import ConfigError
from posekit.eval.degrade import (
    DEFAULT_DEGRADATIONS,
    GREY,
    downscale,
    gaussian_blur,
    get_degradation,
    jpeg,
    occlude,
    parse_degradations,
)


def textured_frame(h: int = 96, w: int = 128) -> np.ndarray:
    rng = np.random.default_rng(1)
    xx = np.mgrid[:h, :w][1]
    base = (xx * 255 / w)[..., None] * np.ones(3)
    return np.clip(base + rng.normal(0, 20, (h, w, 1)), 0, 255).astype(np.uint8)


def sharpness(frame: np.ndarray) -> float:
    g = frame.astype(np.float64).mean(-1)
    return float(np.abs(np.diff(g, axis=1)).mean() + np.abs(np.diff(g, axis=0)).mean())


@pytest.mark.parametrize("name", ["none", *DEFAULT_DEGRADATIONS])
def test_every_default_degradation_keeps_shape_and_dtype_and_leaves_the_input_untouched(name):
    frame = textured_frame()
    before = frame.copy()
    out = get_degradation(name).apply(frame, seed=3, frame_index=2, boxes=np.array([[10, 10, 60, 90]]))
    assert out.shape == frame.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(frame, before)
    assert (name == "none") == np.array_equal(out, frame)


def test_same_seed_and_frame_give_the_same_frame_and_another_seed_or_frame_another():
    frame, boxes = textured_frame(), np.array([[0, 0, 64, 96], [64, 0, 128, 96]])
    d = get_degradation("downscale-0.5+occlude-0.3")
    a = d.apply(frame, seed=7, frame_index=4, boxes=boxes)
    np.testing.assert_array_equal(a, d.apply(frame, seed=7, frame_index=4, boxes=boxes))
    assert not np.array_equal(a, d.apply(frame, seed=8, frame_index=4, boxes=boxes))
    assert not np.array_equal(a, d.apply(frame, seed=7, frame_index=5, boxes=boxes))


def test_names_compose_left_to_right_with_one_random_stream_per_step():
    frame, boxes = textured_frame(), np.array([[20, 10, 80, 90]])
    got = get_degradation("downscale-0.5+occlude-0.3").apply(frame, seed=2, frame_index=9, boxes=boxes)
    manual = occlude(downscale(frame, 0.5), 0.3, np.random.default_rng((2, 9, 1)), boxes)
    np.testing.assert_array_equal(got, manual)


def test_downscale_removes_fine_detail_but_keeps_size_and_smooth_content():
    checker = ((np.indices((64, 64)).sum(0) % 2) * 255).astype(np.uint8)[..., None].repeat(3, -1)
    out = downscale(checker, 0.5)
    assert out.shape == checker.shape
    assert np.abs(out.astype(int) - 127).max() <= 2
    ramp = np.linspace(0, 255, 64).astype(np.uint8)[None, :, None].repeat(64, 0).repeat(3, 2)
    assert np.abs(downscale(ramp, 0.5).astype(int) - ramp).mean() < 3


def test_occluders_cover_the_requested_fraction_of_each_person_box_and_nothing_outside():
    frame = np.full((120, 160, 3), 10, np.uint8)
    boxes = np.array([[10, 20, 50, 100], [90, 10, 150, 110]])
    for seed in range(5):
        out = occlude(frame, 0.3, np.random.default_rng(seed), boxes)
        changed = (out != frame).any(-1)
        inside = np.zeros_like(changed)
        for x1, y1, x2, y2 in boxes:
            inside[y1:y2, x1:x2] = True
            patch = changed[y1:y2, x1:x2].sum() / ((x2 - x1) * (y2 - y1))
            assert 0.2 < patch <= 0.4
        assert not (changed & ~inside).any()
        values = out[changed]
        assert (values == GREY).all() or len(np.unique(values)) > 50


def test_occlusion_without_boxes_covers_about_the_fraction_of_the_frame():
    frame = np.full((100, 100, 3), 10, np.uint8)
    out = occlude(frame, 0.3, np.random.default_rng(0))
    assert 0.15 < (out != frame).any(-1).mean() <= 0.32


def test_blur_and_low_jpeg_quality_lose_detail():
    frame = textured_frame()
    assert sharpness(gaussian_blur(frame, 3)) < 0.5 * sharpness(frame)
    err = {q: np.abs(jpeg(frame, q).astype(int) - frame).mean() for q in (10, 95)}
    assert err[10] > 2 * err[95]
    red = np.zeros((32, 32, 3), np.uint8)
    red[..., 0] = 200
    assert np.abs(jpeg(red, 90).astype(int) - red).max() <= 4


def test_bad_degradation_names_are_one_line_config_errors():
    with pytest.raises(ConfigError, match=r"unknown degradation 'fog-2'.*downscale"):
        get_degradation("fog-2")
    with pytest.raises(ConfigError, match=r"downscale-2.*\(0, 1\]"):
        get_degradation("downscale-2")
    with pytest.raises(ConfigError, match="jpeg-abc"):
        get_degradation("jpeg-abc")
    with pytest.raises(ConfigError, match="twice"):
        parse_degradations("blur-3,blur-3")
    with pytest.raises(ConfigError, match="empty"):
        parse_degradations(" , ")
    assert [d.name for d in parse_degradations("blur-3, jpeg-10")] == ["blur-3", "jpeg-10"]


def test_frames_that_are_not_rgb_uint8_are_rejected():
    with pytest.raises(ValueError, match="uint8"):
        downscale(np.zeros((8, 8, 3), np.float32), 0.5)
