"""Images and folders of frames as inputs of ``posekit extract`` (real frames of the sample clip, real COCO images)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from posekit.cli.app import app
from posekit.core.errors import ConfigError, VideoError
from posekit.estimators.base import EstimatorConfig
from posekit.estimators.registry import parse_experts
from posekit.io.images import ImageInputOptions, natural_key
from posekit.io.inputs import find_inputs, iter_input_frames, probe_input
from posekit.io.shards import read_skeletons
from posekit.workflows.extraction.options import ExtractOptions
from posekit.workflows.extraction.run import run_extraction
from tests.conftest import SHARED_DATA
from tests.videos import read_frames

runner = CliRunner()
COCO = SHARED_DATA / "gt-dev" / "coco"
COCO_IMAGE = COCO / "000000000785.jpg"
FRAMES = 12


def options(**kw) -> ExtractOptions:
    return ExtractOptions(experts=tuple(parse_experts("yolo")), estimator=EstimatorConfig(imgsz=1280), **kw)


def write_jpeg(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="module")
def clip_frames(sample_clip) -> list[np.ndarray]:
    return read_frames(sample_clip, FRAMES)


@pytest.fixture(scope="module")
def frame_root(tmp_path_factory, clip_frames) -> Path:
    """``root/street/1.jpg .. 12.jpg``: the sample clip's first 12 frames as a folder of JPEG frames."""
    root = tmp_path_factory.mktemp("frames")
    for i, image in enumerate(clip_frames):
        write_jpeg(root / "street" / f"{i + 1}.jpg", image)
    return root


@pytest.fixture(scope="module")
def extracted_frames(tmp_path_factory, frame_root) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("frames-out") / "shards"
    args = ["extract", str(frame_root), "--out", str(out), "--imgsz", "1280", "--frame-rate", "12.5", "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out, result.output


def test_natural_order_puts_2_before_10():
    names = ["10.jpg", "2.jpg", "1.jpg", "frame_11.png", "frame_9.png", "12.jpg"]
    assert sorted(names, key=natural_key) == ["1.jpg", "2.jpg", "10.jpg", "12.jpg", "frame_9.png", "frame_11.png"]


def test_a_folder_of_frames_is_one_clip_decoded_in_natural_order(frame_root, clip_frames):
    (clip,), problems = find_inputs(frame_root)
    assert clip.clip_id == "street" and problems == []
    info = probe_input(clip.path, 12.5)
    assert info.frame_files == tuple(f"{i}.jpg" for i in range(1, FRAMES + 1))
    assert (info.width, info.height, info.fps, info.declared_frames) == (768, 576, 12.5, FRAMES)
    frames = list(iter_input_frames(clip.path, info))
    assert [f.index for f in frames] == list(range(FRAMES))
    np.testing.assert_allclose([f.time for f in frames], np.arange(FRAMES) / 12.5)
    for frame in frames:
        errors = [np.abs(frame.image.astype(int) - other).mean() for other in clip_frames]
        assert np.argmin(errors) == frame.index and errors[frame.index] < 3, errors


def test_fps_and_max_frames_sample_a_folder_of_frames_by_its_frame_rate(frame_root):
    info = probe_input(frame_root / "street", 10.0)
    assert [f.index for f in iter_input_frames(frame_root / "street", info, fps=2.5)] == [0, 4, 8]
    assert [f.index for f in iter_input_frames(frame_root / "street", info, max_frames=3)] == [0, 1, 2]


@pytest.mark.slow
def test_extract_turns_a_folder_of_frames_into_one_tracked_clip(extracted_frames):
    out, output = extracted_frames
    (clip,) = read_skeletons(out)
    assert clip.clip_id == "street" and clip.num_frames == FRAMES
    assert (clip.width, clip.height, clip.fps) == (768, 576, 12.5)
    np.testing.assert_array_equal(clip.frame_index, np.arange(FRAMES))
    np.testing.assert_allclose(clip.timestamp, np.arange(FRAMES) / 12.5)
    assert sum(len(track) >= FRAMES // 2 for track in clip.tracks) >= 2, "people are tracked across the frames"
    (entry,) = json.loads((out / "manifest.json").read_text())["entries"]
    assert entry["status"] == "done" and entry["frames"] == FRAMES
    assert entry["frame_files"] == [f"{i}.jpg" for i in range(1, FRAMES + 1)]
    assert "ms/frame" in output


@pytest.mark.slow
def test_rerun_on_a_folder_of_frames_resumes_with_the_new_clip_only(tmp_path, frame_root, clip_frames):
    root = tmp_path / "in"
    shutil.copytree(frame_root, root)
    out = tmp_path / "out"
    first = run_extraction(root, out, options(max_frames=3), progress=False)
    assert (first.done, first.failed) == (1, 0)
    shard = next(out.glob("skeletons-*.parquet"))
    before = shard.read_bytes()
    for i, image in enumerate(clip_frames[:3]):
        write_jpeg(root / "later" / f"{i:06d}.jpg", image)
    second = run_extraction(root, out, options(max_frames=3), progress=False)
    assert (second.done, second.skipped, second.failed) == (1, 1, 0)
    assert shard.read_bytes() == before
    assert sorted(c.clip_id for c in read_skeletons(out)) == ["later", "street"]


def test_coco_images_are_one_clip_each_named_by_their_file_name_as_photos():
    clips, _ = find_inputs(COCO, photos=True)
    assert [c.clip_id for c in clips] == sorted(p.name for p in COCO.glob("*.jpg"))
    assert len(clips) == 4


def test_a_folder_of_frames_is_one_clip_whether_it_or_its_parent_is_named(frame_root):
    (named,), _ = find_inputs(frame_root / "street")
    (found,), _ = find_inputs(frame_root)
    assert named.clip_id == found.clip_id == "street" and named.file_key == found.file_key
    assert named.path == found.path == frame_root / "street"


@pytest.mark.slow
def test_a_single_image_is_a_one_frame_clip_at_its_stored_size(tmp_path):
    out = tmp_path / "out"
    summary = run_extraction(COCO_IMAGE, out, options(), progress=False)
    assert (summary.done, summary.failed, summary.frames) == (1, 0, 1)
    (clip,) = read_skeletons(out)
    assert clip.clip_id == "000000000785.jpg" and clip.frame_index.tolist() == [0]
    assert (clip.width, clip.height) == (640, 425)
    assert clip.tracks, "the skier of COCO image 785 is found"
    (entry,) = json.loads((out / "manifest.json").read_text())["entries"]
    assert entry["frame_files"] == ["000000000785.jpg"]


@pytest.mark.slow
def test_mixed_sizes_fail_that_clip_naming_the_file_and_the_others_go_on(tmp_path, clip_frames):
    root = tmp_path / "in"
    for i, image in enumerate(clip_frames[:3]):
        write_jpeg(root / "mixed" / f"{i}.jpg", image)
    small = write_jpeg(root / "mixed" / "3.jpg", cv2.resize(clip_frames[3], (384, 288)))
    (root / "single").mkdir()
    shutil.copy(COCO_IMAGE, root / "single" / COCO_IMAGE.name)
    summary = run_extraction(root, tmp_path / "out", options(), progress=False)
    assert (summary.done, summary.failed) == (1, 1)
    (reason,) = summary.failures
    assert str(small) in reason and "384x288 differs from the first frame 0.jpg (768x576)" in reason
    entries = {e["clip_id"]: e for e in json.loads((tmp_path / "out" / "manifest.json").read_text())["entries"]}
    assert entries["mixed"]["status"] == "failed" and entries["single"]["status"] == "done"


@pytest.mark.slow
@pytest.mark.parametrize("content", [b"", b"not a jpeg at all\n" * 40])
def test_an_unreadable_image_fails_its_clip_with_one_line_naming_it(tmp_path, clip_frames, content):
    root = tmp_path / "in"
    write_jpeg(root / "seq" / "1.jpg", clip_frames[0])
    (root / "seq" / "2.jpg").write_bytes(content)
    (root / "broken.png").write_bytes(content)
    summary = run_extraction(root, tmp_path / "out", options(), progress=False)
    assert (summary.done, summary.failed) == (0, 2)
    assert sorted(summary.failures) == sorted(
        f"{path}: not a readable image (empty, corrupt, or not the format its name says)"
        for path in (root / "broken.png", root / "seq" / "2.jpg")
    )
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["counts"]["failed"] == 2


@pytest.mark.slow
def test_a_jpg_beside_videos_is_extracted_as_its_own_clip(tmp_path, short_clip, clip_frames):
    root = tmp_path / "in"
    (root / "videos").mkdir(parents=True)
    shutil.copy(short_clip, root / "videos" / "a.mp4")
    write_jpeg(root / "videos" / "still.jpg", clip_frames[0])
    assert [c.clip_id for c in find_inputs(root)[0]] == ["videos/a.mp4", "videos/still.jpg"]
    summary = run_extraction(root, tmp_path / "out", options(max_frames=2), progress=False)
    assert (summary.done, summary.failed, summary.frames) == (2, 0, 3)
    clips = {c.clip_id: c for c in read_skeletons(tmp_path / "out")}
    assert clips["videos/still.jpg"].num_frames == 1 and clips["videos/a.mp4"].num_frames == 2


def test_a_linked_folder_of_frames_is_a_clip(tmp_path, frame_root):
    (tmp_path / "staged").mkdir()
    (tmp_path / "staged" / "walk").symlink_to(frame_root / "street", target_is_directory=True)
    (clip,), _ = find_inputs(tmp_path / "staged")
    assert clip.clip_id == "walk" and probe_input(clip.path, 30.0).declared_frames == FRAMES


def test_a_run_that_finds_no_input_says_so_and_fails(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("no media here\n")
    result = runner.invoke(app, ["extract", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "no input found in" in result.output and "done" not in result.output and "nan" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_frame_rate_bounds_are_refused_by_library_and_cli(tmp_path):
    with pytest.raises(ConfigError, match=r"--frame-rate must be > 0"):
        ImageInputOptions(frame_rate=0)
    result = runner.invoke(app, ["extract", str(COCO_IMAGE), "--out", str(tmp_path / "o"), "--frame-rate", "0"])
    assert result.exit_code == 2 and "--frame-rate must be > 0" in result.output, result.output


def test_a_folder_whose_images_vanished_is_a_video_error(tmp_path):
    (tmp_path / "empty-seq").mkdir()
    with pytest.raises(VideoError, match="holds no image file"):
        probe_input(tmp_path / "empty-seq", 30.0)


@pytest.mark.slow
def test_a_manifest_from_before_image_inputs_still_resumes(tmp_path, short_clip):
    out = tmp_path / "out"
    run_extraction(short_clip, out, options(max_frames=2), progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["settings"]["images"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    summary = run_extraction(short_clip, out, options(max_frames=2), progress=False)
    assert (summary.done, summary.skipped, summary.failed) == (0, 1, 0)
    with pytest.raises(ConfigError, match="images differ"):
        run_extraction(short_clip, out, options(max_frames=2, images=ImageInputOptions(frame_rate=25)), progress=False)
