"""The bundled UNIK trainer: learning, resume, fine-tuning, DDP, configs, eval/predict/fusion."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from posekit.cli.train import train_app, unik_eval, unik_predict
from posekit.core.errors import ConfigError
from posekit.io.samples import LabelMap
from posekit.testing.synthetic import write_synthetic_dataset
from posekit.workflows.unik.config import PRESETS, TrainConfig, resolve_config
from posekit.workflows.unik.evaluate import evaluate_checkpoint, fuse_score_files, load_checkpoint, load_scores
from posekit.workflows.unik.train import lr_at, train

ACTIONS = ("waving", "clapping", "squatting", "jumping", "walking")
TINY = {"channels": "8,16", "window": 24, "batch_size": 16, "workers": 0, "log_every": 0, "lr_steps": "9"}


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models gain little from a second thread and suffer when the CPUs are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 actions, 40 training and 12 validation clips each, 40-64 frames, as COCO-17 shards."""
    out = tmp_path_factory.mktemp("synthetic")
    write_synthetic_dataset(out, {"train": 40, "val": 12}, actions=ACTIONS, frames=(40, 64), seed=0)
    return out


def _run(data: Path, out: Path, **options: Any) -> dict[str, Any]:
    return train(resolve_config({"data": str(data), "out": str(out), **options}))


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "metrics.csv") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_unik_learns_the_synthetic_actions_well_above_chance(synthetic: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = _run(
        synthetic, out, channels="16,32,32", window=40, batch_size=16, epochs=12, lr_steps="9",
        center=True, workers=0, log_every=0,
    )  # fmt: skip
    curve = [(int(r["epoch"]), float(r["train_top1"]), float(r["val_top1"])) for r in _rows(out)]
    print("epoch, train top-1, val top-1:", curve)
    assert len(curve) == 12
    assert 1 / len(ACTIONS) == 0.2
    assert curve[-1][2] >= 0.7
    assert curve[-1][2] > curve[0][2]
    summary = json.loads((out / "metrics.json").read_text())
    assert set(summary["last_eval"]["per_class"]) == set(ACTIONS)
    assert np.asarray(summary["last_eval"]["confusion"]).sum() == 12 * len(ACTIONS)
    assert summary["last_eval"]["top5"] == 1.0
    assert result["last_eval"]["top1"] == pytest.approx(curve[-1][2])
    for name in ("last.pt", "best.pt", "confusion.png", "val_scores.npz", "config.yaml"):
        assert (out / name).is_file(), name
    ckpt = torch.load(out / "best.pt", map_location="cpu", weights_only=True)
    assert ckpt["classes"] == list(ACTIONS) and ckpt["epoch"] >= 1


@pytest.mark.slow
def test_resume_after_a_kill_mid_epoch_ends_like_an_uninterrupted_run(synthetic: Path, tmp_path: Path) -> None:
    whole = _run(synthetic, tmp_path / "whole", epochs=3, **TINY)
    steps_per_epoch = -(-200 // TINY["batch_size"])
    killed = _run(synthetic, tmp_path / "resumed", epochs=3, stop_after_steps=steps_per_epoch + 5, **TINY)
    assert killed == {}
    saved = torch.load(tmp_path / "resumed" / "last.pt", map_location="cpu", weights_only=True)
    assert saved["epoch"] == 1 and saved["step"] == steps_per_epoch
    with pytest.raises(ConfigError, match="--resume"):
        _run(synthetic, tmp_path / "resumed", epochs=3, **TINY)
    resumed = _run(synthetic, tmp_path / "resumed", epochs=3, resume=True, **TINY)
    timing = ("time_s", "train_samples_per_s")
    strip = lambda h: [{k: v for k, v in row.items() if k not in timing} for row in h]  # noqa: E731
    assert strip(resumed["history"]) == strip(whole["history"])
    assert resumed["last_eval"]["top1"] == whole["last_eval"]["top1"]
    a = torch.load(tmp_path / "whole" / "last.pt", map_location="cpu", weights_only=True)["model"]
    b = torch.load(tmp_path / "resumed" / "last.pt", map_location="cpu", weights_only=True)["model"]
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0, msg=name)


def test_pretrained_backbone_gets_a_new_classifier_and_linear_probe_freezes_it(synthetic: Path, tmp_path: Path) -> None:
    _run(synthetic, tmp_path / "pre", epochs=1, **TINY)
    pre = torch.load(tmp_path / "pre" / "last.pt", map_location="cpu", weights_only=True)["model"]
    three = LabelMap(("waving", "jumping", "walking"))
    full = LabelMap.load(synthetic / "labels.json")
    LabelMap(three.classes, {c: n for c, n in full.clips.items() if n in three.classes}).save(tmp_path / "three.json")
    common = {"labels": str(tmp_path / "three.json"), "pretrained": str(tmp_path / "pre" / "last.pt"), "epochs": 1}

    _run(synthetic, tmp_path / "probe", linear_probe=True, **common, **TINY)
    probe = torch.load(tmp_path / "probe" / "last.pt", map_location="cpu", weights_only=True)
    assert probe["model"]["fc.weight"].shape == (3, 16)
    assert probe["classes"] == list(three.classes)
    for name, value in pre.items():
        if not name.startswith("fc."):
            torch.testing.assert_close(probe["model"][name], value, rtol=0, atol=0, msg=name)

    _run(synthetic, tmp_path / "tuned", **common, **TINY)
    tuned = torch.load(tmp_path / "tuned" / "last.pt", map_location="cpu", weights_only=True)["model"]
    assert tuned["fc.weight"].shape == (3, 16)
    assert not torch.equal(tuned["blocks.1.tlsu.conv.weight"], pre["blocks.1.tlsu.conv.weight"])

    with pytest.raises(ConfigError, match="does not fit"):
        _run(synthetic, tmp_path / "bad", **{**TINY, **common, "channels": "8,32"})


def test_config_files_mirror_the_flags_and_flags_win(tmp_path: Path) -> None:
    (tmp_path / "run.yaml").write_text("data: d/\npreset: penn\nlr-steps: [5, 7]\nbatch_size: 4\nstream: bone\n")
    (tmp_path / "run.toml").write_text(
        'data = "d/"\npreset = "penn"\nlr_steps = [5, 7]\nbatch-size = 4\nstream = "bone"\n'
    )
    from_yaml = resolve_config({"epochs": None}, tmp_path / "run.yaml")
    from_toml = resolve_config({}, tmp_path / "run.toml")
    from_flags = resolve_config({"data": "d/", "preset": "penn", "lr_steps": "5,7", "batch_size": 4, "stream": "bone"})
    assert from_yaml == from_toml == from_flags
    assert from_yaml.epochs == PRESETS["penn"]["epochs"] == 30
    assert from_yaml.lr_steps == (5, 7) and from_yaml.window == 150
    assert resolve_config({"batch_size": 9}, tmp_path / "run.yaml").batch_size == 9
    defaults = resolve_config({"data": "d/"})
    assert (defaults.lr, defaults.momentum, defaults.nesterov, defaults.weight_decay) == (0.1, 0.9, True, 1e-4)
    assert (defaults.epochs, defaults.lr_steps, defaults.window) == (65, (45, 55), 150)
    with pytest.raises(ConfigError, match="unknown training options"):
        resolve_config({"data": "d/", "learning_rate": 0.1})
    with pytest.raises(ConfigError, match=r"^--preset must be one of posetics, .*; got .kinetics.$"):
        resolve_config({"data": "d/", "preset": "kinetics"})
    with pytest.raises(ConfigError, match="no training data"):
        resolve_config({})


def test_learning_rate_warms_up_then_decays_tenfold_at_each_step() -> None:
    cfg = TrainConfig(data="d", lr=0.1, lr_steps=(30, 40), warmup_epochs=2)
    assert lr_at(cfg, 0.0) == pytest.approx(0.0, abs=1e-8)
    assert lr_at(cfg, 1.0) == pytest.approx(0.05)
    assert lr_at(cfg, 2.0) == pytest.approx(0.1)
    assert lr_at(cfg, 29.9) == pytest.approx(0.1)
    assert lr_at(cfg, 30.0) == pytest.approx(0.01)
    assert lr_at(cfg, 45.0) == pytest.approx(0.001)


@pytest.mark.slow
def test_torchrun_two_gloo_processes_train_checkpoint_and_resume(synthetic: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    flags = ["--data", str(synthetic), "--out", str(out), "--epochs", "2", "--channels", "8,16", "--window", "24",
             "--batch-size", "8", "--workers", "0", "--log-every", "0", "--device", "cpu"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
              "-m", "posekit", "train", "unik"]  # fmt: skip
    steps_per_epoch = -(-100 // 8)
    first = subprocess.run(
        [*launch, *flags, "--stop-after-steps", str(steps_per_epoch + 3)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr[-3000:]
    assert "2 process(es) on cpu" in first.stdout
    assert first.stdout.count("epoch 1/2") == 1
    saved = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    assert (saved["epoch"], saved["step"]) == (1, steps_per_epoch)
    second = subprocess.run([*launch, *flags, "--resume"], env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resumed from" in second.stdout and "epoch 2/2" in second.stdout
    rows = _rows(out)
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert int(rows[-1]["epoch"]) == 2 and 0 <= float(rows[-1]["val_top1"]) <= 1
    final = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    assert final["epoch"] == 2 and final["step"] == 2 * steps_per_epoch
    assert not any(p.name.startswith(".last.pt.tmp") for p in out.iterdir())


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(train_app, name="train")
    for name, command in (("eval", unik_eval), ("predict", unik_predict)):
        group = typer.Typer()
        group.command("unik")(command)
        app.add_typer(group, name=name)
    return app


def test_cli_trains_joint_and_bone_then_evaluates_fuses_and_predicts(synthetic: Path, tmp_path: Path) -> None:
    runner, app = CliRunner(), _cli()
    tiny = ["--channels", "8,16", "--window", "24", "--batch-size", "16", "--workers", "0", "--log-every", "0"]
    for stream in ("joint", "bone"):
        res = runner.invoke(app, ["train", "unik", "--data", str(synthetic), "--out", str(tmp_path / stream),
                                  "--epochs", "2", "--stream", stream, *tiny])  # fmt: skip
        assert res.exit_code == 0, res.output
    joint, bone = tmp_path / "joint" / "last.pt", tmp_path / "bone" / "last.pt"
    assert load_checkpoint(bone).config["stream"] == "bone"

    val = synthetic / "val"
    res = runner.invoke(app, ["eval", "unik", "--data", str(val), "--ckpt", str(joint), "--ckpt", str(bone),
                              "--out", str(tmp_path / "eval")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "fused" in res.output
    single = evaluate_checkpoint(joint, val)
    trained = json.loads((tmp_path / "joint" / "metrics.json").read_text())["last_eval"]
    assert single.metrics["top1"] == pytest.approx(trained["top1"])
    fused = fuse_score_files(
        [tmp_path / "eval" / "run0-joint" / "scores.npz", tmp_path / "eval" / "run1-bone" / "scores.npz"]
    )
    written = load_scores(tmp_path / "eval" / "fused" / "scores.npz")
    np.testing.assert_allclose(written["scores"], fused["scores"], rtol=1e-6)
    np.testing.assert_allclose(written["scores"].sum(axis=1), 2.0, rtol=1e-5)
    assert json.loads((tmp_path / "eval" / "fused" / "metrics.json").read_text())["num_samples"] == 60
    assert (tmp_path / "eval" / "fused" / "confusion.png").is_file()

    clip_id = single.clip_ids[0]
    res = runner.invoke(
        app, ["predict", "unik", str(val), "--ckpt", str(joint), "--clip-id", clip_id, "--top-k", "3", "--json"]
    )
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in res.output.strip().splitlines()]
    assert len(lines) == 1 and lines[0]["clip_id"] == clip_id
    assert len(lines[0]["top"]) == 3 and {name for name, _ in lines[0]["top"]} <= set(ACTIONS)
    res = runner.invoke(app, ["predict", "unik", str(val), "--ckpt", str(joint), "--clip-id", "nope"])
    assert res.exit_code == 2 and "no clip" in res.output


def test_a_one_epoch_run_prints_timed_progress_before_the_epoch_ends(
    synthetic: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(synthetic, tmp_path / "timed", **{**TINY, "epochs": 1, "log_seconds": 1e-9})
    lines = capsys.readouterr().out.splitlines()
    steps = [n for n, line in enumerate(lines) if line.startswith("  epoch 1/1 step ")]
    (epoch_end,) = [n for n, line in enumerate(lines) if line.startswith("epoch 1/1 lr")]
    total = 200 // 16 + 1
    assert len(steps) == total and steps[-1] < epoch_end, lines
    first = lines[steps[0]]
    assert f"step 1/{total} (run 1/{total}) loss " in first and " samples/s ETA epoch " in first and ", run " in first
    _run(synthetic, tmp_path / "quiet", **{**TINY, "epochs": 1, "log_seconds": 0})
    assert " step " not in capsys.readouterr().out


def test_progress_every_n_seconds_is_a_bounded_option(synthetic: Path) -> None:
    assert resolve_config({"data": str(synthetic), "log_seconds": "5"}).log_seconds == 5.0
    with pytest.raises(ConfigError, match="--log-seconds must be >= 0"):
        resolve_config({"data": str(synthetic), "log_seconds": -1})
