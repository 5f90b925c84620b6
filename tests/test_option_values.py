"""One conversion of option values: a flag's text and a config file's value become the same typed value, and a
bad one is refused in one line naming the flag or the key, the value and the type."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from typer.testing import CliRunner

from posekit.cli.app import app
from posekit.core.errors import ConfigError
from posekit.core.options import coerce, field_types
from posekit.workflows.unik.config import TrainConfig, resolve_config

WIDE = {"COLUMNS": "200"}
BAD = [
    ("epochs", "ten", "an integer"),
    ("lr", "fast", "a number"),
    ("lr_steps", "4,x", "comma-separated integers like 45,55"),
    ("pad", "mirror", "one of loop, zero"),
    ("frames", "many", "an integer"),
]


def _field(name: str) -> tuple[dataclasses.Field, object]:
    (field,) = [f for f in dataclasses.fields(TrainConfig) if f.name == name]
    return field, field_types(TrainConfig)[name]


@pytest.mark.parametrize(("key", "value", "expected"), BAD)
def test_a_bad_value_reads_the_same_from_a_flag_and_from_a_config_file(tmp_path, key, value, expected):
    config = tmp_path / "run.yaml"
    config.write_text(f"data: d/\n{key}: {value}\n")
    flag = "--" + key.replace("_", "-")
    from_flag = CliRunner().invoke(app, ["train", "unik", "--data", "d/", flag, value], env=WIDE)
    from_file = CliRunner().invoke(app, ["train", "unik", "--config", str(config)], env=WIDE)
    for result, name in ((from_flag, flag), (from_file, f"{key} in {config}")):
        assert result.exit_code == 2, result.output
        assert result.output.strip() == f"error: {name} must be {expected}; got '{value}'"


def test_a_switch_in_a_config_file_takes_true_or_false(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("data: d/\nnesterov: maybe\n")
    with pytest.raises(ConfigError, match=rf"^nesterov in {config} must be true or false; got 'maybe'$"):
        resolve_config({}, config)


def test_valid_values_read_the_same_from_flags_and_from_yaml_and_toml_files(tmp_path):
    (tmp_path / "run.yaml").write_text(
        "data: d/\nlr: 1e-4\nlr-steps: [5, 7]\nnesterov: no\nepochs: 12.0\nframes: none\npad: zero\n"
    )
    (tmp_path / "run.toml").write_text(
        'data = "d/"\nlr = 0.0001\nlr_steps = "5,7"\nnesterov = false\nepochs = 12\npad = "zero"\n'
    )
    flags = {"data": "d/", "lr": "1e-4", "lr_steps": "5, 7", "nesterov": "false", "epochs": "12", "pad": "zero"}
    from_yaml, from_toml = resolve_config({}, tmp_path / "run.yaml"), resolve_config({}, tmp_path / "run.toml")
    assert from_yaml == from_toml == resolve_config(flags)
    assert (from_yaml.lr, from_yaml.lr_steps, from_yaml.nesterov, from_yaml.epochs) == (1e-4, (5, 7), False, 12)
    assert from_yaml.frames is None and isinstance(from_yaml.epochs, int)


@pytest.mark.parametrize(
    ("name", "value", "typed"),
    [
        ("lr_steps", 30, (30,)),
        ("lr_steps", ["30", 40], (30, 40)),
        ("strides", "none", None),
        ("frames", "300", 300),
        ("amp", "on", True),
        ("amp", 0, False),
        ("momentum", 1, 1.0),
        ("data", Path("d"), "d"),
    ],
)
def test_coerce_accepts_what_flags_and_files_give(name, value, typed):
    field, annotation = _field(name)
    assert coerce(field, annotation, value, name) == typed


@pytest.mark.parametrize(("name", "value"), [("epochs", 2.5), ("epochs", True), ("lr", [1]), ("data", [1, 2])])
def test_coerce_refuses_values_that_would_change_silently(name, value):
    field, annotation = _field(name)
    with pytest.raises(ConfigError, match=rf"^{name} must be .*; got "):
        coerce(field, annotation, value, name)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["extract", "v.mp4", "--out", "o", "--imgsz", "big"], "error: --imgsz must be an integer; got 'big'"),
        (["extract", "v.mp4", "--out", "o", "--mode", "best"], "error: --mode must be one of thesis, robust, fused"),
        (["refine", "self-train", "--lr0", "x"], "error: --lr0 must be a number; got 'x'"),
    ],
)
def test_every_generated_flag_refuses_a_bad_value_in_one_line(args, line):
    result = CliRunner().invoke(app, args, env=WIDE)
    assert result.exit_code == 2 and result.output.strip().startswith(line), result.output
    assert len(result.output.strip().splitlines()) == 1
