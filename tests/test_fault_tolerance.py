"""Faults for real: a run SIGKILLed and restarted, a full disk, the same input listed twice.

Afterwards every clip is present exactly once and every shard reads cleanly.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from posekit.cli.app import app
from posekit.io import shards as shards_module
from posekit.io.shards import list_shards, read_skeletons
from tests.videos import write_clip

runner = CliRunner()
FAST = ["--imgsz", "320", "--shard-clips", "1", "--no-progress"]


def entries(out: Path) -> dict[str, dict]:
    return {e["clip_id"]: e for e in json.loads((out / "manifest.json").read_text())["entries"]}


def assert_each_clip_once(out: Path, expected: list[str]) -> None:
    """Every clip exactly once, every shard readable and named by the manifest, nothing left over."""
    clips = [c.clip_id for c in read_skeletons(out)]
    assert sorted(clips) == sorted(expected), clips
    done = {e["shard"] for e in entries(out).values() if e["status"] == "done"}
    assert {p.name for p in list_shards(out)} == done
    assert not list(out.glob(".*tmp*"))


@pytest.mark.slow
def test_a_run_killed_mid_way_resumes_with_every_clip_once(tmp_path, sample_frames):
    root = tmp_path / "in"
    root.mkdir()
    names = [f"clip{i}.mp4" for i in range(5)]
    for name in names:
        write_clip(root / name, sample_frames[:4])
    out = tmp_path / "out"
    command = [sys.executable, "-m", "posekit", "extract", str(root), "--out", str(out), *FAST]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
                if sum(e["status"] == "done" for e in entries(out).values()) >= 2:
                    break
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    done_before = {k for k, e in entries(out).items() if e["status"] == "done"}
    assert 2 <= len(done_before) < len(names)
    rerun = runner.invoke(app, command[3:])  # the same command again (in this process: faster)
    assert rerun.exit_code == 0, rerun.output
    assert all(e["status"] == "done" for e in entries(out).values())
    assert_each_clip_once(out, names)


@contextlib.contextmanager
def small_disk(path: Path):
    """A real 2 MB tmpfs at ``path`` when this user may mount one (root); else None."""
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(path)], capture_output=True)
    try:
        yield mounted.returncode == 0
    finally:
        if mounted.returncode == 0:
            subprocess.run(["umount", "-l", str(path)], check=False)


def fill(folder: Path) -> Path:
    """Write a file until the disk is full."""
    filler = folder / "filler.bin"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


@pytest.mark.slow
def test_a_full_disk_stops_the_run_with_one_message_and_the_rerun_completes(tmp_path, sample_frames, monkeypatch):
    root = tmp_path / "in"
    root.mkdir()
    for name in ("a.mp4", "b.mp4"):
        write_clip(root / name, sample_frames[:1])
    with small_disk(tmp_path / "disk") as real:
        out = tmp_path / "disk" / "out"
        args = ["extract", str(root), "--out", str(out), *FAST]
        assert runner.invoke(app, args).exit_code == 0
        before = {p.name: p.read_bytes() for p in list_shards(out)}
        for name in ("c.mp4", "d.mp4"):
            write_clip(root / name, sample_frames[:1])
        if real:
            filler = fill(tmp_path / "disk")
        else:  # no tmpfs for this user: the same error, injected where the shard is written
            real_write = shards_module.pq.write_table

            def no_space(*args, **kwargs):
                raise OSError(errno.ENOSPC, "No space left on device")

            monkeypatch.setattr(shards_module.pq, "write_table", no_space)
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "disk full while writing" in result.output and "rerun resumes" in result.output
        assert result.output.count("disk full") == 1 and "Traceback" not in result.output, result.output
        assert {p.name: p.read_bytes() for p in list_shards(out)} == before  # earlier shards intact
        assert_each_clip_once(out, ["a.mp4", "b.mp4"])
        if real:
            filler.unlink()
        else:
            monkeypatch.setattr(shards_module.pq, "write_table", real_write)
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert_each_clip_once(out, ["a.mp4", "b.mp4", "c.mp4", "d.mp4"])


@pytest.mark.slow
def test_the_same_input_listed_twice_is_extracted_once(tmp_path, sample_frames):
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    write_clip(root / "a.mp4", sample_frames[:1])
    write_clip(root / "sub" / "b.mp4", sample_frames[1:2])
    os.symlink(root / "a.mp4", root / "sub" / "link to a.mp4")
    listing = root / "videos.txt"
    listing.write_text("a.mp4\nsub/b.mp4\n\n# the same files again, under other names\na.mp4\n./a.mp4\n")
    listing.write_text(listing.read_text() + f"sub/../sub/b.mp4\nsub/link to a.mp4\n{root / 'a.mp4'}\n")
    for source, out in [(root, tmp_path / "from-folder"), (listing, tmp_path / "from-list")]:
        result = runner.invoke(app, ["extract", str(source), "--out", str(out), *FAST])
        assert result.exit_code == 0, result.output
        assert_each_clip_once(out, ["a.mp4", "sub/b.mp4"])
        link = entries(out)["sub/link to a.mp4"]
        assert link["status"] == "skipped" and "same file as clip 'a.mp4'" in link["reason"]
    # Split into parts, the link and its target may fall in different parts: still extracted once.
    out = tmp_path / "parts"
    for index in range(3):
        args = ["extract", str(root), "--out", str(out), "--shard-index", str(index), "--num-shards", "3"]
        assert runner.invoke(app, [*args, *FAST]).exit_code == 0
    assert sorted(c.clip_id for c in read_skeletons(out)) == ["a.mp4", "sub/b.mp4"]


@pytest.mark.slow
def test_retry_failed_redoes_only_the_failed_clips(tmp_path, sample_frames):
    root = tmp_path / "in"
    root.mkdir()
    write_clip(root / "good.mp4", sample_frames[:1])
    (root / "bad.mp4").write_text("not a video yet")
    out = tmp_path / "out"
    assert runner.invoke(app, ["extract", str(root), "--out", str(out), *FAST]).exit_code == 1
    shard = (out / "skeletons-00000.parquet").read_bytes()
    write_clip(root / "bad.mp4", sample_frames[:1])  # fixed
    write_clip(root / "new.mp4", sample_frames[:1])  # never tried: left for a plain run
    result = runner.invoke(app, ["extract", str(root), "--out", str(out), "--retry-failed", *FAST])
    assert result.exit_code == 0, result.output
    status = {k: e["status"] for k, e in entries(out).items()}
    assert status == {"bad.mp4": "done", "good.mp4": "done"}
    assert (out / "skeletons-00000.parquet").read_bytes() == shard
    result = runner.invoke(app, ["extract", str(root), "--out", str(tmp_path / "new"), "--retry-failed", *FAST])
    assert result.exit_code == 2 and "run without --retry-failed first" in result.output
