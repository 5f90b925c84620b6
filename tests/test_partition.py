"""Static partitions: every clip in exactly one part, the same part on every machine."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from posekit.cli.app import app
from posekit.core.errors import ConfigError
from posekit.core.hashing import stable_hash
from posekit.io.shards import read_skeletons
from posekit.workflows.extraction.partition import Partition
from tests.videos import write_clip

CLIP_IDS = [f"class_{c}/video_{i:04d}.mp4" for c in range(5) for i in range(200)]


def test_every_clip_falls_in_exactly_one_part():
    parts = [Partition(i, 7) for i in range(7)]
    owners = [[p.index for p in parts if p.contains(clip)] for clip in CLIP_IDS]
    assert all(len(o) == 1 for o in owners)
    sizes = [sum(o == [i] for o in owners) for i in range(7)]
    assert min(sizes) > 0.7 * len(CLIP_IDS) / 7, sizes


def test_the_hash_does_not_depend_on_the_process_hash_seed():
    code = "from posekit.workflows.extraction.partition import stable_hash; print(stable_hash('a/b é.mp4'))"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code], env={"PYTHONHASHSEED": seed}, capture_output=True, text=True, check=True
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert outputs == {str(stable_hash("a/b é.mp4"))}


def test_part_folder_names_round_trip():
    part = Partition(3, 16)
    assert part.folder_name == "part-00003-of-00016"
    assert Partition.from_folder_name(part.folder_name) == part
    assert Partition.from_folder_name("shards") is None


@pytest.mark.parametrize(
    ("index", "count", "message"),
    [(5, 5, "--shard-index must be in \\[0, 4\\]"), (0, 0, "--num-shards must be at least 1"), (1, None, "together")],
)
def test_bad_partition_flags_name_the_fix(index, count, message):
    with pytest.raises(ConfigError, match=message):
        Partition.from_options(index, count)


@pytest.mark.slow
def test_parts_extracted_separately_cover_the_inputs_once(tmp_path, sample_frames):
    root = tmp_path / "in"
    root.mkdir()
    names = [f"clip{i}.mp4" for i in range(5)]
    for name in names:
        write_clip(root / name, sample_frames[:1])
    out = tmp_path / "out"
    seen = []
    for index in range(2):
        args = ["extract", str(root), "--out", str(out), "--shard-index", str(index), "--num-shards", "2"]
        result = CliRunner().invoke(app, [*args, "--imgsz", "320", "--no-progress"])
        assert result.exit_code == 0, result.output
        part_dir = out / Partition(index, 2).folder_name
        ids = [clip.clip_id for clip in read_skeletons(part_dir)]
        assert all(Partition(index, 2).contains(i) for i in ids)
        seen += ids
    assert sorted(seen) == names
    assert sorted(clip.clip_id for clip in read_skeletons(out)) == names
