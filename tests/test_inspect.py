"""``posekit inspect``: results on stdout (a table, or JSON), a per-clip list."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from posekit.cli.app import app
from tests.conftest import SHARED_DATA
from tests.demo_shards import demo_clip, write_shards

KINETICS = SHARED_DATA / "videos" / "kinetics-armwrestling.mp4"
runner = CliRunner()


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Two clips of real poses: 12 frames of 2 tracks, and 5 frames of the same 2 tracks."""
    clips = [demo_clip(KINETICS, (340, 256), 12, "arm [long].mp4"), demo_clip(KINETICS, (340, 256), 5, "short.mp4")]
    expected = [
        (
            c.clip_id,
            c.num_frames,
            len(c.tracks),
            sum(len(tr) for tr in c.tracks),
            sum(int(np.isnan(tr.keypoints).any(-1).sum()) for tr in c.tracks),
        )
        for c in clips
    ]
    return write_shards(tmp_path_factory.mktemp("inspect") / "shards", clips), expected


def test_inspect_prints_its_results_on_stdout_so_they_can_be_redirected(shards, tmp_path):
    folder, _ = shards
    summary = tmp_path / "summary.txt"
    with summary.open("w") as stdout:
        done = subprocess.run(
            [sys.executable, "-m", "posekit.cli.app", "inspect", str(folder)],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            env={"PATH": "/usr/bin:/bin", "YOLO_OFFLINE": "1", "COLUMNS": "80"},
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    text = summary.read_text()
    assert "missing-joint rate" in text and "clips" in text and "mean joint score per person-frame" in text
    assert "missing-joint rate" not in done.stderr


def test_inspect_clips_lists_every_clip_with_frames_tracks_poses_and_missing_joints(shards):
    folder, expected = shards
    result = runner.invoke(app, ["inspect", str(folder), "--clips"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "arm [long].mp4" in line or "short.mp4" in line]
    assert len(rows) == 2, result.output
    for row, (clip_id, frames, tracks, poses, missing) in zip(rows, expected):
        cells = [c.strip() for c in row.strip("│┃ ").split("│")]
        assert cells[:4] == [clip_id, str(frames), str(tracks), str(poses)], row
        assert cells[4].startswith(f"{missing} ("), row


def test_inspect_json_is_one_object_for_scripts(shards):
    folder, expected = shards
    result = runner.invoke(app, ["inspect", str(folder), "--json", "--clips"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["clips"] == 2 and doc["frames"] == 17 and doc["person_tracks"] == 4 and doc["layout"] == "coco17"
    per_clip = [(c["clip_id"], c["frames"], c["tracks"], c["poses"], c["missing_joints"]) for c in doc["per_clip"]]
    assert per_clip == expected
    assert sum(doc["mean_joint_score_histogram"]) == doc["person_frames"] and doc["confidence_histogram"] is None
    assert 0 < doc["missing_joint_rate"] < 1


def test_inspect_without_shards_says_where_it_looked(tmp_path):
    result = runner.invoke(app, ["inspect", str(tmp_path)])
    assert result.exit_code == 2 and "no skeletons shards under" in result.output
