"""Progress in a log file is plain lines (done/total, time left, rate), never a redrawn bar."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from posekit.core import progress
from tests.fake_expert import write_fake_plugin

REPO = Path(__file__).resolve().parents[1]


def test_extract_writes_progress_lines_not_bars_when_stderr_is_a_file(tmp_path):
    (tmp_path / "plugin").mkdir()
    plugin = write_fake_plugin(tmp_path / "plugin")
    root = tmp_path / "in"
    root.mkdir()
    for i in range(3):
        cv2.imwrite(str(root / f"{i}.png"), np.zeros((40, 40, 3), np.uint8))
    log = tmp_path / "job.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin), str(REPO), str(REPO / "src")])}
    command = [sys.executable, "-m", "posekit", "extract", str(root), "--out", str(tmp_path / "out")]
    with open(log, "w") as stderr:
        subprocess.run([*command, "--photos", "--experts", "fake-detector"], env=env, stderr=stderr, check=True)
    text = log.read_text()
    assert "\r" not in text and "\x1b[" not in text, repr(text)
    assert "videos: 0/3 video [" in text and "videos: 3/3 video [" in text, text


def test_a_line_is_written_every_log_every_seconds_and_at_the_end(monkeypatch, tmp_path):
    with open(tmp_path / "log", "w") as stream:
        monkeypatch.setattr(sys, "stderr", stream)
        monkeypatch.setattr(progress, "LOG_EVERY_SECONDS", 0.0)
        with progress.progress_bar(4, "clips", "clip") as bar:
            for _ in range(4):
                bar.update(1)
    lines = (tmp_path / "log").read_text().splitlines()
    assert [line.split(" [")[0] for line in lines] == [f"clips: {n}/4 clip" for n in range(5)] + ["clips: 4/4 clip"]
