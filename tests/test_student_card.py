"""A self-trained student's card (input size, threshold, NMS IoU, provenance) is saved in its weights and applied
in full when they load as an expert; an explicit --imgsz overrides the card's size."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from posekit.cli.app import app
from posekit.core.errors import ConfigError
from posekit.estimators.base import DEFAULT_IMGSZ, EstimatorConfig, chosen_imgsz
from posekit.estimators.registry import build_estimator, parse_experts
from posekit.estimators.yolo import bundled_yolo_weights, read_checkpoint
from posekit.estimators.yolo_student import StudentCard
from posekit.workflows.selftrain.student import save_student_card

CARD = StudentCard(
    imgsz=320, person_threshold=0.35, nms_iou=0.6, anchor_classes=2, teachers=("yolo", "yolo-topdown"), gamma=0.18
)
OLD_CARD = {"person_threshold": 0.35, "nms_iou": 0.6, "imgsz": 320}
"""What ``best.pt`` held before the card was typed: threshold, NMS IoU and input size only."""


def test_the_card_reads_back_from_its_checkpoint_entry():
    assert StudentCard.from_entry(CARD.to_entry(), Path("best.pt")) == CARD
    assert json.loads(json.dumps(CARD.to_entry()))["teachers"] == ["yolo", "yolo-topdown"]


def test_an_old_card_reads_with_the_new_fields_unrecorded_and_other_models_have_none():
    card = StudentCard.from_entry(OLD_CARD, Path("best.pt"))
    assert (card.imgsz, card.person_threshold, card.nms_iou) == (320, 0.35, 0.6)
    assert card.teachers == () and card.gamma is None and card.layout == "coco17"
    assert StudentCard.from_entry({**OLD_CARD, "added_later": 1}, Path("best.pt")) == card
    assert StudentCard.from_entry(None, Path("yolo11n-pose.pt")) is None
    # the anchor-class start model of a run notes its classes but is no calibrated student
    assert StudentCard.from_entry({"anchor_classes": 2, "from": "yolo11n-pose.pt"}, Path("init.pt")) is None


def test_a_card_with_values_no_student_has_is_refused_naming_the_file():
    with pytest.raises(ConfigError, match=r"best.pt: unreadable student card \(--imgsz must be >= 32"):
        StudentCard.from_entry({**OLD_CARD, "imgsz": 8}, Path("best.pt"))
    with pytest.raises(ConfigError, match="layout 'blazepose33'"):
        StudentCard.from_entry({**OLD_CARD, "layout": "blazepose33"}, Path("best.pt"))


def test_imgsz_given_wins_over_the_models_own_which_wins_over_the_default():
    assert chosen_imgsz(960, 320) == 960
    assert chosen_imgsz(None, 320) == 320
    assert chosen_imgsz(None) == DEFAULT_IMGSZ == 640
    assert EstimatorConfig().imgsz is None


@pytest.fixture
def student(tmp_path: Path) -> Path:
    """The bundled YOLO11n-pose with a student card (320 px, threshold 0.35, NMS IoU 0.6) saved in it."""
    path = tmp_path / "best.pt"
    shutil.copyfile(bundled_yolo_weights(), path)
    save_student_card(path, CARD)
    return path


@pytest.mark.slow
def test_a_student_runs_at_its_cards_size_threshold_and_nms_without_flags(student, sample_frames):
    expert = build_estimator(f"yolo:{student}", EstimatorConfig(tiles=1))
    assert expert.card == CARD
    assert expert.network_side() == 320 and expert.min_score == 0.35 and expert.nms_iou == 0.6
    (found,) = expert.predict(sample_frames[:1])
    assert expert.runner.predictor_model.predictor.args.imgsz == 320
    assert (found.scores >= 0.35).all()
    bundled = build_estimator("yolo", EstimatorConfig(tiles=1))
    assert bundled.card is None and bundled.network_side() == 640 and bundled.nms_iou == 0.7


@pytest.mark.slow
def test_an_explicit_imgsz_overrides_the_card_and_says_so(student, caplog):
    with caplog.at_level(logging.INFO, logger="posekit.estimators.yolo"):
        expert = build_estimator(f"yolo:{student}", EstimatorConfig(imgsz=480, tiles=1))
    assert expert.network_side() == 480 and expert.min_score == 0.35
    assert [r.getMessage() for r in caplog.records] == [
        f"--imgsz 480 overrides the 320 px that {student} was calibrated at"
    ]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="posekit.estimators.yolo"):
        build_estimator(f"yolo:{student}", EstimatorConfig(imgsz=320))
    assert caplog.records == []  # the card's own size: nothing overridden


@pytest.mark.slow
def test_an_old_card_still_loads_with_its_size(student):
    checkpoint = read_checkpoint(student)
    checkpoint["posekit"] = dict(OLD_CARD)
    torch.save(checkpoint, student)
    expert = build_estimator(f"yolo:{student}", EstimatorConfig(tiles=1))
    assert expert.network_side() == 320 and expert.min_score == 0.35 and expert.nms_iou == 0.6


@pytest.mark.slow
def test_extract_with_a_student_records_the_cards_size_and_an_explicit_imgsz_wins(student, short_clip, tmp_path):
    runner = CliRunner()
    base = ["extract", str(short_clip), "--experts", f"yolo:{student}", "--tiles", "1", "--no-progress"]
    result = runner.invoke(app, [*base, "--out", str(tmp_path / "card")])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "card" / "manifest.json").read_text())
    assert manifest["effective"]["imgsz"] == {"yolo:best.pt": 320}
    assert manifest["settings"]["imgsz"] is None and "--imgsz" not in result.output
    result = runner.invoke(app, [*base, "--out", str(tmp_path / "given"), "--imgsz", "256"])
    assert result.exit_code == 0, result.output
    assert result.output.count("--imgsz 256 overrides the 320 px") == 1  # the detector's copies say it once
    manifest = json.loads((tmp_path / "given" / "manifest.json").read_text())
    assert manifest["effective"]["imgsz"] == {"yolo:best.pt": 256} and manifest["settings"]["imgsz"] == 256


def test_runs_without_weights_files_record_the_default_size_so_earlier_runs_resume():
    from posekit.workflows.extraction.options import ExtractOptions

    assert ExtractOptions(experts=tuple(parse_experts("yolo,mediapipe"))).settings()["imgsz"] == DEFAULT_IMGSZ
    assert ExtractOptions(experts=tuple(parse_experts("yolo:best.pt"))).settings()["imgsz"] is None
    given = ExtractOptions(experts=tuple(parse_experts("yolo:best.pt")), estimator=EstimatorConfig(imgsz=480))
    assert given.settings()["imgsz"] == 480
