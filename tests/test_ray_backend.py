"""``--backend ray`` on a real local Ray cluster: same shards as one process, killed workers retried."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from posekit.cli.app import app
from posekit.core.errors import ConfigError
from posekit.estimators.base import EstimatorConfig
from posekit.estimators.registry import parse_experts
from posekit.io.shards import list_shards, read_skeletons
from posekit.workflows.extraction.options import ExtractOptions
from posekit.workflows.extraction.ray_backend import TRACE_ENV, RayBackend, RayOptions, import_ray
from posekit.workflows.extraction.run import run_extraction
from tests.videos import write_clip

ray = pytest.importorskip("ray")
runner = CliRunner()


@pytest.fixture(scope="module")
def trace_dir(tmp_path_factory: pytest.TempPathFactory):
    """A local 2-CPU Ray cluster, started once; its workers report the clip they are on here."""
    trace = tmp_path_factory.mktemp("ray-trace")
    os.environ[TRACE_ENV] = str(trace)  # inherited by the workers Ray starts
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield trace
    ray.shutdown()
    os.environ.pop(TRACE_ENV, None)


def manifest_entries(out: Path) -> dict[str, dict]:
    return {e["clip_id"]: e for e in json.loads((out / "manifest.json").read_text())["entries"]}


@pytest.mark.slow
def test_ray_output_equals_single_process(trace_dir, tmp_path, sample_frames):
    root = tmp_path / "in"
    root.mkdir()
    for i in range(2):
        write_clip(root / f"clip {i}.mp4", sample_frames[3 * i : 3 * i + 2])
    (root / "broken.mp4").write_bytes(b"\x00" * 4096)
    flags = ["--imgsz", "1280", "--shard-clips", "1", "--no-progress"]
    local = runner.invoke(app, ["extract", str(root), "--out", str(tmp_path / "local"), *flags])
    distributed = runner.invoke(
        app, ["extract", str(root), "--out", str(tmp_path / "ray"), "--backend", "ray", "--workers", "2", *flags]
    )
    assert local.exit_code == distributed.exit_code == 1, distributed.output  # broken.mp4 fails in both
    shards = [p.name for p in list_shards(tmp_path / "local")]
    assert (
        shards
        == [p.name for p in list_shards(tmp_path / "ray")]
        == ["skeletons-00000.parquet", "skeletons-00001.parquet"]
    )
    for name in shards:  # same rows, same values, same order: the files are byte for byte the same
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "ray" / name).read_bytes(), name
    clips = read_skeletons(tmp_path / "ray")
    assert [c.clip_id for c in clips] == ["clip 0.mp4", "clip 1.mp4"]
    assert sum(len(c.tracks) for c in clips) >= 4  # real people found, so real values are compared
    for mine, theirs in zip(read_skeletons(tmp_path / "local"), clips):
        assert [t.track_id for t in mine.tracks] == [t.track_id for t in theirs.tracks]
        for a, b in zip(mine.tracks, theirs.tracks):
            np.testing.assert_array_equal(a.keypoints, b.keypoints)
            np.testing.assert_array_equal(a.joint_scores, b.joint_scores)
    a, b = manifest_entries(tmp_path / "local"), manifest_entries(tmp_path / "ray")
    for entry in (*a.values(), *b.values()):
        entry.pop("seconds")
    assert a == b and a["broken.mp4"]["status"] == "failed"


@pytest.mark.slow
def test_a_killed_worker_is_retried_then_the_clip_is_recorded_failed_and_the_job_goes_on(
    trace_dir, tmp_path, sample_frames
):
    root = tmp_path / "in"
    root.mkdir()
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        write_clip(root / name, sample_frames[:8])
    kills: list[int] = []
    stop = threading.Event()

    def killer() -> None:
        """SIGKILL every worker process while it is on b.mp4."""
        while not stop.is_set():
            for trace in trace_dir.glob("worker-*.txt"):
                pid = int(trace.stem.split("-")[1])
                if pid in kills or trace.read_text() != "b.mp4":
                    continue
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    kills.append(pid)
            time.sleep(0.01)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    options = ExtractOptions(experts=tuple(parse_experts("yolo")), estimator=EstimatorConfig(imgsz=320), shard_clips=1)
    out = tmp_path / "out"
    try:
        summary = run_extraction(
            root, out, options, progress=False, backend=RayBackend(RayOptions(workers=1, max_retries=1))
        )
    finally:
        stop.set()
        thread.join()
    assert len(kills) == 2  # killed on its first attempt, retried once (max_retries=1), killed again
    assert (summary.done, summary.failed) == (2, 1), summary.failures
    entries = manifest_entries(out)
    assert entries["b.mp4"]["status"] == "failed" and "worker died 2 time(s)" in entries["b.mp4"]["reason"]
    assert entries["c.mp4"]["status"] == "done"  # the job went on with a restarted worker
    # A retry of the failed clip alone completes the output, each clip once.
    summary = run_extraction(root, out, options, progress=False, retry_failed=True)
    assert (summary.done, summary.skipped) == (1, 2)
    assert sorted(c.clip_id for c in read_skeletons(out)) == ["a.mp4", "b.mp4", "c.mp4"]


def test_missing_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r"pip install 'posekit\[ray\]'"):
        import_ray()


def test_ray_flags_without_the_ray_backend_are_refused(tmp_path, short_clip):
    result = runner.invoke(app, ["extract", str(short_clip), "--out", str(tmp_path), "--workers", "2"])
    assert result.exit_code == 2 and "--workers only apply with --backend ray" in result.output
