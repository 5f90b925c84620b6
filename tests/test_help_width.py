"""--help never cuts an option name at 80 columns; text in [brackets] (the Ray extra) is shown as written."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import typer.main
from typer import rich_utils
from typer.testing import CliRunner

import posekit.cli.app as app_module
from posekit.cli.app import app
from posekit.io.manifest import ManifestEntry, RunManifest

runner = CliRunner()


def _commands(command, path: list[str]):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, [*path, name])


COMMANDS = list(_commands(typer.main.get_command(app), []))


@pytest.mark.parametrize("path, command", COMMANDS, ids=[" ".join(p) or "posekit" for p, _ in COMMANDS])
def test_help_at_80_columns_shows_every_option_name_whole(path, command, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("TERMINAL_WIDTH", raising=False)
    monkeypatch.setattr(rich_utils, "MAX_WIDTH", None)
    app_module.widen_help()
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert re.findall(r"--[\w-]*…", result.output) == []
    shown = [p for p in command.params if not getattr(p, "hidden", False)]
    names = [name for p in shown for name in (*p.opts, *p.secondary_opts) if name.startswith("--")]
    for name in names:
        assert re.search(re.escape(name) + r"(?![\w-])", result.output), name


def test_the_installed_command_lays_help_out_wide_enough_at_80_columns():
    done = subprocess.run(
        [sys.executable, "-m", "posekit.cli.app", "extract", "--help"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "80", "YOLO_OFFLINE": "1"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for name in ("--min-joint-score", "--num-gpus-per-worker", "--keep-proposals", "--no-keep-proposals"):
        assert name in done.stdout, name
    assert "pip install 'posekit[ray]'" in re.sub(r"[\s│]+", " ", done.stdout)


def test_the_ray_hint_keeps_its_extra_in_the_error_line(short_clip, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # Ray not installed
    result = runner.invoke(app, ["extract", str(short_clip), "--out", str(tmp_path / "o"), "--backend", "ray"])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == "error: --backend ray needs Ray Data: pip install 'posekit[ray]'"


def test_manifest_merge_prints_reasons_with_their_brackets(tmp_path):
    part = tmp_path / "part-00000-of-00001"
    part.mkdir()
    manifest = RunManifest(part / "manifest.json", {})
    manifest.record(
        ManifestEntry("clip [1].mp4", "/videos/clip [1].mp4", "failed", reason="clip [1].mp4: no [video] stream")
    )
    manifest.save()
    result = runner.invoke(app, ["manifest", "merge", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "failed: clip [1].mp4: no [video] stream" in result.output
