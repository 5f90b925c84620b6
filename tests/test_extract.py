import json
import os
import shutil

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from posekit.cli.app import app
from posekit.core.errors import ConfigError
from posekit.estimators.base import EstimatorConfig
from posekit.estimators.registry import parse_experts
from posekit.io.shards import read_proposals, read_shard_info, read_skeletons
from posekit.workflows.extraction import clip as clip_module
from posekit.workflows.extraction.options import ExtractOptions
from posekit.workflows.extraction.run import run_extraction
from tests.videos import write_clip

runner = CliRunner()
FAST = ["--imgsz", "1280", "--no-progress"]


def options(experts="yolo", **kw):
    return ExtractOptions(experts=tuple(parse_experts(experts)), estimator=EstimatorConfig(imgsz=1280), **kw)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory, short_clip):
    out = tmp_path_factory.mktemp("extract") / "shards"
    result = runner.invoke(app, ["extract", str(short_clip), "--out", str(out), *FAST])
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.mark.slow
def test_extract_writes_tracked_skeletons_and_a_manifest(extracted, short_clip):
    out, output = extracted
    (clip,) = read_skeletons(out)
    assert clip.clip_id == short_clip.name and clip.num_frames == 6
    assert (clip.width, clip.height, clip.fps) == (768, 576, 10.0)
    np.testing.assert_allclose(clip.timestamp, np.arange(6) / 10)
    assert len(clip.tracks) >= 2
    long_tracks = [t for t in clip.tracks if len(t) >= 5]
    assert len(long_tracks) >= 2
    for track in clip.tracks:
        assert track.keypoints.shape == (len(track), 17, 2)
        missing = np.isnan(track.keypoints).any(-1)
        assert (track.joint_source[missing] == -1).all() and (track.joint_source[~missing] == 0).all()
    manifest = json.loads((out / "manifest.json").read_text())
    (entry,) = manifest["entries"]
    assert entry["status"] == "done" and entry["shard"] == "skeletons-00000.parquet" and entry["frames"] == 6
    assert "videos done" in output and "person tracks" in output


@pytest.mark.slow
def test_rerun_skips_finished_clips(extracted, short_clip):
    out, _ = extracted
    before = (out / "skeletons-00000.parquet").read_bytes()
    result = runner.invoke(app, ["extract", str(short_clip), "--out", str(out), *FAST])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("*.parquet")) == ["skeletons-00000.parquet"]
    assert (out / "skeletons-00000.parquet").read_bytes() == before
    assert "already done" in result.output


@pytest.mark.slow
def test_same_input_and_settings_give_byte_identical_shards(extracted, short_clip, tmp_path):
    out, _ = extracted
    run_extraction(short_clip, tmp_path, options(), progress=False)
    assert (tmp_path / "skeletons-00000.parquet").read_bytes() == (out / "skeletons-00000.parquet").read_bytes()


@pytest.mark.slow
def test_rerun_with_other_settings_is_refused(extracted, short_clip):
    out, _ = extracted
    result = runner.invoke(app, ["extract", str(short_clip), "--out", str(out), "--fps", "5", *FAST])
    assert result.exit_code == 2
    assert "other settings (fps differ)" in result.output and "--overwrite" in result.output


@pytest.mark.slow
def test_inspect_and_viz_read_the_shards(extracted, short_clip, tmp_path):
    out, _ = extracted
    result = runner.invoke(app, ["inspect", str(out), "--plot", str(tmp_path / "h.png")])
    assert result.exit_code == 0, result.output
    assert "missing-joint rate" in result.output and (tmp_path / "h.png").stat().st_size > 1000
    video = tmp_path / "overlay.mp4"
    result = runner.invoke(app, ["viz", short_clip.name, "--shards", str(out), "--out", str(video)])
    assert result.exit_code == 0, result.output
    with av.open(str(video)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 6 and frames[0].shape == (576, 768, 3)
    result = runner.invoke(app, ["viz", "nope.mp4", "--shards", str(out), "--out", str(video)])
    assert result.exit_code == 2 and "no clip 'nope.mp4'" in result.output


@pytest.mark.slow
def test_several_experts_keep_every_proposal_with_track_ids(short_clip, tmp_path):
    summary = run_extraction(
        short_clip, tmp_path, options("yolo,mediapipe", max_frames=3, keep_proposals=True), progress=False
    )
    assert summary.done == 1
    frames = read_proposals(tmp_path / "proposals")
    assert sorted({f.expert for f in frames}) == ["mediapipe", "yolo"] and len(frames) == 6
    info = read_shard_info(next((tmp_path / "proposals").glob("*.parquet")))
    assert info.experts == ("yolo", "mediapipe") and info.layout.name == "coco17"
    by_expert = {(f.expert, f.t): f.proposals for f in frames}
    tracked = by_expert[("yolo", 2)].track_ids
    assert sorted(by_expert[("mediapipe", 2)].track_ids) == sorted(tracked[tracked >= 0])
    (clip,) = read_skeletons(tmp_path)
    assert clip.num_frames == 3


@pytest.mark.slow
def test_mediapipe_alone_uses_the_bundled_detector_for_boxes(short_clip, tmp_path):
    summary = run_extraction(short_clip, tmp_path, options("mediapipe", max_frames=2), progress=False)
    (clip,) = read_skeletons(tmp_path)
    assert summary.done == 1 and len(clip.tracks) >= 2
    assert read_shard_info(tmp_path / "skeletons-00000.parquet").experts == ("mediapipe",)


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, sample_frames):
    root = tmp_path_factory.mktemp("bad")
    write_clip(root / "good.mp4", sample_frames[:3])
    (root / "text.mp4").write_text("not a video\n" * 100)
    (root / "empty.mp4").write_bytes(b"")
    with av.open(str(root / "zero frames.mkv"), mode="w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        container.start_encoding()
    avi = write_clip(root / "truncated.avi", sample_frames[:8], codec="mjpeg")
    data = avi.read_bytes()
    avi.write_bytes(data[: len(data) // 2])
    good = (root / "good.mp4").read_bytes()
    (root / "corrupt.mp4").write_bytes(good[:48] + bytes(len(good) - 96) + good[-48:])
    return root


@pytest.mark.slow
def test_bad_videos_fail_alone_with_one_line_each_and_exit_code_1(bad_inputs, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["extract", str(bad_inputs), "--out", str(out), *FAST])
    assert result.exit_code == 1, result.output
    manifest = {e["clip_id"]: e for e in json.loads((out / "manifest.json").read_text())["entries"]}
    assert manifest["good.mp4"]["status"] == "done"
    reasons = {k: v["reason"] for k, v in manifest.items() if v["status"] == "failed"}
    assert set(reasons) == {"text.mp4", "empty.mp4", "zero frames.mkv", "corrupt.mp4"}
    assert "not a readable video" in reasons["text.mp4"]
    assert "no decodable frames" in reasons["zero frames.mkv"]
    assert manifest["truncated.avi"]["status"] == "done" and manifest["truncated.avi"]["truncated"]
    for clip_id, reason in reasons.items():
        assert clip_id in reason and "\n" not in reason
    assert [c.clip_id for c in read_skeletons(out)] == ["good.mp4", "truncated.avi"]


@pytest.mark.slow
def test_unreadable_folder_is_reported_and_the_rest_goes_on(tmp_path, sample_frames, monkeypatch):
    root = tmp_path / "in"
    (root / "locked").mkdir(parents=True)
    write_clip(root / "ok.mp4", sample_frames[:2])
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    summary = run_extraction(root, tmp_path / "out", options(), progress=False)
    assert summary.done == 1 and summary.failed == 1
    assert "locked: cannot list folder (Permission denied)" in summary.failures[0]


def test_config_errors_exit_2_before_touching_videos(short_clip, tmp_path):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    cases = [
        (["--out", str(a_file)], "is a file"),
        (["--out", str(tmp_path / "o1"), "--experts", "openpose"], "unknown expert 'openpose'"),
        (["--out", str(tmp_path / "o2"), "--experts", f"yolo:{tmp_path / 'missing.pt'}"], "YOLO weights not found"),
        (["--out", str(tmp_path / "o3"), "--layout", "openpose25"], "unknown joint layout"),
    ]
    for args, message in cases:
        result = runner.invoke(app, ["extract", str(short_clip), *args, *FAST])
        assert result.exit_code == 2, result.output
        assert message in result.output
        assert result.output.count("\n") <= 2
    with pytest.raises(ConfigError, match="input not found"):
        run_extraction(tmp_path / "absent", tmp_path / "o4", options(), progress=False)


@pytest.mark.slow
def test_interrupted_run_resumes_without_losing_or_repeating_clips(tmp_path, sample_frames, monkeypatch):
    root = tmp_path / "in"
    root.mkdir()
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        write_clip(root / name, sample_frames[:2])
    out = tmp_path / "out"
    real = clip_module.extract_clip

    def interrupt_on_b(video, *args, **kwargs):
        if video.clip_id == "b.mp4":
            raise KeyboardInterrupt
        return real(video, *args, **kwargs)

    monkeypatch.setattr(clip_module, "extract_clip", interrupt_on_b)
    with pytest.raises(KeyboardInterrupt):
        run_extraction(root, out, options(shard_clips=1), progress=False)
    assert [c.clip_id for c in read_skeletons(out)] == ["a.mp4"]
    monkeypatch.setattr(clip_module, "extract_clip", real)
    summary = run_extraction(root, out, options(shard_clips=1), progress=False)
    assert (summary.done, summary.skipped) == (2, 1)
    assert sorted(c.clip_id for c in read_skeletons(out)) == ["a.mp4", "b.mp4", "c.mp4"]


@pytest.mark.slow
def test_overwrite_starts_again(extracted, short_clip, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(extracted[0], out)
    result = runner.invoke(
        app, ["extract", str(short_clip), "--out", str(out), "--overwrite", "--max-frames", "2", *FAST]
    )
    assert result.exit_code == 0, result.output
    (clip,) = read_skeletons(out)
    assert clip.num_frames == 2


@pytest.mark.slow
def test_a_second_one_stage_expert_is_matched_to_tracks_without_failing(sample_clip, tmp_path):
    from posekit.estimators.yolo import bundled_yolo_weights

    student = tmp_path / "student.pt"
    shutil.copy(bundled_yolo_weights(), student)
    summary = run_extraction(sample_clip, tmp_path / "out", options(f"yolo,yolo:{student}", max_frames=12))
    assert summary.done == 1 and summary.failed == 0, summary.failures
    (clip,) = read_skeletons(tmp_path / "out")
    assert len(clip.tracks) >= 2


@pytest.mark.slow
def test_shards_left_by_a_run_killed_before_its_manifest_save_are_redone_once(short_clip, tmp_path):
    out = tmp_path / "out"
    run_extraction(short_clip, out, options(max_frames=2, keep_proposals=True), progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "entries": []}))  # as saved before the first shard
    summary = run_extraction(short_clip, out, options(max_frames=2, keep_proposals=True), progress=False)
    assert summary.done == 1
    assert [p.name for p in out.glob("skeletons-*.parquet")] == ["skeletons-00001.parquet"]
    assert len(list((out / "proposals").glob("*.parquet"))) == 1
    assert len(read_skeletons(out)) == 1


@pytest.mark.slow
def test_another_file_with_a_done_clip_id_fails_instead_of_being_skipped(short_clip, tmp_path):
    out = tmp_path / "out"
    run_extraction(short_clip, out, options(max_frames=2), progress=False)
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(short_clip, other / short_clip.name)
    summary = run_extraction(other / short_clip.name, out, options(max_frames=2), progress=False)
    assert summary.failed == 1 and "already holds clip id" in summary.failures[0]


def test_a_device_that_is_not_there_stops_the_run_once(short_clip, tmp_path):
    for device, message in [("cuda:0", "no CUDA GPU"), ("gpu", "unknown --device 'gpu'")]:
        result = runner.invoke(app, ["extract", str(short_clip), "--out", str(tmp_path / device), "--device", device])
        assert result.exit_code == 2 and message in result.output, result.output


def test_huge_frames_are_refused_with_the_fix(sample_clip, monkeypatch):
    from posekit.core.errors import VideoError
    from posekit.io import video

    monkeypatch.setattr(video, "MAX_PIXELS", 1000)
    with pytest.raises(VideoError, match="768x576 frames exceed"):
        video.probe_video(sample_clip)
