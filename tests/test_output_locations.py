"""Output locations are checked before any work, and a write that fails later is one line with exit 2.

The unwritable location is a folder made read-only with chmod; where the tests run as root (chmod does
not stop root) it is a path under a regular file instead, and a read-only tmpfs where root may mount one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import posekit.io.overlay as overlay_module
import posekit.workflows.extraction.run as extraction_run
from posekit.cli.app import app
from posekit.core.errors import ConfigError, PosekitError
from posekit.io.manifest import RunManifest
from posekit.io.outputs import check_output_dir, check_output_file
from posekit.io.overlay import write_overlay
from posekit.io.schema import ShardInfo
from posekit.io.shards import ShardWriter
from posekit.skeleton.layouts import COCO17
from posekit.skeleton.records import ExpertFrame, PoseProposals
from tests.conftest import SHARED_DATA
from tests.demo_shards import demo_clip, write_shards

KINETICS = SHARED_DATA / "videos" / "kinetics-armwrestling.mp4"
COCO_GT = SHARED_DATA / "gt-dev" / "coco" / "test_coco.json"
runner = CliRunner()
AS_ROOT = os.geteuid() == 0


@contextlib.contextmanager
def _mounted(path: Path, options: str):
    """A real tmpfs at ``path`` mounted with ``options`` when this user may mount one; else skip."""
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("this user cannot mount a tmpfs (the chmod and path-under-a-file cases cover it)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture(params=["chmod", "under-a-file", "read-only-mount"])
def unwritable(request, tmp_path):
    """A folder no file can be written in (existing or not), by one of three real causes."""
    if request.param == "chmod":
        if AS_ROOT:
            pytest.skip("chmod does not stop root; the path-under-a-file case runs instead")
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
    elif request.param == "under-a-file":
        regular = tmp_path / "a-file.txt"
        regular.write_text("not a folder")
        yield regular / "out"
    else:
        with _mounted(tmp_path / "ro", "ro,size=1m") as folder:
            yield folder


@pytest.fixture()
def no_models(monkeypatch):
    """Fail the test if extraction gets as far as loading a model."""

    def refuse(*args, **kwargs):
        raise AssertionError("models were loaded before the output location was checked")

    monkeypatch.setattr(extraction_run, "load_run_experts", refuse)


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    return write_shards(tmp_path_factory.mktemp("skeletons") / "shards", [demo_clip(KINETICS, (340, 256), 4)])


@pytest.fixture(scope="module")
def proposals(tmp_path_factory) -> Path:
    """A proposals shard of two real experts' poses (the SSTA-PRS demo) on 4 frames."""
    clip = demo_clip(KINETICS, (340, 256), 4)
    folder = tmp_path_factory.mktemp("proposals")
    writer = ShardWriter(folder, ShardInfo("proposals", COCO17, ("AlphaPose", "OpenPose")))
    frames = []
    for expert, tr in zip(("AlphaPose", "OpenPose"), clip.tracks):
        for t in range(4):
            props = PoseProposals(
                tr.keypoints[t : t + 1],
                tr.joint_scores[t : t + 1],
                tr.boxes[t : t + 1],
                tr.box_scores[t : t + 1],
                COCO17,
                np.array([1], np.int32),
            )
            frames.append(ExpertFrame(clip.clip_id, clip.video_path, 340, 256, 10.0, expert, t, t, t / 10, props))
    writer.add(frames)
    writer.flush()
    return folder


def _one_line_exit_2(args: list[str], flag: str) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {flag} "), result.output
    return lines[0]


def test_extract_refuses_an_unwritable_out_before_loading_a_model(unwritable, no_models):
    line = _one_line_exit_2(["extract", str(KINETICS), "--out", str(unwritable), "--no-progress"], "--out")
    assert "writable folder" in line and str(unwritable) in line


def test_refine_aggregate_refuses_an_unwritable_out(unwritable, proposals):
    _one_line_exit_2(["refine", "aggregate", "--proposals", str(proposals), "--out", str(unwritable)], "--out")


def test_viz_refuses_an_unwritable_out_before_decoding(unwritable, shards, monkeypatch):
    monkeypatch.setattr(overlay_module, "iter_input_frames", None)  # any decoding would fail the command otherwise
    _one_line_exit_2(["viz", KINETICS.name, "--shards", str(shards), "--out", str(unwritable / "x.mp4")], "--out")


@pytest.mark.parametrize(
    "command, target",
    [(["export", "pyskl"], "x.pkl"), (["export", "ntu"], ""), (["export", "coco"], "")],
    ids=["pyskl", "ntu", "coco"],
)
def test_export_refuses_an_unwritable_out(unwritable, shards, command, target):
    out = unwritable / target if target else unwritable
    _one_line_exit_2([*command, str(shards), "--out", str(out)], "--out")


def test_build_dataset_refuses_an_unwritable_out_before_extracting(unwritable, tmp_path, no_models):
    videos = tmp_path / "videos" / "arm wrestling"
    videos.mkdir(parents=True)
    (videos / KINETICS.name).symlink_to(KINETICS)
    _one_line_exit_2(["build-dataset", "posetics", "--videos", str(videos.parent), "--out", str(unwritable)], "--out")


def test_eval_refuses_unwritable_plots_and_json_before_scoring(unwritable, shards):
    base = ["eval", "--gt", str(COCO_GT), "--shards", str(shards)]
    _one_line_exit_2([*base, "--plots", str(unwritable)], "--plots")
    _one_line_exit_2([*base, "--json", str(unwritable / "scores.json")], "--json")


def test_eval_degrade_refuses_an_unwritable_out_before_any_model(unwritable, no_models, monkeypatch):
    _one_line_exit_2(["eval", "degrade", str(KINETICS), "--out", str(unwritable)], "--out")


def test_the_checks_name_the_cause_and_make_missing_folders(tmp_path):
    regular = tmp_path / "a-file.txt"
    regular.write_text("x")
    with pytest.raises(ConfigError, match=r"^--out .*a-file.txt is a file; choose a writable folder$"):
        check_output_dir(regular)
    with pytest.raises(ConfigError, match=r"lies under the file .*a-file.txt"):
        check_output_dir(regular / "deeper" / "out")
    with pytest.raises(ConfigError, match=r"^--out .* is a folder; give a file name inside it$"):
        check_output_file(tmp_path)
    assert check_output_file(tmp_path / "new" / "folders" / "x.mp4").parent.is_dir()
    assert not list((tmp_path / "new" / "folders").iterdir())  # the write probe leaves nothing behind


def test_writes_that_fail_after_the_check_raise_one_line_and_no_second_error(unwritable):
    writer = ShardWriter(unwritable, ShardInfo("skeletons", COCO17, ("AlphaPose", "OpenPose")))
    writer.add([demo_clip(KINETICS, (340, 256), 2)])
    with pytest.raises(PosekitError, match=r"^cannot write .*skeletons-00000\.parquet: [^\n]+$"):
        writer.flush()
    with pytest.raises(PosekitError, match=r"^cannot write .*manifest\.json: [^\n]+$"):
        RunManifest(unwritable / "manifest.json", {}).save()


def test_an_overlay_whose_folder_vanishes_mid_write_fails_with_one_line(tmp_path):
    clip = demo_clip(KINETICS, (340, 256), 4)
    out = tmp_path / "viz" / "arm.mp4"
    frames = overlay_module.iter_input_frames

    def frames_then_folder_removed(path, info):
        for i, frame in enumerate(frames(path, info)):
            if i == 2:
                shutil.rmtree(out.parent)
            yield frame

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(overlay_module, "iter_input_frames", frames_then_folder_removed)
        with pytest.raises(PosekitError, match=r"^cannot write .*arm\.mp4: No such file or directory$"):
            write_overlay(clip, COCO17, out)


def test_an_overlay_on_a_full_disk_says_disk_full(tmp_path):
    with _mounted(tmp_path / "small", "size=64k") as disk:
        filler = disk / "filler.bin"
        with contextlib.suppress(OSError), open(filler, "wb", buffering=0) as fh:
            while True:
                fh.write(b"\0" * 4096)
        with pytest.raises(PosekitError, match=r"^disk full while writing .*arm\.mp4: free space"):
            write_overlay(demo_clip(KINETICS, (340, 256), 4), COCO17, disk / "arm.mp4")
        assert not list(disk.glob(".*.tmp"))
