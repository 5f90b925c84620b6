"""SST-A (thesis 3.3.2): eq. 3.1 selection, eq. 3.4 confidence, eq. 3.3 filter, robust mode."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from posekit.core.errors import ConfigError
from posekit.eval.metrics import completeness, jitter
from posekit.refine.ssta import (
    DEFAULT_GAMMA,
    HEAD_NECK_PER_SHOULDER_WIDTH,
    HEAD_NECK_PER_TORSO,
    NORMALISER_NONE,
    NORMALISERS,
    SOURCE_FILLED,
    SOURCE_NONE,
    AggregationOptions,
    RobustOptions,
    aggregate,
    body_scale,
    confidence,
    fill_gaps,
    gamma_filter,
    joint_subset,
    smooth,
    ssta_reference_loop,
)
from posekit.skeleton.layouts import COCO17
from posekit.testing.demo import find_demo_dir
from posekit.testing.ssta_demo import load_expert_npz, load_ssta_demo

V = COCO17.num_joints
NOSE = COCO17.index("nose")
LS, RS = COCO17.index("left_shoulder"), COCO17.index("right_shoulder")
FIELDS = ("keypoints", "source", "confidence", "keep")
OFFSET = np.array([3.0, 4.0])


@pytest.fixture(scope="module")
def demo() -> np.ndarray:
    directory = find_demo_dir()
    if directory is None:
        pytest.skip("ssta-demo data not found (set POSEKIT_SSTA_DEMO)")
    return load_ssta_demo(directory).keypoints


def _same(a, b) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True) for f in FIELDS)


def _stack(points: list[list[tuple[float, float] | None]]) -> np.ndarray:
    """``points[m][t]`` for every joint of expert ``m`` at frame ``t`` -> ``(M, T, V, 2)``."""
    x = np.full((len(points), len(points[0]), V, 2), np.nan)
    for m, frames in enumerate(points):
        for t, p in enumerate(frames):
            if p is not None:
                x[m, t, :] = p
    return x


def test_demo_loader_aligns_experts_to_shortest_and_turns_origin_into_nan(demo: np.ndarray) -> None:
    assert demo.shape == (3, 1379, V, 2)
    assert not (demo == 0).all(-1).any()
    openpose_missing = np.isnan(demo[2]).any(-1).mean()
    assert 0.55 < openpose_missing < 0.65
    lcrnet = demo[1]
    assert np.isfinite(lcrnet[:, NOSE]).all()
    assert np.isnan(lcrnet[:, 1:5]).all()
    raw = load_ssta_demo(find_demo_dir(), lcrnet_face="all").keypoints[1]
    assert np.array_equal(raw[:, 1:5], np.repeat(raw[:, :1], 4, axis=1))


def test_expert_npz_loader_names_the_file_on_bad_input(tmp_path) -> None:
    bad = tmp_path / "clip_AlphaPose2d.npz"
    np.savez(bad, kpts=np.zeros((5, 13, 2), np.float32))
    with pytest.raises(ValueError, match=r"clip_AlphaPose2d\.npz.*\(frames, 17, 2\)"):
        load_expert_npz(bad)
    with pytest.raises(FileNotFoundError, match="LCRNet"):
        load_ssta_demo(tmp_path, experts=("LCRNet",))


@pytest.mark.parametrize("missing", ["skip", "zero"])
@pytest.mark.parametrize(
    ("normaliser", "joints"), [("head-neck", "body13"), ("shoulders", "body12"), ("head-neck", "all")]
)
def test_thesis_mode_equals_per_joint_loop_reference_exactly_on_real_demo(
    demo: np.ndarray, missing: str, normaliser: str, joints: str
) -> None:
    kw = {"missing": missing, "normaliser": normaliser, "joints": joints}
    fast = aggregate(demo, **kw)
    slow = ssta_reference_loop(demo, **kw)
    assert _same(fast, slow)
    assert fast.keep.any() or missing == "zero"


def test_thesis_mode_equals_loop_reference_on_random_stacks_with_ties_gaps_inf_and_many_experts() -> None:
    rng = np.random.default_rng(7)
    for _ in range(12):
        M, T = int(rng.integers(1, 6)), int(rng.integers(1, 40))
        x = rng.integers(0, 5, (M, T, V, 2)) * 10.0
        x[rng.random((M, T, V)) < rng.choice([0.0, 0.3, 0.7])] = np.nan
        x[:, rng.integers(0, T)] = np.nan
        x[rng.random((M, T, V, 2)) < 0.02] = rng.choice([np.inf, -np.inf, np.nan])
        for missing in ("skip", "zero"):
            assert _same(aggregate(x, missing=missing), ssta_reference_loop(x, missing=missing))


def test_eq_3_1_first_frame_takes_lower_index_expert_of_closest_pair() -> None:
    x = _stack([[(0.0, 0.0)], [(10.0, 0.0)], [(11.0, 0.0)]])
    agg = aggregate(x)
    assert (agg.source[0] == 1).all()
    assert np.array_equal(agg.keypoints[0, NOSE], [10.0, 0.0])


def test_eq_3_1_first_frame_tie_between_pairs_goes_to_lowest_indices() -> None:
    x = _stack([[(0.0, 0.0)], [(5.0, 0.0)], [(10.0, 0.0)]])
    assert (aggregate(x).source[0] == 0).all()


def test_eq_3_1_later_frames_take_expert_closest_to_previous_aggregate_not_the_majority() -> None:
    x = _stack(
        [
            [(0.0, 0.0), (12.0, 0.0), (30.0, 0.0)],
            [(9.0, 0.0), (20.0, 0.0), (13.0, 0.0)],
            [(10.0, 0.0), (21.0, 0.0), (40.0, 0.0)],
        ]
    )
    agg = aggregate(x)
    assert agg.source[:, NOSE].tolist() == [1, 0, 1]
    assert agg.keypoints[:, NOSE, 0].tolist() == [9.0, 12.0, 13.0]


def test_eq_3_1_later_frame_tie_goes_to_lowest_expert_index() -> None:
    x = _stack([[(0.0, 0.0), (4.0, 0.0)], [(0.0, 0.0), (4.0, 0.0)], [(50.0, 0.0), (-4.0, 0.0)]])
    assert aggregate(x).source[1, NOSE] == 0


def _pose(nose: tuple[float, float], half_shoulder: float) -> np.ndarray:
    p = np.zeros((V, 2))
    p[:] = (0.0, 20.0)
    p[NOSE] = nose
    p[LS], p[RS] = (-half_shoulder, 0.0), (half_shoulder, 0.0)
    return p


def test_eq_3_4_confidence_by_hand_for_both_normalisers_and_joint_subsets() -> None:
    base = _pose((0.0, -10.0), 4.0)
    x = np.stack([base, base + OFFSET, base])[:, None]
    agg = aggregate(x, normaliser="head-neck", joints="body13")
    assert (agg.source == 0).all()
    assert agg.confidence[0] == pytest.approx(math.exp(-(5.0 / 3.0) / 10.0), rel=1e-12)
    assert aggregate(x, normaliser="shoulders", joints="body12").confidence[0] == pytest.approx(
        math.exp(-(5.0 / 3.0) / 8.0), rel=1e-12
    )
    x[1, 0, LS] = base[LS] + (30.0, 40.0)
    c = aggregate(x, normaliser="shoulders", joints="body12").confidence[0]
    assert c == pytest.approx(math.exp(-((11 * 5.0 + 50.0) / 36.0) / 8.0), rel=1e-12)
    assert joint_subset("body12").tolist() == list(range(5, 17))
    assert joint_subset("body13").tolist() == [0, *range(5, 17)]


def test_eq_3_4_confidence_leaves_missing_proposals_out_unless_missing_is_zero() -> None:
    base = _pose((0.0, -10.0), 4.0)
    x = np.stack([base, base, base + OFFSET])[:, None]
    x[2, 0, 7:] = np.nan
    skip = aggregate(x, normaliser="shoulders", joints="body12")
    n_terms = 12 * 2 + 2
    assert skip.confidence[0] == pytest.approx(math.exp(-(2 * 5.0 / n_terms) / 8.0), rel=1e-12)
    zero = aggregate(x, normaliser="shoulders", joints="body12", missing="zero")
    far = sum(float(np.hypot(*base[v])) for v in range(7, 17))
    assert zero.confidence[0] == pytest.approx(math.exp(-((2 * 5.0 + far) / 36.0) / 8.0), rel=1e-12)


def test_confidence_function_equals_aggregate_confidence_on_demo(demo: np.ndarray) -> None:
    agg = aggregate(demo)
    assert np.array_equal(confidence(agg.keypoints, demo), agg.confidence, equal_nan=True)


def test_eq_3_3_gamma_filter_keeps_confidence_at_least_gamma(demo: np.ndarray) -> None:
    assert gamma_filter(np.array([0.1, 0.18, 0.5, np.nan])).tolist() == [False, True, True, False]
    for gamma in (0.06, 0.18, 0.5):
        agg = aggregate(demo, gamma=gamma)
        assert np.array_equal(agg.keep, np.nan_to_num(agg.confidence, nan=-1.0) >= gamma)
    assert aggregate(demo, gamma=0.06).keep.sum() >= aggregate(demo, gamma=0.18).keep.sum()


def test_thesis_zero_mode_reproduces_public_code_where_two_missing_experts_agree_at_origin() -> None:
    x = _stack([[None, None], [None, (6.0, 5.0)], [(100.0, 100.0), (100.0, 100.0)]])
    zero = aggregate(x, missing="zero")
    assert np.isnan(zero.keypoints[:, NOSE]).all()
    assert (zero.source[:, NOSE] == SOURCE_NONE).all()
    skip = aggregate(x)
    assert skip.keypoints[:, NOSE].tolist() == [[100.0, 100.0], [100.0, 100.0]]


def test_thesis_skip_mode_holds_last_aggregate_across_a_gap_and_robust_reinitialises() -> None:
    x = _stack(
        [
            [(0.0, 0.0), None, (50.0, 0.0)],
            [(1.0, 0.0), None, (52.0, 0.0)],
            [(40.0, 0.0), None, (2.0, 0.0)],
        ]
    )
    thesis = aggregate(x)
    assert thesis.source[:, NOSE].tolist() == [0, SOURCE_NONE, 2]
    robust = aggregate(x, mode="robust", robust=RobustOptions(drift_threshold=None, consensus_threshold=None))
    assert robust.source[:, NOSE].tolist() == [0, SOURCE_NONE, 0]


def test_robust_mode_treats_nan_as_missing_and_origin_as_a_real_point() -> None:
    x = _stack([[(0.0, 0.0), None], [None, None], [(0.0, 0.0), (1.0, 1.0)]])
    x[1, 0, LS] = (3.0, 3.0)
    agg = aggregate(x, mode="robust")
    assert agg.keypoints[0, NOSE].tolist() == [0.0, 0.0]
    assert agg.source[0, NOSE] in (0, 2)
    assert agg.keypoints[1, NOSE].tolist() == [1.0, 1.0]
    assert (agg.source != 1).all()
    empty = aggregate(np.full((3, 4, V, 2), np.nan), mode="robust")
    assert np.isnan(empty.keypoints).all() and (empty.source == SOURCE_NONE).all() and not empty.keep.any()
    with pytest.raises(ConfigError, match="--missing zero is thesis-only"):
        aggregate(x, mode="robust", missing="zero")


def test_robust_drift_threshold_reanchors_when_previous_joint_is_far_from_every_expert() -> None:
    base = _pose((0.0, -10.0), 20.0)
    noses = [[(0.0, -10.0), (50.0, -10.0)], [(2.0, -10.0), (52.0, -10.0)], [(100.0, -10.0), (21.0, -10.0)]]
    x = np.repeat(base[None, None], 2, axis=1).repeat(3, axis=0)
    for m, frames in enumerate(noses):
        x[m, :, NOSE] = frames
    assert float(body_scale(x)) == 40.0
    assert aggregate(x).source[:, NOSE].tolist() == [0, 2]
    drift_only = RobustOptions(consensus_threshold=None)
    assert aggregate(x, mode="robust", robust=drift_only).source[:, NOSE].tolist() == [0, 0]
    neither = RobustOptions(consensus_threshold=None, drift_threshold=None)
    assert aggregate(x, mode="robust", robust=neither).source[:, NOSE].tolist() == [0, 2]


def test_robust_mode_recovers_from_injected_drift_where_thesis_mode_stays_stuck(demo: np.ndarray) -> None:
    s = float(body_scale(demo))
    injected = demo.copy()
    injected[1, 300:600, LS, 0] += 3.0 * s
    injected[[0, 2], 300, LS] = np.nan
    errors = {}
    for mode in ("thesis", "robust"):
        clean, hit = aggregate(demo, mode=mode), aggregate(injected, mode=mode)
        err = np.linalg.norm(hit.keypoints[301:600, LS] - clean.keypoints[301:600, LS], axis=-1) / s
        errors[mode] = (float(err.mean()), int((err > 1.0).sum()), hit.source[301:600, LS])
    mean_err, stuck, source = errors["thesis"]
    assert mean_err > 2.5 and stuck == 299 and (source == 1).all()
    mean_err, stuck, source = errors["robust"]
    assert mean_err < 0.1 and stuck == 0 and not (source == 1).any()


def test_batched_tracks_equal_single_tracks(demo: np.ndarray) -> None:
    other = demo[:, ::-1] + 5.0
    other[:, 100:130] = np.nan
    batch = np.stack([demo, other])
    for kw in ({}, {"missing": "zero"}, {"mode": "robust", "robust": RobustOptions(fill_gaps=3, smooth="median")}):
        both = aggregate(batch, **kw)
        for b, track in enumerate((demo, other)):
            one = aggregate(track, **kw)
            for f in FIELDS:
                assert np.array_equal(getattr(both, f)[b], getattr(one, f), equal_nan=True), (kw, f)
    kw = {"mode": "robust", "robust": RobustOptions(smooth="savgol")}
    both, one = aggregate(batch, **kw), aggregate(other, **kw)
    np.testing.assert_allclose(both.keypoints[1], one.keypoints, rtol=0, atol=1e-9)
    assert np.array_equal(both.source[1], one.source) and np.array_equal(both.keep[1], one.keep)


def test_fill_gaps_interpolates_interior_gaps_up_to_k_frames_only() -> None:
    track = np.full((10, 1, 2), np.nan)
    track[[0, 3, 9], 0] = [[0.0, 0.0], [3.0, 6.0], [9.0, 18.0]]
    filled, mask = fill_gaps(track, 2)
    assert filled[:4, 0, 0].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert np.isnan(filled[4:9]).all() and mask[:, 0].tolist() == [False, True, True] + [False] * 7
    agg = aggregate(np.stack([_stack([[(0.0, 0.0), None, (2.0, 2.0)]])[0]] * 2), mode="robust")
    assert agg.source[1, NOSE] == SOURCE_NONE
    agg = aggregate(
        np.stack([_stack([[(0.0, 0.0), None, (2.0, 2.0)]])[0]] * 2), mode="robust", robust=RobustOptions(fill_gaps=1)
    )
    assert agg.source[1, NOSE] == SOURCE_FILLED and agg.keypoints[1, NOSE].tolist() == [1.0, 1.0]


def test_smoothing_keeps_missing_joints_missing_and_lowers_jitter(demo: np.ndarray) -> None:
    for method in ("savgol", "median"):
        out = smooth(demo[2], method)
        assert np.array_equal(np.isnan(out), np.isnan(demo[2]))
        assert jitter(out, 50.0) < jitter(demo[2], 50.0)


def test_completeness_and_jitter_on_real_demo_against_each_expert(demo: np.ndarray) -> None:
    s = body_scale(demo)
    experts = [(completeness(e), jitter(e, s)) for e in demo]
    thesis = aggregate(demo).keypoints
    robust = aggregate(demo, mode="robust", robust=RobustOptions(smooth="savgol")).keypoints
    assert completeness(thesis) == max(c for c, _ in experts) == 1.0
    assert completeness(robust) == 1.0
    assert sorted(c for c, _ in experts)[:2] == pytest.approx([0.396, 0.765], abs=1e-3)
    assert jitter(thesis, s) < experts[0][1] and jitter(thesis, s) < experts[2][1]
    assert jitter(thesis, s) > experts[1][1]
    assert jitter(robust, s) < min(j for _, j in experts)


def _seen_from_behind(nose: bool) -> np.ndarray:
    """Three experts' ``(M, 1, V, 2)`` poses: expert 1 offset by 3-4-5 px; the nose optionally missing."""
    base = _pose((0.0, -10.0), 4.0)
    base[COCO17.index("left_hip")], base[COCO17.index("right_hip")] = (-3.0, 30.0), (3.0, 30.0)
    if not nose:
        base[NOSE] = np.nan
    return np.stack([base, base + OFFSET, base])[:, None]


def test_pose_without_a_nose_gets_a_finite_confidence_and_is_kept_at_gamma_0() -> None:
    x = _seen_from_behind(nose=False)
    for mode in ("thesis", "robust"):
        agg = aggregate(x, mode=mode, gamma=0.0)
        assert np.isfinite(agg.confidence).all() and agg.keep.all()
        assert agg.normaliser.tolist() == [NORMALISERS.index("shoulders")]
    dn = 8.0 * HEAD_NECK_PER_SHOULDER_WIDTH
    assert aggregate(x).confidence[0] == pytest.approx(math.exp(-(5.0 / 3.0) / dn), rel=1e-12)
    assert _same(aggregate(x, gamma=0.0), ssta_reference_loop(x, gamma=0.0))


def test_thesis_mode_normalises_by_head_neck_wherever_it_exists() -> None:
    agg = aggregate(_seen_from_behind(nose=True))
    assert agg.normaliser.tolist() == [NORMALISERS.index("head-neck")]
    assert agg.confidence[0] == pytest.approx(math.exp(-(5.0 / 3.0) / 10.0), rel=1e-12)


def test_torso_stands_in_when_a_shoulder_is_missing_too_and_no_length_means_no_confidence() -> None:
    x = _seen_from_behind(nose=False)
    x[:, :, RS] = np.nan
    agg = aggregate(x, gamma=0.0)
    side = float(np.hypot(-4.0 - -3.0, 0.0 - 30.0))
    assert agg.normaliser.tolist() == [NORMALISERS.index("torso")]
    n_terms = 3 * 11
    c = math.exp(-(11 * 5.0 / n_terms) / (side * HEAD_NECK_PER_TORSO))
    assert agg.confidence[0] == pytest.approx(c, rel=1e-12)
    assert _same(agg, ssta_reference_loop(x, gamma=0.0))
    x[:, :, COCO17.index("left_hip")] = np.nan
    empty = aggregate(x, gamma=0.0)
    assert np.isnan(empty.confidence).all() and not empty.keep.any() and (empty.normaliser == NORMALISER_NONE).all()


def test_shoulder_normaliser_falls_back_to_torso_scaled_to_a_shoulder_width() -> None:
    x = _seen_from_behind(nose=True)
    agg = aggregate(x, normaliser="shoulders", joints="body12")
    assert agg.normaliser.tolist() == [NORMALISERS.index("shoulders")]
    x[:, :, RS] = np.nan
    agg = aggregate(x, normaliser="shoulders", joints="body12", gamma=0.0)
    side = float(np.hypot(-4.0 - -3.0, 0.0 - 30.0)) * HEAD_NECK_PER_TORSO / HEAD_NECK_PER_SHOULDER_WIDTH
    assert agg.normaliser.tolist() == [NORMALISERS.index("torso")]
    assert agg.confidence[0] == pytest.approx(math.exp(-(11 * 5.0 / 33) / side), rel=1e-12)
    assert _same(agg, ssta_reference_loop(x, normaliser="shoulders", joints="body12", gamma=0.0))


def test_real_demo_with_every_nose_removed_keeps_every_pose_at_gamma_0(demo: np.ndarray) -> None:
    behind = demo.copy()
    behind[:, :, NOSE] = np.nan
    agg = aggregate(behind, gamma=0.0)
    assert agg.keep.all()
    assert set(np.unique(agg.normaliser)) <= {NORMALISERS.index("shoulders"), NORMALISERS.index("torso")}
    assert _same(agg, ssta_reference_loop(behind, gamma=0.0))


def test_options_refuse_bad_values_with_one_line_naming_the_flag() -> None:
    with pytest.raises(ConfigError, match=r"^--gamma must be >= 0.0 and <= 1.0 \(got 1.5\)$"):
        AggregationOptions(gamma=1.5)
    with pytest.raises(ConfigError, match="--mode must be one of thesis, robust"):
        AggregationOptions(mode="magic")
    with pytest.raises(ConfigError, match="--drift-threshold must be > 0"):
        RobustOptions(drift_threshold=0.0)
    with pytest.raises(ConfigError, match="--smooth-window must be an odd"):
        RobustOptions(smooth_window=8)
    with pytest.raises(ConfigError, match="--normaliser must be one of head-neck, shoulders, torso"):
        aggregate(np.zeros((2, 1, V, 2)), normaliser="ears")


def test_settings_name_every_field_and_the_robust_knobs_only_in_robust_mode() -> None:
    names = {f.name for f in dataclasses.fields(AggregationOptions)} - {"robust", "fused", "first_pick"}
    thesis = AggregationOptions().settings()
    assert set(thesis) == names and thesis["gamma"] == DEFAULT_GAMMA and thesis["missing"] == "skip"
    robust = AggregationOptions(mode="robust", robust=RobustOptions(fill_gaps=2)).settings()
    assert robust["robust"] == {
        f.name: getattr(RobustOptions(fill_gaps=2), f.name) for f in dataclasses.fields(RobustOptions)
    }
    assert aggregate(np.zeros((2, 1, V, 2)), mode="robust").options == AggregationOptions(mode="robust").settings()
