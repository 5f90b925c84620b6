"""What a run really did: truncated videos kept (or failed under --strict), flags that do nothing said once,
the person filters (--conf, --min-track-frames, --max-persons) recorded, counted and honoured by resume."""

from __future__ import annotations

import json
import pickle
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from posekit.cli.app import app
from posekit.io.shards import read_skeletons
from posekit.refine.tracks import RefinedTracks, TrackFilterOptions, filter_tracks
from posekit.workflows.datasets.build.split import stratified_split
from tests.conftest import SHARED_DATA
from tests.videos import read_frames, write_clip

runner = CliRunner()
NTU = SHARED_DATA / "videos" / "ntu-S001C001P001R001A001_rgb.avi"


def extract(*args: str) -> tuple[int, str]:
    """Exit code and the output with its line wrapping undone."""
    result = runner.invoke(app, ["extract", *args, "--experts", "yolo", "--no-progress"])
    return result.exit_code, " ".join(result.output.split())


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def truncated_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real NTU clip (103 frames, 1920x1080 H.264 in AVI) with its last three quarters of bytes cut off."""
    data = NTU.read_bytes()
    path = tmp_path_factory.mktemp("cut") / "ntu cut.avi"
    path.write_bytes(data[: len(data) // 4])
    return path


@pytest.mark.slow
def test_a_truncated_video_is_done_from_its_readable_frames_with_a_note(truncated_clip, tmp_path):
    code, output = extract(str(truncated_clip), "--out", str(tmp_path))
    assert code == 0, output
    (entry,) = manifest(tmp_path)["entries"]
    assert entry["status"] == "done" and entry["frames"] == entry["decoded_frames"] == 13
    assert entry["truncated"] == {"readable_frames": 13, "declared_frames": 103, "checked": "decoded"}
    assert manifest(tmp_path)["truncated"] == 1
    assert "decoded 13 of the 103 frames its header declares" in output and "--strict" in output
    (clip,) = read_skeletons(tmp_path)
    assert clip.num_frames == 13 and len(clip.tracks) >= 1


@pytest.mark.slow
def test_strict_fails_a_truncated_video_with_one_line(truncated_clip, tmp_path):
    code, output = extract(str(truncated_clip), "--out", str(tmp_path), "--strict")
    assert code == 1, output
    (entry,) = manifest(tmp_path)["entries"]
    assert entry["status"] == "failed" and "\n" not in entry["reason"]
    assert "ntu cut.avi: truncated (decoded 13 of the 103 frames" in entry["reason"] and "--strict" in entry["reason"]


@pytest.mark.slow
def test_max_frames_does_not_hide_truncation_the_end_is_checked_by_packets(truncated_clip, sample_clip, tmp_path):
    code, output = extract(str(truncated_clip), "--out", str(tmp_path / "cut"), "--max-frames", "3")
    assert code == 0, output
    (entry,) = manifest(tmp_path / "cut")["entries"]
    assert entry["frames"] == 3
    assert entry["truncated"] == {"readable_frames": 13, "declared_frames": 103, "checked": "packets"}
    code, _ = extract(str(truncated_clip), "--out", str(tmp_path / "strict"), "--max-frames", "3", "--strict")
    assert code == 1
    code, output = extract(str(sample_clip), "--out", str(tmp_path / "whole"), "--max-frames", "3")
    assert code == 0, output
    (entry,) = manifest(tmp_path / "whole")["entries"]
    assert entry["truncated"] == {} and manifest(tmp_path / "whole")["truncated"] == 0


@pytest.mark.slow
def test_a_folder_made_before_strict_existed_resumes_and_strict_is_a_resume_setting(sample_clip, tmp_path):
    out = tmp_path / "out"
    code, output = extract(str(sample_clip), "--out", str(out), "--max-frames", "2")
    assert code == 0, output
    data = manifest(out)
    for key in ("strict", "tracks"):
        del data["settings"][key]
    (out / "manifest.json").write_text(json.dumps(data))
    code, output = extract(str(sample_clip), "--out", str(out), "--max-frames", "2")
    assert code == 0 and "videos skipped (already done) │ 1" in output, output
    code, output = extract(str(sample_clip), "--out", str(out), "--max-frames", "2", "--strict")
    assert code == 2 and "strict" in output


@pytest.fixture(scope="module")
def five_fps_clip(tmp_path_factory: pytest.TempPathFactory, sample_clip: Path) -> Path:
    """20 real street frames at 5 fps (4 s)."""
    return write_clip(tmp_path_factory.mktemp("five") / "five fps.mp4", read_frames(sample_clip, 20), fps=5)


@pytest.mark.slow
def test_flags_that_do_nothing_say_so_once_and_the_manifest_records_what_ran(five_fps_clip, tmp_path):
    args = ["--out", str(tmp_path), "--gamma", "0.3", "--mode", "robust", "--imgsz", "100", "--fps", "3"]
    code, output = extract(str(five_fps_clip), *args)
    assert code == 0, output
    assert output.count("WARNING --mode, --gamma: SST-A aggregates several experts and this run has one (yolo)") == 1
    assert "aggregation: null" in output
    assert output.count("WARNING --imgsz 100: yolo runs at 128") == 1
    assert output.count("WARNING --fps 3 does not divide the 5 fps of five fps.mp4") == 1
    data = manifest(tmp_path)
    assert data["settings"]["aggregation"] is None
    assert data["effective"] == {"imgsz": {"yolo": 128}}
    (entry,) = data["entries"]
    (clip,) = read_skeletons(tmp_path)
    assert entry["source_fps"] == 5.0 and entry["decoded_frames"] == 20 and entry["frames"] == 12
    expected = round((clip.num_frames - 1) * 5.0 / (clip.frame_index[-1] - clip.frame_index[0]), 3)
    assert entry["fps"] == clip.fps == expected and 2.8 < expected < 3.1


@pytest.mark.slow
def test_fps_at_or_above_the_clips_rate_says_it_takes_every_frame(sample_clip, tmp_path):
    code, output = extract(str(sample_clip), "--out", str(tmp_path), "--fps", "30", "--max-frames", "3")
    assert code == 0, output
    assert "--fps 30 does nothing for vtest-4s.mp4 (10 fps): every frame is taken" in output
    (entry,) = manifest(tmp_path)["entries"]
    assert entry["fps"] == entry["source_fps"] == 10.0


PERSON_FLAGS = ["--imgsz", "960", "--max-frames", "20", "--conf", "0.3"]


@pytest.fixture(scope="module")
def person_runs(tmp_path_factory: pytest.TempPathFactory, sample_clip: Path) -> tuple[Path, Path]:
    """The street clip with yolo at 960 px, every track kept, and with --min-track-frames 5 --max-persons 2."""
    root = tmp_path_factory.mktemp("persons")
    code, output = extract(str(sample_clip), "--out", str(root / "all"), *PERSON_FLAGS)
    assert code == 0, output
    filters = ["--min-track-frames", "5", "--max-persons", "2"]
    code, output = extract(str(sample_clip), "--out", str(root / "main"), *PERSON_FLAGS, *filters)
    assert code == 0, output
    return root / "all", root / "main"


@pytest.mark.slow
def test_conf_is_the_person_score_threshold(person_runs):
    every, _ = person_runs
    assert manifest(every)["settings"]["min_box_score"] == 0.3
    (clip,) = read_skeletons(every)
    assert min(float(track.box_scores.min()) for track in clip.tracks) >= 0.3


@pytest.mark.slow
def test_min_track_frames_and_max_persons_keep_the_main_persons_and_count_what_they_drop(person_runs):
    every, main = person_runs
    (all_clip,) = read_skeletons(every)
    (main_clip,) = read_skeletons(main)
    lengths = {track.track_id: len(track) for track in all_clip.tracks}
    assert min(lengths.values()) < 5 and sum(n >= 5 for n in lengths.values()) > 2, lengths
    all_clip.tracks = [track for track in all_clip.tracks if len(track) >= 5]
    ranked = all_clip.main_persons()
    assert [track.track_id for track in main_clip.tracks] == sorted(track.track_id for track in ranked[:2])
    (entry,) = manifest(main)["entries"]
    short = sum(n for n in lengths.values() if n < 5)
    beyond = sum(len(track) for track in ranked[2:])
    assert entry["dropped"]["short_track"] == short and entry["dropped"]["beyond_max_persons"] == beyond
    assert manifest(main)["dropped"]["beyond_max_persons"] == beyond
    assert manifest(main)["settings"]["tracks"] == {"min_track_frames": 5, "max_persons": 2}
    assert "short_track" not in manifest(every)["entries"][0]["dropped"]


@pytest.mark.slow
def test_person_filters_are_resume_settings(person_runs, sample_clip):
    _, main = person_runs
    filters = ["--min-track-frames", "5", "--max-persons", "2"]
    code, output = extract(str(sample_clip), "--out", str(main), *PERSON_FLAGS, *filters)
    assert code == 0 and "videos skipped (already done) │ 1" in output, output
    code, output = extract(str(sample_clip), "--out", str(main), *PERSON_FLAGS, "--max-persons", "3")
    assert code == 2 and "tracks differ" in output


@pytest.mark.slow
def test_filter_tracks_keeps_the_main_persons_of_to_array_and_leaves_defaults_untouched(person_runs):
    every, _ = person_runs
    (clip,) = read_skeletons(every)
    refined = RefinedTracks(list(clip.tracks))
    frame = (clip.width, clip.height, clip.fps)
    assert filter_tracks(refined, TrackFilterOptions(), *frame) is refined
    (top,) = filter_tracks(refined, TrackFilterOptions(max_persons=1), *frame).tracks
    first = clip.to_array(max_persons=1)[..., 0]
    np.testing.assert_array_equal(first[:, top.t], top.keypoints.transpose(2, 0, 1))
    with pytest.raises(Exception, match="--max-persons must be >= 1"):
        TrackFilterOptions(max_persons=0)


def test_val_fraction_gives_round_clips_times_fraction_and_every_class_only_when_asked():
    labels = {f"clip{i}.mp4": ("run", "jump", "sit")[i % 3] for i in range(8)}
    split = stratified_split(labels, 0.1, seed=0)
    assert Counter(split.values()) == {"train": 7, "val": 1}
    per_class = Counter(labels[c] for c, s in stratified_split(labels, 0.1, 0, every_class=True).items() if s == "val")
    assert per_class == {"run": 1, "jump": 1, "sit": 1}
    big = {f"c{i}": f"k{i % 7}" for i in range(100)}
    assert Counter(stratified_split(big, 0.25, seed=3).values())["val"] == 25
    assert Counter(stratified_split(labels, 0.0, seed=0).values()) == {"train": 8}
    assert Counter(stratified_split(labels, 0.5, seed=0).values())["val"] == 4


@pytest.mark.slow
def test_pyskl_of_plain_shards_names_its_split_all_and_refuses_unlabelled_clips(person_runs, tmp_path):
    every, _ = person_runs
    refused = runner.invoke(app, ["export", "pyskl", str(every), "--out", str(tmp_path / "x.pkl")])
    assert refused.exit_code == 2 and "--allow-unlabelled" in refused.output and not (tmp_path / "x.pkl").exists()
    (every / "labels.csv").write_text("clip_id,label\nvtest-4s.mp4,walking\n")
    result = runner.invoke(app, ["export", "pyskl", str(every), "--out", str(tmp_path / "x.pkl")])
    assert result.exit_code == 0, result.output
    with open(tmp_path / "x.pkl", "rb") as fh:
        data = pickle.load(fh)
    assert data["split"] == {"all": ["vtest-4s.mp4"]}
    assert [a["label"] for a in data["annotations"]] == [0]
