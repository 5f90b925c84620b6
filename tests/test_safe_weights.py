"""Weights that cannot run code: a crafted pickle given as YOLO or UNIK weights is refused before it runs."""

from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from posekit.cli.app import app
from posekit.core.errors import ConfigError
from posekit.estimators.yolo import bundled_yolo_weights, load_yolo

runner = CliRunner()


class WritesMarker:
    """Unpickling this runs ``open(marker, "w")``: what a malicious checkpoint would do instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def crafted_checkpoint(path: Path, marker: Path, **extra) -> Path:
    torch.save({"model": WritesMarker(marker), **extra}, path)
    return path


@pytest.fixture
def image_root(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    root.mkdir()
    cv2.imwrite(str(root / "a.png"), np.zeros((32, 32, 3), np.uint8))
    return root


def test_a_crafted_yolo_checkpoint_is_refused_unrun_with_one_line(tmp_path, image_root, monkeypatch):
    monkeypatch.delenv("ULTRALYTICS_SAFE_LOAD", raising=False)
    marker = tmp_path / "marker"
    evil = crafted_checkpoint(tmp_path / "evil.pt", marker)
    args = ["extract", str(image_root), "--out", str(tmp_path / "out"), "--experts", f"yolo:{evil}", "--no-progress"]
    result = runner.invoke(app, args)
    assert not marker.exists(), "the code inside the checkpoint ran"
    assert result.exit_code == 2, result.output
    assert f"refused to load YOLO weights {evil}" in result.output and "nothing in it was run" in result.output
    assert re.search(r"it names [\w.]*open,", result.output) and "Traceback" not in result.output
    with pytest.raises(ConfigError, match="refused"):
        load_yolo(evil)
    assert not marker.exists()


def test_a_truncated_yolo_checkpoint_is_one_line_naming_it(tmp_path):
    cut = tmp_path / "cut.pt"
    cut.write_bytes(bundled_yolo_weights().read_bytes()[:10_000])
    with pytest.raises(ConfigError, match=r"cannot load YOLO weights .*cut\.pt: the file is empty, truncated"):
        load_yolo(cut)


@pytest.mark.slow
def test_the_bundled_model_loads_with_safe_loading():
    model = load_yolo(None)
    assert model.task == "pose" and os.environ["ULTRALYTICS_SAFE_LOAD"] == "1"


def test_extract_help_says_how_weights_are_loaded():
    result = runner.invoke(app, ["extract", "--help"], env={"COLUMNS": "200"})
    assert "safe loading" in result.output and "refused before it runs" in result.output


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        (["eval", "unik", "--data", "{data}", "--ckpt", "{ckpt}"], "--ckpt"),
        (["train", "unik", "--data", "{data}", "--out", "{out}", "--pretrained", "{ckpt}"], "--pretrained"),
        (["train", "unik", "--data", "{data}", "--out", "{out}", "--resume-from", "{ckpt}"], "--resume-from"),
    ],
)
def test_a_crafted_or_damaged_unik_checkpoint_is_one_line_and_never_runs(tmp_path, command, flag):
    marker = tmp_path / "marker"
    evil = crafted_checkpoint(tmp_path / "evil.pt", marker, model_args={})
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(b"PK\x03\x04 not a checkpoint")
    names = {"data": str(tmp_path / "data"), "out": str(tmp_path / "run")}
    for ckpt, expected in ((evil, r"refused, it names [\w.]*open,"), (damaged, "not a readable PyTorch checkpoint")):
        result = runner.invoke(app, [part.format(ckpt=ckpt, **names) for part in command])
        assert result.exit_code == 2, result.output
        assert re.search(f"{flag} {ckpt}: {expected}", result.output) and "Traceback" not in result.output
        assert "weights_only=False" not in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
    assert not marker.exists()


@pytest.mark.slow
def test_the_weights_file_is_read_once_when_ultralytics_loads_safely(monkeypatch):
    import ultralytics.nn.tasks as tasks
    from ultralytics.utils import SAFE_LOAD

    reads = []
    read = tasks.torch_safe_load
    monkeypatch.setattr(tasks, "torch_safe_load", lambda *a, **k: reads.append(a[0]) or read(*a, **k))
    load_yolo(None)
    assert SAFE_LOAD and len(reads) == 1, "safe loading unpickles in Python: a second read costs ~0.1 s"
