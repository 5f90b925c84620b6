"""Flags generated from the options dataclasses: defaults and help shown, bounds and choices refused."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import pytest
import typer
from typer.testing import CliRunner

from posekit.cli.app import app
from posekit.cli.options import Group, flags_of, with_options
from posekit.core.errors import ConfigError
from posekit.core.options import check_bounds
from posekit.estimators.base import EstimatorConfig
from posekit.estimators.registry import parse_experts
from posekit.refine.tracking import TrackerConfig
from posekit.refine.tracks import AggregationOptions
from posekit.skeleton.features import STREAMS
from posekit.workflows.extraction.options import ExtractOptions
from posekit.workflows.selftrain.options import SelfTrainOptions
from posekit.workflows.unik.config import Stream, TrainConfig

WIDE = {"COLUMNS": "400", "TERMINAL_WIDTH": "400"}


@dataclass(frozen=True)
class Schedule:
    """A small options group in the convention, as a command would declare it."""

    lr0: float = field(default=0.002, metadata={"help": "Learning rate.", "min": 0, "min_open": True})
    steps: tuple[int, ...] = field(default=(45, 55), metadata={"help": "Decay epochs.", "min": 0})
    mode: Literal["thesis", "robust"] = field(default="thesis", metadata={"help": "Which equations."})
    drift: float | None = field(default=0.5, metadata={"help": "Re-anchor distance (none: off).", "min": 0})
    amp: bool = field(default=True, metadata={"help": "Mixed precision."})
    note: str = field(default="", metadata={"cli": False})

    def __post_init__(self) -> None:
        check_bounds(self)


def _app(group: type | Group, seen: list[Any]) -> typer.Typer:
    test_app = typer.Typer()

    @test_app.command()
    @with_options(options=group)
    def run(options: Any, name: str = "x") -> None:
        seen.append((options, name))

    @test_app.command()
    def other() -> None:
        """A second command, so that ``run`` is a subcommand as in posekit."""

    return test_app


def _help(args: list[str], target: typer.Typer = app) -> str:
    result = CliRunner().invoke(target, [*args, "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    return re.sub(r"[\s│]+", " ", result.output)


def test_generated_flags_carry_default_help_and_bound():
    text = _help(["run"], _app(Schedule, []))
    assert "--lr0" in text and "Learning rate. (must be > 0)" in text and "[default: 0.002]" in text
    assert "--steps" in text and "[default: 45,55]" in text
    assert "--amp --no-amp" in text and "--note" not in text


def test_flags_come_back_as_the_instance_with_tuples_choices_and_none():
    seen: list[Any] = []
    result = CliRunner().invoke(
        _app(Schedule, seen), ["run", "--steps", "3,7", "--mode", "robust", "--drift", "none", "--no-amp"]
    )
    assert result.exit_code == 0, result.output
    assert seen == [(Schedule(steps=(3, 7), mode="robust", drift=None, amp=False), "x")]


def test_bounds_are_refused_with_one_line_naming_the_flag_and_the_bound():
    with pytest.raises(ConfigError, match=r"^--lr0 must be > 0 \(got 0\)$"):
        Schedule(lr0=0)
    for args, line in (
        (["train", "unik", "--data", "d", "--lr", "0"], "error: --lr must be > 0 (got 0.0)"),
        (["refine", "self-train", "--shards", "s", "--out", "o", "--lr0", "0"], "error: --lr0 must be > 0 (got 0.0)"),
        (["refine", "self-train", "--shards", "s", "--out", "o", "--gamma", "1.5"], "error: --gamma must be >= 0"),
        (["train", "unik", "--data", "d", "--lr-steps", "4,x"], "error: --lr-steps must be comma-separated integers"),
    ):
        result = CliRunner().invoke(app, args, env=WIDE)
        assert result.exit_code == 2, result.output
        assert result.output.strip().startswith(line) and len(result.output.strip().splitlines()) == 1


def test_literal_choices_become_choices():
    assert get_args(Stream) == STREAMS
    assert "<joint|bone|joint_motion|bone_motion>" in _help(["train", "unik"])
    result = CliRunner().invoke(app, ["train", "unik", "--data", "d", "--stream", "skeleton"], env=WIDE)
    assert result.exit_code == 2
    expected = "error: --stream must be one of joint, bone, joint_motion, bone_motion; got 'skeleton'"
    assert result.output.strip() == expected


def test_given_mode_passes_only_the_flags_on_the_command_line():
    seen: list[Any] = []
    result = CliRunner().invoke(_app(Group(Schedule, mode="given"), seen), ["run", "--lr0", "0.5", "--steps", "3"])
    assert result.exit_code == 0, result.output
    assert seen == [({"lr0": 0.5, "steps": (3,)}, "x")]


def test_a_flag_shared_by_nested_groups_sets_both():
    seen: list[Any] = []
    result = CliRunner().invoke(_app(SelfTrainOptions, seen), ["run", "--seed", "7", "--gamma", "0.3"])
    assert result.exit_code == 0, result.output
    options = seen[0][0]
    assert (options.seed, options.labels.seed, options.labels.gamma) == (7, 7, 0.3)
    assert [f.param for f in flags_of(Group(SelfTrainOptions))].count("seed") == 1


def _default_texts(group: Group) -> list[tuple[str, str]]:
    out = []
    for flag in flags_of(group):
        default = flag.parameter.default
        option = flag.parameter.annotation.__metadata__[0]
        if default in (None, "") or option.hidden:
            continue
        declared = next(d for d in (option.default, *option.param_decls) if isinstance(d, str) and d.startswith("--"))
        name = declared.split("/")[0].removeprefix("--")
        if isinstance(default, bool):
            text = name if default else "no-" + name
        else:
            text = str(getattr(default, "value", default))
        out.append((name, f"[default: {text}]"))
    return out


@pytest.mark.parametrize(
    ("command", "groups"),
    [
        (["train", "unik"], [Group(TrainConfig)]),
        (["refine", "self-train"], [Group(SelfTrainOptions)]),
        (["refine"], [Group(SelfTrainOptions)]),
        (["refine", "aggregate"], [Group(AggregationOptions), Group(ExtractOptions, only=("min_joint_score",))]),
        (["extract"], [Group(AggregationOptions), Group(ExtractOptions, exclude=("estimator", "aggregation"))]),
    ],
)
def test_every_generated_command_help_shows_the_defaults(command: list[str], groups: list[Group]):
    text = _help(command)
    for group in groups:
        for param, default in _default_texts(group):
            flag = "--" + param.replace("_", "-")
            row = re.search(re.escape(flag) + r"( --no-\S+)? <", text)
            assert row is not None, flag
            shown = re.search(r"\[default: [^\]]*\]", text[row.start() :])
            assert shown is not None and shown.group() == default, (flag, default)


def test_extract_settings_keep_todays_keys_and_record_every_new_field():
    options = ExtractOptions(experts=tuple(parse_experts("yolo,yolo-topdown")), max_frames=4)
    settings = options.settings()
    todays = {"experts", "layout", "fps", "max_frames", "min_joint_score", "imgsz", "min_box_score", "crop_scale",
              "crop_size", "keep_proposals", "tracker", "aggregation"}  # fmt: skip
    assert todays <= set(settings)
    fields = {f.name for cls in (ExtractOptions, EstimatorConfig) for f in dataclasses.fields(cls)}
    assert set(settings) - todays <= fields
    assert settings["aggregation"] == options.aggregation.settings()
    assert settings["tracker"] == dataclasses.asdict(TrackerConfig())
    assert ExtractOptions(experts=options.experts[:1]).settings()["aggregation"] is None

    @dataclass(frozen=True)
    class NewEstimatorConfig(EstimatorConfig):
        flip_test: bool = False

    @dataclass(frozen=True)
    class NewTrackerConfig(TrackerConfig):
        second_pass: bool = False

    grown = dataclasses.replace(options, estimator=NewEstimatorConfig(flip_test=True), tracker=NewTrackerConfig())
    assert grown.settings()["flip_test"] is True and grown.settings()["tracker"]["second_pass"] is False
    assert grown.settings() != settings
    assert "device" not in grown.settings() and "batch_size" not in settings
