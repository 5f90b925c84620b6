"""Overlays: co-visible tracks never share a colour, labels sit above the head at a size set by the frame."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from posekit.cli.app import app
from posekit.io.overlay import LABEL_HEIGHT, PALETTE, draw_frame, head_joints, track_colors
from posekit.io.video import iter_frames
from posekit.skeleton.layouts import COCO17
from posekit.skeleton.records import SkeletonClip
from tests.conftest import SHARED_DATA
from tests.demo_shards import demo_clip, demo_poses, track, write_shards

NTU = SHARED_DATA / "videos" / "ntu-S001C001P001R001A001_rgb.avi"
runner = CliRunner()


def _clip(tracks) -> SkeletonClip:
    frames = max(int(tr.t.max()) for tr in tracks) + 1
    return SkeletonClip("c", "c.mp4", 640, 480, 10.0, np.arange(frames, dtype=np.int32), np.zeros(frames), tracks)


@pytest.fixture(scope="module")
def ntu_frame() -> np.ndarray:
    """The first frame of a real 1920x1080 video, ``(1080, 1920, 3)`` RGB."""
    return next(iter_frames(NTU)).image


def test_tracks_seen_together_never_share_a_colour():
    pose = demo_poses("AlphaPose", 0, 1)
    together = _clip([track(i, pose.repeat(10, 0)) for i in range(1, 9)])
    colors = track_colors(together)
    assert len(set(colors.values())) == 8
    assert colors[1] != colors[5] and colors[3] != colors[7]  # the pairs the old hue formula gave one colour
    crowd = _clip([track(i, pose.repeat(4, 0)) for i in range(len(PALETTE) + 10)])
    assert len(set(track_colors(crowd).values())) == len(PALETTE) + 10


def test_a_person_entering_does_not_take_the_colour_of_one_who_just_left():
    pose = demo_poses("AlphaPose", 0, 1).repeat(5, 0)
    clip = _clip([track(1, pose, np.arange(0, 5)), track(2, pose, np.arange(0, 5)), track(3, pose, np.arange(6, 11))])
    colors = track_colors(clip)
    assert colors[3] not in (colors[1], colors[2])


def _label_box(before: np.ndarray, after: np.ndarray, above_y: float) -> tuple[float, float, int, int]:
    """Centre x, bottom y, width and height (pixels) of what was drawn above the row ``above_y``."""
    changed = (before != after).any(-1)
    changed[int(above_y) :] = False
    ys, xs = np.nonzero(changed)
    assert len(ys), "nothing drawn above the pose"
    return (xs.min() + xs.max()) / 2, ys.max(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1


@pytest.mark.parametrize("scale", [1, 2], ids=["1080p", "4K"])
def test_the_label_sits_above_the_head_sized_to_the_frame(ntu_frame, scale):
    frame = cv2.resize(ntu_frame, None, fx=scale, fy=scale) if scale > 1 else ntu_frame.copy()
    height = frame.shape[0]
    pose = demo_poses("AlphaPose", 0, 1)[0] * (1080 / 480) * scale + np.array([300.0 * scale, 0], np.float32)
    drawn = frame.copy()
    colors = {7: PALETTE[0]}
    draw_frame(drawn, [(7, pose)], COCO17, colors)
    head = head_joints(COCO17)
    top = float(np.nanmin(pose[:, 1]))
    bone_width = max(1, round(float(np.ptp(pose, axis=0).max()) / 80))
    cx, bottom, width, text_height = _label_box(frame, drawn, top - bone_width - 1)
    assert abs(cx - float(np.nanmean(pose[head, 0]))) < width / 2  # centred on the head, not at a box corner
    head_width = float(np.ptp(pose[head, 0]))
    assert head_width <= top - bottom <= head_width + LABEL_HEIGHT * height  # just above the top of the head
    assert 0.6 * LABEL_HEIGHT * height <= text_height <= 2 * LABEL_HEIGHT * height  # readable at any size
    region = drawn[int(bottom) - text_height : int(bottom) + 1, int(cx - width / 2) : int(cx + width / 2) + 1]
    assert (region == PALETTE[0]).all(-1).sum() > 0.05 * text_height * width  # in the track's colour


def test_a_rendered_frame_draws_each_co_visible_track_in_its_own_colour(ntu_frame):
    clip = demo_clip(NTU, (1920, 1080), 1)
    colors = track_colors(clip)
    image = ntu_frame.copy()
    draw_frame(image, [(tr.track_id, tr.keypoints[0]) for tr in clip.tracks], COCO17, colors)
    body = [v for v in range(5, 17) if all(not np.isnan(tr.keypoints[0, v]).any() for tr in clip.tracks)]
    seen = {}
    for tr in clip.tracks:
        x, y = np.round(tr.keypoints[0, body[-1]]).astype(int)
        seen[tr.track_id] = tuple(int(c) for c in image[y, x])
    assert seen == {1: colors[1], 5: colors[5]} and colors[1] != colors[5]


def test_viz_writes_the_overlay_video_and_creates_its_folder(tmp_path):
    shards = write_shards(tmp_path / "shards", [demo_clip(NTU, (1920, 1080), 3)])
    out = tmp_path / "viz" / "not yet" / "ntu.mp4"
    result = runner.invoke(app, ["viz", NTU.name, "--shards", str(shards), "--out", str(out)])
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    source = [f.image for _, f in zip(range(3), iter_frames(NTU))]
    assert len(frames) == 3 and frames[0].shape == (1080, 1920, 3)
    assert (np.abs(frames[0].astype(int) - source[0]).max(-1) > 60).sum() > 2000  # skeletons and labels drawn
    assert not list(out.parent.glob(".*.tmp"))


def test_viz_draws_a_folder_of_frames_and_a_single_image(tmp_path, ntu_frame):
    small = cv2.resize(ntu_frame, (480, 270))
    folder = tmp_path / "seq"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i + 1}.png"), cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    clips = [demo_clip(folder, (480, 270), 3, "seq"), demo_clip(folder / "2.png", (480, 270), 1, "seq/2.png")]
    shards = write_shards(tmp_path / "shards", clips)
    for clip_id, frames in (("seq", 3), ("seq/2.png", 1)):
        out = tmp_path / f"{frames}.mp4"
        result = runner.invoke(app, ["viz", clip_id, "--shards", str(shards), "--out", str(out)])
        assert result.exit_code == 0, result.output
        with av.open(str(out)) as container:
            drawn = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert len(drawn) == frames and drawn[0].shape == (270, 480, 3)
        assert (np.abs(drawn[0].astype(int) - small).max(-1) > 60).sum() > 200  # skeletons drawn on the frames


def test_viz_refuses_an_output_it_cannot_write_and_a_video_that_is_not_the_clips(tmp_path):
    shards = write_shards(tmp_path / "shards", [demo_clip(NTU, (1920, 1080), 3)])
    for name in ("ntu.png", "ntu.avi"):
        result = runner.invoke(app, ["viz", NTU.name, "--shards", str(shards), "--out", str(tmp_path / name)])
        assert result.exit_code == 2 and "give a name ending in .mp4" in result.output, result.output
        assert not (tmp_path / name).exists()
    other = tmp_path / "other.png"
    cv2.imwrite(str(other), np.zeros((100, 200, 3), np.uint8))
    args = ["viz", NTU.name, "--shards", str(shards), "--out", str(tmp_path / "a.mp4"), "--video", str(other)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"--video {other} is 200x100, 1 frame(s), but the clip in the shards is 1920x1080" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "a.mp4").exists()
