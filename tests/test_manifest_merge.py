"""``posekit manifest merge``: parts of a scheduler array joined, what is missing or failed named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from posekit.cli.app import app
from posekit.io.shards import read_skeletons
from posekit.workflows.extraction.partition import Partition
from tests.videos import write_clip

runner = CliRunner()
FAST = ["--imgsz", "320", "--no-progress"]
GOOD = ["a.mp4", "b.mp4", "c.mp4", "d.mp4", "e.mp4"]


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory, sample_frames) -> tuple[Path, Path]:
    """Five good clips and a broken one, extracted as two parts of a split."""
    base = tmp_path_factory.mktemp("merge")
    root = base / "in"
    root.mkdir()
    for name in GOOD:
        write_clip(root / name, sample_frames[:1])
    (root / "broken.mp4").write_text("not a video")
    out = base / "out"
    for index in range(2):
        args = ["extract", str(root), "--out", str(out), "--shard-index", str(index), "--num-shards", "2", *FAST]
        runner.invoke(app, args)
    return root, out


def copy(parts: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """The inputs as they are and a copy of the output to change."""
    root, out = parts
    shutil.copytree(out, tmp_path / "out")
    return root, tmp_path / "out"


def merged_entries(out: Path) -> dict[str, dict]:
    return {e["clip_id"]: e for e in json.loads((out / "manifest.json").read_text())["entries"]}


@pytest.mark.slow
def test_merge_names_the_failed_clip_and_a_retry_on_the_merged_folder_completes_it(parts, sample_frames):
    root, out = parts  # changed in place: the other tests copy it and do not depend on broken.mp4
    result = runner.invoke(app, ["manifest", "merge", str(out), "--inputs", str(root)])
    assert result.exit_code == 1, result.output
    assert "broken.mp4: not a readable video" in result.output and "rerun parts" in result.output
    entries = merged_entries(out)
    assert sorted(entries) == sorted([*GOOD, "broken.mp4"])
    for clip in GOOD:  # shard paths relative to OUT, pointing at the part that holds the clip
        assert (out / entries[clip]["shard"]).is_file()
        assert entries[clip]["shard"].startswith(Partition.from_folder_name(entries[clip]["shard"][:19]).folder_name)
    write_clip(root / "broken.mp4", sample_frames[:1])  # fixed
    result = runner.invoke(app, ["extract", str(root), "--out", str(out), "--retry-failed", *FAST])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["manifest", "merge", str(out), "--inputs", str(root)])
    assert result.exit_code == 0, result.output
    assert all(e["status"] == "done" for e in merged_entries(out).values())
    assert sorted(c.clip_id for c in read_skeletons(out)) == sorted([*GOOD, "broken.mp4"])


@pytest.mark.slow
def test_a_missing_part_and_its_clips_are_named(parts, tmp_path):
    root, out = copy(parts, tmp_path)
    lost = sorted(c.clip_id for c in read_skeletons(out / "part-00001-of-00002"))
    shutil.rmtree(out / "part-00001-of-00002")
    result = runner.invoke(app, ["manifest", "merge", str(out), "--inputs", str(root)])
    assert result.exit_code == 1
    assert "missing part: part-00001-of-00002" in result.output
    for clip in lost:
        assert f"missing clip: {clip} (in part-00001-of-00002)" in result.output
    assert "rerun parts 1" in result.output


@pytest.mark.slow
def test_a_clip_done_in_two_parts_is_reported(parts, tmp_path):
    _, out = copy(parts, tmp_path)
    first, second = out / "part-00000-of-00002", out / "part-00001-of-00002"
    manifest = json.loads((second / "manifest.json").read_text())
    entry = next(e for e in json.loads((first / "manifest.json").read_text())["entries"] if e["status"] == "done")
    shutil.copy(first / entry["shard"], second / "skeletons-00099.parquet")
    manifest["entries"].append({**entry, "shard": "skeletons-00099.parquet"})
    (second / "manifest.json").write_text(json.dumps(manifest))
    result = runner.invoke(app, ["manifest", "merge", str(out)])
    assert result.exit_code == 1
    assert f"duplicate: {entry['clip_id']} done in part-00000-of-00002, part-00001-of-00002" in result.output


@pytest.mark.slow
def test_parts_of_other_settings_or_splits_are_refused(parts, tmp_path):
    _, out = copy(parts, tmp_path)
    path = out / "part-00001-of-00002" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["settings"]["imgsz"] = 640
    path.write_text(json.dumps(manifest))
    result = runner.invoke(app, ["manifest", "merge", str(out)])
    assert result.exit_code == 2 and "other settings than part-00000-of-00002 (imgsz differ)" in result.output
    (out / "part-00000-of-00003").mkdir()
    result = runner.invoke(app, ["manifest", "merge", str(out)])
    assert result.exit_code == 2 and "different splits (--num-shards 2, 3)" in result.output
    result = runner.invoke(app, ["manifest", "merge", str(tmp_path)])
    assert result.exit_code == 2 and "no part-IIIII-of-NNNNN folders" in result.output
