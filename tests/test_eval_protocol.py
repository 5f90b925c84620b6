import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from posekit.cli.evaluate import eval_app
from posekit.core.errors import ConfigError
from posekit.estimators.registry import parse_experts
from posekit.eval.degrade import get_degradation
from posekit.eval.reference import (
    ScoreOptions,
    build_reference,
    consensus_joints,
    make_pose_set,
    match_poses,
    pair_up,
    summarise,
    track_jitter,
)
from posekit.skeleton.layouts import COCO17
from posekit.skeleton.records import PoseProposals
from posekit.workflows.protocols.degradation import MEAN_ROW, ProtocolOptions, gains, mean_rows, write_degraded
from tests.videos import read_frames, write_clip

V = COCO17.num_joints


def person(x0: float = 100.0, y0: float = 40.0, s: float = 1.0) -> np.ndarray:
    """An upright COCO-17 pose, ``(17, 2)`` pixels; head length 40 * s, torso (l-shoulder to r-hip) ~96 * s."""
    i = COCO17.index
    k = np.zeros((V, 2))
    pts = {
        "nose": (0, 0),
        "left_eye": (4, -4),
        "right_eye": (-4, -4),
        "left_ear": (8, -2),
        "right_ear": (-8, -2),
        "left_shoulder": (20, 40),
        "right_shoulder": (-20, 40),
        "left_elbow": (25, 80),
        "right_elbow": (-25, 80),
        "left_wrist": (28, 120),
        "right_wrist": (-28, 120),
        "left_hip": (12, 130),
        "right_hip": (-12, 130),
        "left_knee": (12, 190),
        "right_knee": (-12, 190),
        "left_ankle": (12, 250),
        "right_ankle": (-12, 250),
    }
    for name, (dx, dy) in pts.items():
        k[i(name)] = (x0 + dx * s, y0 + dy * s)
    return k


def proposals(poses: list[np.ndarray], track_ids: list[int]) -> PoseProposals:
    kp = np.array(poses, np.float32).reshape(-1, V, 2)
    n = len(kp)
    boxes = np.array([[p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()] for p in kp], np.float32)
    return PoseProposals(
        kp, np.ones((n, V), np.float32), boxes.reshape(n, 4), np.ones(n, np.float32), COCO17, np.array(track_ids)
    )


def test_reference_joint_is_the_mean_of_the_experts_that_agree_and_the_outlier_is_left_out():
    a = person()
    x = np.stack([a, a + 2.0, a + 60.0])[:, None]
    kp, support = consensus_joints(x, np.array([80.0]), agree=0.2)
    np.testing.assert_allclose(kp[0], a + 1.0)
    assert (support == 2).all()


def test_reference_has_no_joint_where_only_one_expert_has_it_or_none_agree():
    a = person()
    x = np.stack([a, a + 40.0, a + 80.0])[:, None].copy()
    x[1:, 0, 0] = np.nan
    x[0, 0, 1] = a[1] + 2.0
    x[1, 0, 1] = a[1]
    kp, support = consensus_joints(x, np.array([80.0]), agree=0.2)
    assert np.isnan(kp[0, 0]).all() and support[0, 0] == 0
    assert np.isnan(kp[0, 2:]).all()
    np.testing.assert_allclose(kp[0, 1], a[1] + 1.0)


def test_build_reference_groups_experts_by_pipeline_track_and_drops_persons_few_experts_agree_on():
    a, b = person(100), person(300)
    frames_1 = [proposals([a, b], [1, 2]), proposals([a + 1, b], [1, 2])]
    frames_2 = [proposals([a + 1], [1]), proposals([a + 2, b + 1], [1, 2])]
    frames_3 = [proposals([a + 200], [1]), proposals([], [])]
    ref = build_reference([frames_1, frames_2, frames_3], COCO17)
    assert ref.num_frames == 2
    assert list(ref.t) == [0, 1, 1] and list(ref.track_id) == [1, 1, 2]
    np.testing.assert_allclose(ref.keypoints[0], a + 0.5)
    np.testing.assert_allclose(ref.keypoints[2], b + 0.5)
    assert (ref.support[0] == 2).all()


def test_hungarian_matching_pairs_persons_by_their_joints_not_their_order():
    a, b = person(100), person(250)
    ref = make_pose_set([0, 0], [a, b], 1, COCO17)
    pred = make_pose_set([0, 0, 0], [b + 3, person(900), a - 2], 1, COCO17)
    assert list(match_poses(pred, ref)) == [2, 0]


def test_a_missed_reference_person_counts_as_missing_joints_and_lowers_recall():
    a, b = person(100), person(250)
    ref = make_pose_set([0, 0, 1], [a, b, a], 2, COCO17)
    pred = make_pose_set([0, 1], [a, a], 2, COCO17)
    s = summarise(pair_up(pred, ref), COCO17)
    assert s["recall"] == pytest.approx(100 * 2 / 3)
    assert s["pckh"] == pytest.approx(100 * 2 / 3)
    assert s["completeness"] == pytest.approx(100 * 2 / 3)
    assert s["mpjpe"] == 0.0


def test_pckh_pck_and_mpjpe_against_the_reference_have_the_known_values():
    gt = person()
    pred = gt.copy()
    pred[[5, 6, 7]] += (24.0, 0.0)
    pred[8] = np.nan
    m = pair_up(make_pose_set([0], [pred], 1, COCO17), make_pose_set([0], [gt], 1, COCO17))
    s = summarise(m, COCO17)
    assert s["pckh"] == pytest.approx(100 * 13 / 17)
    torso = np.linalg.norm(gt[5] - gt[12])
    assert 0.2 * torso < 24.0
    assert s["pck"] == pytest.approx(100 * 13 / 17)
    assert s["mpjpe"] == pytest.approx(3 * 24.0 / 40.0 / 16)
    assert s["completeness"] == pytest.approx(100 * 16 / 17)
    box = summarise(m, COCO17, ScoreOptions(pck_scale="box", pck_alpha=0.05))
    assert box["pck"] == pytest.approx(100 * 13 / 17)


def test_track_jitter_is_zero_for_steady_motion_and_grows_with_shaking():
    t = np.arange(6)
    steady = make_pose_set(t, [person(100 + 5 * k) for k in t], 6, COCO17, track_id=np.ones(6))
    shaky = make_pose_set(t, [person(100 + 5 * k + (4 if k % 2 else 0)) for k in t], 6, COCO17, track_id=np.ones(6))
    assert track_jitter(steady) == pytest.approx(0.0, abs=1e-12)
    assert track_jitter(shaky) > 0.05


def test_write_degraded_is_lossless_and_degrades_every_frame(tmp_path, sample_frames):
    src = write_clip(tmp_path / "src.mp4", [f[:96, :128] for f in sample_frames[:3]])
    decoded = read_frames(src, 3)
    clean, blurred = tmp_path / "clean.mkv", tmp_path / "blur.mkv"
    assert write_degraded(src, clean, get_degradation("none")) == 3
    assert all(np.array_equal(a, b) for a, b in zip(read_frames(clean, 3), decoded))
    write_degraded(src, blurred, get_degradation("blur-2"), max_frames=2)
    out = read_frames(blurred, 5)
    assert len(out) == 2
    np.testing.assert_array_equal(out[1], get_degradation("blur-2").apply(decoded[1], frame_index=1))


def test_means_over_degradations_and_gains_over_the_best_expert():
    rows = []
    for deg, values in {"none": (90, 80, 95), "blur-3": (60, 70, 75), "jpeg-10": (50, 40, 55)}.items():
        for method, v in zip(("yolo", "mediapipe", "sst-a thesis"), values):
            rows.append({"degradation": deg, "method": method, "pckh": float(v), "pck": float(v)})
    means = mean_rows([{**r, **{k: 1.0 for k in ("mpjpe", "completeness", "jitter", "recall")}} for r in rows])
    assert {r["method"]: r["pckh"] for r in means} == {"yolo": 55.0, "mediapipe": 55.0, "sst-a thesis": 65.0}
    assert all(r["degradation"] == MEAN_ROW for r in means)
    g = {x["degradation"]: x for x in gains(rows, ("yolo", "mediapipe"))}
    assert g["blur-3"]["best_expert"] == "mediapipe" and g["blur-3"]["sst-a thesis"] == pytest.approx(5.0)
    assert g["none"]["sst-a thesis"] == pytest.approx(5.0)


def test_the_protocol_needs_two_experts():
    with pytest.raises(ConfigError, match="two experts"):
        ProtocolOptions(experts=tuple(parse_experts("yolo")))


@pytest.fixture(scope="module")
def people_clip(tmp_path_factory, sample_frames) -> Path:
    """4 real frames cropped around two pedestrians (320x240): YOLO finds both at imgsz 320."""
    crops = [np.ascontiguousarray(f[128:368, 448:768]) for f in sample_frames[:4]]
    return write_clip(tmp_path_factory.mktemp("people") / "two people.mp4", crops)


def cli() -> typer.Typer:
    root = typer.Typer()
    root.add_typer(eval_app, name="eval")
    return root


@pytest.mark.slow
def test_eval_degrade_scores_every_expert_and_sst_a_mode_against_the_clean_reference(people_clip, tmp_path):
    out = tmp_path / "eval out"
    args = ["eval", "degrade", str(people_clip), "--out", str(out), "--imgsz", "320", "--max-frames", "4"]
    result = CliRunner().invoke(cli(), [*args, "--degradations", "occlude-0.4", "--no-progress"])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "degradation_table.json").read_text())
    methods = ["yolo", "yolo-topdown", "mediapipe", "sst-a thesis", "sst-a robust", "sst-a robust+savgol"]
    by = {(r["degradation"], r["method"]): r for r in doc["rows"]}
    assert set(by) == {(d, m) for d in ("none", "occlude-0.4", MEAN_ROW) for m in methods}
    assert doc["meta"]["reference"]["person_frames"] >= 6
    assert by["none", "sst-a thesis"]["pckh"] > 85 and by["none", "sst-a thesis"]["recall"] == 100
    assert by["occlude-0.4", "yolo"]["pckh"] < by["none", "yolo"]["pckh"]
    assert 0 < by["none", "sst-a robust"]["mean_c"] <= 1
    assert "| degradation | method | PCKh@0.5" in result.output
    assert "not accuracy against human labels" in (out / "degradation_table.md").read_text()
    assert (out / "degradation_table.csv").read_text().startswith("degradation,method,pckh,pck")
    assert (out / "plots" / "ssta-thesis_c_vs_error.png").stat().st_size > 1000


@pytest.mark.slow
def test_eval_degrade_without_any_person_is_a_one_line_error(tmp_path):
    blank = write_clip(tmp_path / "blank.mp4", [np.full((64, 64, 3), 90, np.uint8)] * 2)
    args = ["eval", "degrade", str(blank), "--out", str(tmp_path / "o"), "--experts", "yolo,yolo-topdown"]
    result = CliRunner().invoke(cli(), [*args, "--imgsz", "64", "--no-progress"])
    assert result.exit_code == 2
    assert "agree on no person" in result.output and "Traceback" not in result.output
