"""UNIK on any layout, 2D or 3D: C and V from the data, the thesis' protocol (all frames, normalisation,
random move, mean class accuracy), refusals at load, and the Posetics -> NTU transfer of thesis table 3.3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from posekit.cli.train import train_app, unik_eval
from posekit.core.device import DeviceOptions
from posekit.core.errors import ConfigError
from posekit.io.samples import LabelMap
from posekit.io.schema import ShardInfo
from posekit.io.shards import ShardWriter
from posekit.io.torch_dataset import SkeletonShardDataset
from posekit.skeleton.layouts import JointLayout
from posekit.skeleton.records import SkeletonClip, SkeletonTrack
from posekit.testing.synthetic import write_synthetic_dataset
from posekit.workflows.unik.config import resolve_config
from posekit.workflows.unik.evaluate import mean_class_accuracy
from posekit.workflows.unik.train import build_datasets, build_loader, load_label_map, setup_distributed

ACTIONS = ("waving", "squatting", "jumping")
TINY = {"channels": "8,16", "window": 16, "batch_size": 8, "workers": 0, "log_every": 0, "epochs": 1}


@pytest.fixture(scope="module")
def ntu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """NTU-shaped: 25 Kinect joints with 3D, 3 actions, 6 training and 2 validation clips each."""
    out = tmp_path_factory.mktemp("ntu")
    write_synthetic_dataset(out, {"train": 6, "val": 2}, ACTIONS, (12, 30), layout="ntu25", seed=1, with_3d=True)
    return out


@pytest.fixture(scope="module")
def posetics(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Posetics-shaped: 2D COCO-17 shards (read as Posetics-17), other actions than the NTU stand-in."""
    out = tmp_path_factory.mktemp("posetics")
    write_synthetic_dataset(out, {"train": 6, "val": 2}, ("clapping", "walking"), (12, 30), seed=2)
    return out


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(train_app, name="train")
    group = typer.Typer()
    group.command("unik")(unik_eval)
    app.add_typer(group, name="eval")
    return app


def _flags(options: dict[str, Any]) -> list[str]:
    return [x for k, v in options.items() for x in (f"--{k.replace('_', '-')}", str(v))]


def test_a_3d_ntu25_run_takes_c_and_v_from_the_data_and_eval_prints_the_class_tables(ntu: Path, tmp_path: Path):
    runner, app = CliRunner(), _cli()
    options = {**TINY, "coords": "3d", "normalise": "unik", "frames": 32, "window": 32}
    res = runner.invoke(app, ["train", "unik", "--data", str(ntu), "--out", str(tmp_path / "run"), *_flags(options)])
    assert res.exit_code == 0, res.output
    assert "ntu25 3d x 3" in res.output
    ckpt = torch.load(tmp_path / "run" / "last.pt", map_location="cpu", weights_only=True)
    layout = JointLayout.from_json(ckpt["layout"])
    assert (ckpt["model_args"]["in_channels"], ckpt["model_args"]["num_joints"], layout.name) == (3, 25, "ntu25")
    res = runner.invoke(app, ["eval", "unik", "--data", str(ntu), "--ckpt", str(tmp_path / "run" / "last.pt")])
    assert res.exit_code == 0, res.output
    assert str(ntu / "val") in res.output and "mean class" in res.output
    assert "confusion (rows true, columns predicted)" in res.output
    assert all(name in res.output for name in ACTIONS)


def test_the_shards_layout_is_kept_when_it_has_a_bone_tree_and_converted_on_request(ntu: Path) -> None:
    own = SkeletonShardDataset(ntu / "train", window=8, stream="bone")
    assert own.layout.name == "ntu25" and own[0][0].shape == (2, 8, 25, 2)
    seventeen = SkeletonShardDataset(ntu / "train", window=8, layout="posetics17", coords="3d")
    assert seventeen[0][0].shape == (3, 8, 17, 2)


def _user_layout_shards(folder: Path) -> None:
    layout = JointLayout("stick4", ("hip", "neck", "left_hand", "right_hand"), ((1, 0), (2, 1), (3, 1)), 0)
    n, V = 8, 4
    track = SkeletonTrack(0, np.arange(n, dtype=np.int32), np.random.default_rng(1).uniform(0, 50, (n, V, 2)).astype(
        np.float32), np.ones((n, V), np.float32), np.zeros((n, V), np.int8), np.zeros((n, 4), np.float32),
        np.ones(n, np.float32), np.ones(n, np.float32))  # fmt: skip
    clip = SkeletonClip("c0", "c0.mp4", 64, 64, 25.0, np.arange(n, dtype=np.int32), np.arange(n) / 25.0, [track])
    folder.mkdir(parents=True)
    writer = ShardWriter(folder, ShardInfo(kind="skeletons", layout=layout, experts=("user",)))
    writer.add([clip])
    writer.flush()
    LabelMap(("wave",), {"c0": "wave"}).save(folder / "labels.json")


def test_a_layout_posekit_does_not_know_is_refused_at_load_in_one_line_unless_its_file_is_given(tmp_path: Path):
    _user_layout_shards(tmp_path / "shards")
    res = CliRunner().invoke(
        _cli(), ["train", "unik", "--data", str(tmp_path / "shards"), "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 2
    assert "'stick4'" in res.output and "--layout stick4.yaml" in res.output and "Traceback" not in res.output
    spec = {"name": "stick4", "joints": ["hip", "neck", "left_hand", "right_hand"], "center": "hip",
            "bones": [["neck", "hip"], ["left_hand", "neck"], ["right_hand", "neck"]]}  # fmt: skip
    (tmp_path / "stick4.json").write_text(json.dumps(spec))
    ds = SkeletonShardDataset(tmp_path / "shards", labels=None, window=4, layout=str(tmp_path / "stick4.json"))
    assert ds.layout.name == "stick4" and ds[0][0].shape == (2, 4, 4, 2)
    args = ["--layout", str(tmp_path / "stick4.json"), "--val-data", str(tmp_path / "shards"), *_flags(TINY)]
    res = CliRunner().invoke(
        _cli(), ["train", "unik", "--data", str(tmp_path / "shards"), "--out", str(tmp_path / "o"), *args]
    )
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(
        _cli(), ["eval", "unik", "--data", str(tmp_path / "shards"), "--ckpt", str(tmp_path / "o" / "last.pt")]
    )
    assert res.exit_code == 0, res.output


def test_what_would_fail_at_the_first_batch_is_refused_at_load(ntu: Path, posetics: Path) -> None:
    with pytest.raises(ConfigError, match="bone stream needs bones forming a tree"):
        SkeletonShardDataset(posetics / "train", layout="coco17", stream="bone")
    with pytest.raises(ConfigError, match="--coords 3d, but clip"):
        SkeletonShardDataset(posetics / "train", coords="3d")
    with pytest.raises(ConfigError, match="--layout: unknown joint layout 'nope'"):
        SkeletonShardDataset(ntu / "train", layout="nope")


def test_validation_scores_all_frames_of_every_clip_replayed_to_the_longest_of_the_set(ntu: Path) -> None:
    cfg = resolve_config({"data": str(ntu), **TINY, "batch_size": 4})
    train_set, val_set = build_datasets(cfg, load_label_map(cfg, ntu / "train"))
    assert val_set.window is None and train_set.window == 16
    x, _, idx = next(iter(build_loader(val_set, cfg, setup_distributed(DeviceOptions("cpu")), train=False)))
    lengths = val_set.num_frames[idx.numpy()]
    assert x.shape[2] == val_set.num_frames.max(), "the same length whatever the clips batched together"
    short = int(np.argmin(lengths))
    T = int(lengths[short])
    torch.testing.assert_close(x[short, :, T : 2 * T], x[short, :, :T])  # replayed, not zero-padded


def test_random_move_changes_training_windows_only_and_repeats_with_the_seed(ntu: Path) -> None:
    plain = SkeletonShardDataset(ntu / "train", window=16, train=True, seed=3)
    moved = SkeletonShardDataset(ntu / "train", window=16, train=True, seed=3, random_move=True)
    assert not torch.equal(plain[0][0], moved[0][0]) and torch.equal(moved[0][0], moved[0][0])
    evaluation = SkeletonShardDataset(ntu / "val", window=16, train=False, random_move=True)
    assert torch.equal(evaluation[0][0], SkeletonShardDataset(ntu / "val", window=16, train=False)[0][0])


def test_mean_class_accuracy_weighs_every_class_alike_and_picks_best_for_smarthome() -> None:
    cm = np.array([[9, 1], [1, 0]])
    assert mean_class_accuracy(cm) == pytest.approx((0.9 + 0.0) / 2)
    assert mean_class_accuracy(np.array([[2, 0], [0, 0]])) == 1.0  # a class without clips is not counted
    for name in ("smarthome-cs", "smarthome-cv1", "smarthome-cv2"):
        assert resolve_config({"data": "d", "preset": name}).metric == "mean_class"
    ntu = resolve_config({"data": "d", "preset": "ntu120-xset"})
    assert (ntu.coords, ntu.normalise, ntu.frames, ntu.epochs, ntu.lr_steps) == ("3d", "unik", 300, 60, (30, 50))


def test_posetics_2d_pretraining_transfers_to_ntu_with_its_17_main_joints(
    ntu: Path, posetics: Path, tmp_path: Path
) -> None:
    """The command sequence of docs/unik.md (thesis table 3.3, NTU-60 with 17 joints)."""
    runner, app = CliRunner(), _cli()
    pre = ["train", "unik", "--data", str(posetics), "--out", str(tmp_path / "posetics"), *_flags(TINY)]
    assert runner.invoke(app, pre).exit_code == 0
    fine = ["train", "unik", "--data", str(ntu), "--out", str(tmp_path / "ntu"), "--layout", "posetics17",
            "--coords", "2d", "--pretrained", str(tmp_path / "posetics" / "last.pt"), *_flags(TINY)]  # fmt: skip
    res = runner.invoke(app, fine)
    assert res.exit_code == 0, res.output
    pretrained = torch.load(tmp_path / "posetics" / "last.pt", map_location="cpu", weights_only=True)
    tuned = torch.load(tmp_path / "ntu" / "last.pt", map_location="cpu", weights_only=True)
    assert JointLayout.from_json(tuned["layout"]).name == "posetics17" and tuned["model_args"]["num_joints"] == 17
    assert tuned["classes"] == list(ACTIONS) and pretrained["classes"] == ["clapping", "walking"]
    res = runner.invoke(app, [*fine[:5], str(tmp_path / "ntu25"), "--layout", "ntu25", *fine[8:]])
    assert res.exit_code == 2 and "does not fit this model" in res.output
