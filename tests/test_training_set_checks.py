"""``train unik`` refuses a set it cannot learn from, and says when its classes cannot be told apart."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from posekit.cli.app import app
from posekit.io.shards import list_shards, read_shard_info, read_skeletons, skeletons_to_table, write_table_atomic
from posekit.testing.synthetic import write_synthetic_dataset

runner = CliRunner()
TINY = ["--channels", "8,16", "--window", "16", "--batch-size", "4", "--workers", "0", "--epochs", "1"]


def train(data: Path, out: Path):
    return runner.invoke(app, ["train", "unik", "--data", str(data), "--out", str(out), *TINY])


def test_a_set_whose_joints_are_all_missing_is_refused_before_training(tmp_path):
    data = tmp_path / "data"
    write_synthetic_dataset(data, {"train": 3, "val": 1}, actions=("waving", "clapping"), frames=(16, 20))
    for shard in list_shards(data):
        clips = read_skeletons(shard)
        for clip in clips:
            for track in clip.tracks:
                track.keypoints = np.full_like(track.keypoints, np.nan)
        write_table_atomic(skeletons_to_table(clips, read_shard_info(shard)), shard)
    result = train(data, tmp_path / "run")
    assert result.exit_code == 2, result.output
    assert "the training set has no usable joint" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run" / "best.pt").exists() and not (tmp_path / "run" / "last.pt").exists()


def test_one_class_and_a_class_without_training_clips_are_said_before_training(tmp_path, caplog):
    data = tmp_path / "data"
    write_synthetic_dataset(data, {"train": 3, "val": 1}, actions=("waving",), frames=(16, 20))
    labels = json.loads((data / "labels.json").read_text())
    (data / "labels.json").write_text(json.dumps({**labels, "classes": ["waving", "ghost"]}))
    result = train(data, tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert "the training set holds one class (waving): top-1 will be 100 %" in caplog.text
    assert "1 class(es) have no training clip and cannot be learnt: ghost" in caplog.text
