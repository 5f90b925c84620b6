"""Nothing finished is lost: commits on a clock and on SIGTERM, resume checks the shards, one run per folder."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from posekit.cli.app import app
from posekit.core.errors import ConfigError
from posekit.estimators.registry import parse_experts
from posekit.io import outputs
from posekit.io.images import ImageInputOptions
from posekit.io.outputs import LOCK_NAME
from posekit.io.shards import list_shards, read_skeletons
from posekit.workflows.extraction.options import ExtractOptions
from posekit.workflows.extraction.run import LocalBackend, run_extraction
from tests.fake_expert import fake_plugin_installed

runner = CliRunner()
PHOTOS_FAKE = ["--photos", "--experts", "fake-detector", "--no-progress"]
"""Each image a clip, posed by the fake detector."""
REPO = Path(__file__).resolve().parents[1]
GATED_PLUGIN = '''
import os
from tests.fake_expert import FakeDetector


class GatedDetector(FakeDetector):
    """FakeDetector that, at its GATE_AT-th batch, says so through the FIFO GATE_READY and waits on GATE_WAIT."""

    calls = 0

    def infer_frames(self, frames):
        GatedDetector.calls += 1
        if GatedDetector.calls == int(os.environ.get("GATE_AT", "0")):
            with open(os.environ["GATE_READY"], "w") as ready:
                ready.write("ready")
            with open(os.environ["GATE_WAIT"]) as wait:
                wait.read()
        return super().infer_frames(frames)
'''


@pytest.fixture
def fake_experts(tmp_path, monkeypatch) -> Path:
    """``fake-detector`` and ``gated-detector`` installed as experts (this process and subprocesses)."""
    (tmp_path / "plugin").mkdir()
    (tmp_path / "plugin" / "gated_plugin.py").write_text(GATED_PLUGIN)
    with fake_plugin_installed(tmp_path / "plugin", monkeypatch, "gated-detector = gated_plugin:GatedDetector\n") as p:
        yield p


def image_inputs(root: Path, count: int) -> list[str]:
    """``count`` small images, each a 1-frame clip."""
    root.mkdir(parents=True, exist_ok=True)
    names = [f"img{i:02d}.png" for i in range(count)]
    for i, name in enumerate(names):
        cv2.imwrite(str(root / name), np.full((48, 64, 3), i * 10, np.uint8))
    return names


def entries(out: Path) -> dict[str, dict]:
    return {e["clip_id"]: e for e in json.loads((out / "manifest.json").read_text())["entries"]}


def done(out: Path) -> set[str]:
    return {k for k, e in entries(out).items() if e["status"] == "done"}


def assert_each_clip_once(out: Path, expected: list[str]) -> None:
    clips = [c.clip_id for c in read_skeletons(out)]
    assert sorted(clips) == sorted(expected), clips
    assert {p.name for p in list_shards(out)} == {e["shard"] for e in entries(out).values() if e["status"] == "done"}


def options(**kw) -> ExtractOptions:
    """The fake detector on images taken as photos (each image a clip)."""
    return ExtractOptions(experts=tuple(parse_experts("fake-detector")), images=ImageInputOptions(photos=True), **kw)


def wait_for_fifo(fifo: Path, process: subprocess.Popen, seconds: float = 120) -> str:
    """What a writer puts in ``fifo``; fails (instead of hanging) when ``process`` never writes it."""
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.append(fifo.read_text()), daemon=True)
    reader.start()
    reader.join(seconds)
    if not said:
        process.kill()
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # lets the reader end
        pytest.fail(f"the run never reached the gate: {process.communicate()[0].decode()}")
    return said[0]


def test_sigterm_commits_the_finished_clips_before_exit(tmp_path, fake_experts):
    names = image_inputs(tmp_path / "in", 6)
    out = tmp_path / "out"
    ready, wait = tmp_path / "ready", tmp_path / "wait"
    os.mkfifo(ready)
    os.mkfifo(wait)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(fake_experts), str(REPO), str(REPO / "src")]),
        "GATE_AT": "4",
        "GATE_READY": str(ready),
        "GATE_WAIT": str(wait),
    }
    command = [sys.executable, "-m", "posekit", "extract", str(tmp_path / "in"), "--out", str(out)]
    command += ["--photos", "--experts", "gated-detector", "--threads", "1", "--no-progress"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert wait_for_fifo(ready, process) == "ready"  # the 4th clip is being detected
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0].decode()
    finally:
        process.kill()
    assert process.returncode == 128 + signal.SIGTERM, output
    assert "SIGTERM: finished clips are saved" in output and "Traceback" not in output, output
    assert done(out) == set(names[:3])  # the 3 finished clips, committed although --shard-clips is 64
    assert_each_clip_once(out, names[:3])
    rerun = runner.invoke(app, command[3:])  # the same command, without the gate
    assert rerun.exit_code == 0, rerun.output
    assert "skipping 3 video(s) already done" in rerun.output
    assert_each_clip_once(out, names)


class Interrupted(LocalBackend):
    """The local backend, interrupted (as by Ctrl-C) when it would start the clip ``at``."""

    def __init__(self, at: int) -> None:
        self.at = at

    def outcomes(self, videos, options, progress):
        for k, outcome in enumerate(super().outcomes(videos, options, progress)):
            if k == self.at:
                raise KeyboardInterrupt
            yield outcome


def test_finished_clips_are_committed_every_commit_seconds_and_the_shards_do_not_depend_on_it(
    tmp_path, fake_experts, monkeypatch
):
    names = image_inputs(tmp_path / "in", 7)
    reference = run_extraction(tmp_path / "in", tmp_path / "ref", options(shard_clips=3), progress=False)
    assert reference.done == 7
    commits = []
    monkeypatch.setattr("posekit.io.sink.RunManifest.save", _counting(commits))
    run_extraction(tmp_path / "in", tmp_path / "out", options(shard_clips=3, commit_seconds=1e-9), progress=False)
    assert len(commits) >= 7  # each clip committed when it finished (at least every 1e-9 s)
    for ref, ours in zip(list_shards(tmp_path / "ref"), list_shards(tmp_path / "out"), strict=True):
        assert ref.name == ours.name and pq.read_table(ref).equals(pq.read_table(ours))
    assert [p.name for p in list_shards(tmp_path / "out")] == [f"skeletons-0000{i}.parquet" for i in range(3)]
    assert_each_clip_once(tmp_path / "out", names)


def _counting(calls: list):
    from posekit.io.manifest import RunManifest

    real = RunManifest.save

    def save(self):
        calls.append(len(self.with_status("done")))
        real(self)

    return save


def test_an_interrupted_run_keeps_each_clip_finished_since_the_last_clock_commit(tmp_path, fake_experts):
    names = image_inputs(tmp_path / "in", 6)
    out = tmp_path / "out"
    opts = options(shard_clips=4, commit_seconds=1e-9)
    with pytest.raises(KeyboardInterrupt):
        run_extraction(tmp_path / "in", out, opts, progress=False, backend=Interrupted(at=5))
    assert done(out) == set(names[:5])
    run_extraction(tmp_path / "in", out, opts, progress=False)
    assert_each_clip_once(out, names)


def test_resume_redoes_the_clips_of_a_truncated_or_deleted_shard(tmp_path, fake_experts, caplog):
    names = image_inputs(tmp_path / "in", 6)
    out = tmp_path / "out"
    run_extraction(tmp_path / "in", out, options(shard_clips=2), progress=False)
    first, second, _ = list_shards(out)
    first.write_bytes(first.read_bytes()[:-100])
    second.unlink()
    summary = run_extraction(tmp_path / "in", out, options(shard_clips=2), progress=False)
    assert (summary.done, summary.skipped) == (4, 2)
    assert f"{first} cannot be read: its 2 clip(s) will be redone" in caplog.text
    assert f"{second} is missing: its 2 clip(s) will be redone" in caplog.text
    assert_each_clip_once(out, names)


def test_a_shard_holding_clips_its_manifest_does_not_name_is_cut_back_to_them(tmp_path, fake_experts):
    """A commit cut between replacing the shard being filled and saving the manifest."""
    names = image_inputs(tmp_path / "in", 4)
    out = tmp_path / "out"
    run_extraction(tmp_path / "in", out, options(), progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["entries"] = [e for e in manifest["entries"] if e["clip_id"] != names[-1]]
    (out / "manifest.json").write_text(json.dumps(manifest))
    summary = run_extraction(tmp_path / "in", out, options(), progress=False)
    assert (summary.done, summary.skipped) == (1, 3)
    assert_each_clip_once(out, names)


def test_a_missing_or_damaged_manifest_never_deletes_finished_shards(tmp_path, fake_experts):
    image_inputs(tmp_path / "in", 3)
    out = tmp_path / "out"
    args = [
        "extract",
        str(tmp_path / "in"),
        "--out",
        str(out),
        "--photos",
        "--experts",
        "fake-detector",
        "--no-progress",
    ]
    assert runner.invoke(app, args).exit_code == 0
    shards = {p: p.read_bytes() for p in list_shards(out)}
    for damage in ("[]", '{"entries": [{"clip": 1}]}', None):
        if damage is None:
            (out / "manifest.json").unlink()
        else:
            (out / "manifest.json").write_text(damage)
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
        assert "kept" in result.output and "--overwrite" in result.output
        assert {p: p.read_bytes() for p in list_shards(out)} == shards


class Held(LocalBackend):
    """The local backend that stops before its first clip until ``go`` is set, saying ``started`` first."""

    def __init__(self) -> None:
        self.started, self.go = threading.Event(), threading.Event()

    def outcomes(self, videos, options, progress):
        self.started.set()
        assert self.go.wait(60)
        yield from super().outcomes(videos, options, progress)


def test_a_second_run_into_a_folder_in_use_is_refused_and_nothing_is_lost(tmp_path, fake_experts):
    first = image_inputs(tmp_path / "a", 3)
    second = [f"b-{name}" for name in image_inputs(tmp_path / "b", 2)]
    for name in second:
        (tmp_path / "b" / name.removeprefix("b-")).rename(tmp_path / "b" / name)
    out = tmp_path / "out"
    held = Held()
    results: dict = {}
    worker = threading.Thread(
        target=lambda: results.update(a=run_extraction(tmp_path / "a", out, options(), progress=False, backend=held))
    )
    worker.start()
    try:
        assert held.started.wait(60)
        with pytest.raises(
            ConfigError, match=rf"--out {out} is in use by another posekit run \(host .* pid {os.getpid()}"
        ):
            run_extraction(tmp_path / "b", out, options(), progress=False)
        with pytest.raises(ConfigError, match="in use"):
            run_extraction(tmp_path / "a", out, options(), progress=False)  # the same command twice
    finally:
        held.go.set()
        worker.join(60)
    assert results["a"].done == 3
    assert run_extraction(tmp_path / "b", out, options(), progress=False).done == 2
    assert_each_clip_once(out, first + second)


def test_the_lock_of_a_run_that_died_is_taken_over_with_one_line(tmp_path, fake_experts, caplog):
    image_inputs(tmp_path / "in", 1)
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_NAME).write_text(json.dumps({"host": "node7", "pid": 4242, "started": "2026-01-01T00:00:00+00:00"}))
    assert run_extraction(tmp_path / "in", out, options(), progress=False).done == 1
    assert "taking over" in caplog.text and "host node7 pid 4242" in caplog.text


def test_a_run_on_a_merged_folder_finds_every_part_shard_and_redoes_nothing(tmp_path, fake_experts):
    names = image_inputs(tmp_path / "in", 4)
    out = tmp_path / "out"
    for index in range(2):
        args = ["extract", str(tmp_path / "in"), "--out", str(out), *PHOTOS_FAKE, "--keep-proposals"]
        assert runner.invoke(app, [*args, "--shard-index", str(index), "--num-shards", "2"]).exit_code == 0
    assert runner.invoke(app, ["manifest", "merge", str(out)]).exit_code == 0
    rerun = runner.invoke(app, ["extract", str(tmp_path / "in"), "--out", str(out), *PHOTOS_FAKE, "--keep-proposals"])
    assert rerun.exit_code == 0 and "skipping 4 video(s) already done" in rerun.output, rerun.output
    assert "will be redone" not in rerun.output
    assert sorted(c.clip_id for c in read_skeletons(out)) == sorted(names)


def test_a_folder_that_cannot_be_locked_is_written_with_one_warning(tmp_path, fake_experts, monkeypatch, caplog):
    """Some network file systems refuse locks (ENOLCK): the run goes on and says so."""
    names = image_inputs(tmp_path / "in", 2)

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(outputs.fcntl, "flock", no_locks)
    assert run_extraction(tmp_path / "in", tmp_path / "out", options(), progress=False).done == 2
    assert "cannot lock" in caplog.text and "make sure no other run writes into this folder" in caplog.text
    assert_each_clip_once(tmp_path / "out", names)


def test_re_aggregation_into_a_folder_in_use_is_refused_too(tmp_path, fake_experts):
    image_inputs(tmp_path / "in", 2)
    run_extraction(tmp_path / "in", tmp_path / "out", options(keep_proposals=True), progress=False)
    args = ["refine", "aggregate", "--proposals", str(tmp_path / "out" / "proposals"), "--out", str(tmp_path / "re")]
    (tmp_path / "re").mkdir()
    with outputs.OutputLock(tmp_path / "re"):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "is in use by another posekit run" in result.output, result.output
    assert runner.invoke(app, args).exit_code == 0
    assert len(read_skeletons(tmp_path / "re")) == 2
