"""Fused mode (refine/ssta/fused.py) and the public code's t = 0 rule (``first_pick="public"``)."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.core.errors import ConfigError
from posekit.refine.ssta import AggregationOptions, aggregate, confidence, ssta_reference_loop
from posekit.refine.ssta.equations import select_first_public
from posekit.refine.ssta.fused import flip_index, fuse_joints, pose_scale, repair_sides, side_costs
from posekit.skeleton.layouts import COCO17
from posekit.testing.ssta_demo import load_ssta_demo
from tests.conftest import SHARED_DATA

DEMO = SHARED_DATA / "ssta-demo"
V = COCO17.num_joints

POSE = np.array(
    [
        (100, 40), (106, 34), (94, 34), (112, 38), (88, 38),  # nose, eyes, ears (left on the image right)
        (125, 70), (75, 70), (135, 110), (65, 110), (140, 150), (60, 150),  # shoulders, elbows, wrists
        (118, 150), (82, 150), (120, 210), (80, 210), (122, 270), (78, 270),  # hips, knees, ankles
    ],
    dtype=np.float64,
)  # fmt: skip
"""A standing person facing the camera, ``(17, 2)`` pixels: shoulder width 50, torso 80 (body scale 80)."""


def stack(*poses: np.ndarray) -> np.ndarray:
    """``(M, 1, V, 2)``: one frame per expert."""
    return np.stack([np.asarray(p, np.float64)[None] for p in poses])


def flipped(pose: np.ndarray) -> np.ndarray:
    return pose[flip_index(COCO17)]


def fused(x: np.ndarray, scores: np.ndarray | None = None, **settings: object):
    return aggregate(x, AggregationOptions(mode="fused", gamma=0.0, **settings), scores=scores)


def test_outlier_expert_is_left_out_and_the_agreeing_two_are_averaged() -> None:
    shift = np.array([1.0, -1.0])
    far = POSE + np.array([60.0, 0.0])
    res = fused(stack(POSE + shift, far, POSE - shift))
    np.testing.assert_allclose(res.keypoints[0], POSE, atol=1e-12)
    assert (res.source[0] == 0).all()
    thesis = aggregate(stack(POSE + shift, far, POSE - shift), gamma=0.0)
    np.testing.assert_allclose(thesis.keypoints[0], POSE + shift)


def test_agreeing_experts_are_averaged_with_their_joint_scores_as_weights() -> None:
    a, b, c = POSE + np.array([2.0, 0.0]), POSE + np.array([-4.0, 0.0]), POSE + np.array([0.0, 3.0])
    scores = np.stack([np.full((1, V), w) for w in (0.5, 0.25, 0.25)])
    res = fused(stack(a, b, c), scores)
    np.testing.assert_allclose(res.keypoints[0], 0.5 * a + 0.25 * b + 0.25 * c, atol=1e-12)
    assert (res.source[0] == 0).all()
    equal = fused(stack(a, b, c), scores, fused=fused_options(fuse_weights="equal"))
    np.testing.assert_allclose(equal.keypoints[0], (a + b + c) / 3, atol=1e-12)


def fused_options(**fields: object):
    from posekit.refine.ssta.options import FusedOptions

    return FusedOptions(**fields)


def test_expert_with_left_and_right_swapped_is_flipped_back_before_fusing() -> None:
    x = stack(POSE + np.array([3.0, 0.0]), flipped(POSE), POSE)
    res = fused(x)
    np.testing.assert_allclose(res.keypoints[0], POSE + np.array([1.0, 0.0]), atol=1e-12)
    X, Y = x[..., 0][:, None], x[..., 1][:, None]
    _, _, _, flips = repair_sides(X, Y, np.ones_like(X), COCO17, pose_scale(X, Y, COCO17), 0.1)
    assert flips[:, 0, 0].tolist() == [False, True, False]
    unrepaired = fused(x, fused=fused_options(swap_repair=False))
    wrist = COCO17.index("left_wrist")
    np.testing.assert_allclose(unrepaired.keypoints[0, wrist], POSE[wrist] + [1.5, 0.0])
    assert res.confidence[0] > unrepaired.confidence[0]


def test_two_experts_disagreeing_on_sides_flip_the_one_with_lower_joint_scores() -> None:
    scores = np.stack([np.full((1, V), 0.9), np.full((1, V), 0.4)])
    res = fused(stack(flipped(POSE), POSE), scores)
    np.testing.assert_allclose(res.keypoints[0], flipped(POSE), atol=1e-12)
    res = fused(stack(flipped(POSE), POSE), scores[::-1])
    np.testing.assert_allclose(res.keypoints[0], POSE, atol=1e-12)


def test_side_view_where_left_and_right_overlap_is_not_flipped() -> None:
    side = POSE.copy()
    side[:, 0] = 100.0 + (side[:, 0] - 100.0) * 0.05
    X = stack(side, flipped(side), side)[..., 0][:, None]
    Y = stack(side, flipped(side), side)[..., 1][:, None]
    _, _, _, flips = repair_sides(X, Y, np.ones_like(X), COCO17, pose_scale(X, Y, COCO17), 0.1)
    assert not flips.any()


def test_missing_joints_take_no_part_and_a_joint_no_pair_agrees_on_comes_from_one_expert() -> None:
    a, b, c = POSE.copy(), POSE + np.array([0.5, 0.5]), POSE + np.array([200.0, 0.0])
    nose, ankle, knee = COCO17.index("nose"), COCO17.index("left_ankle"), COCO17.index("left_knee")
    a[nose] = b[nose] = c[nose] = np.nan
    a[ankle] = b[ankle] = np.nan
    b[knee] = np.nan
    c[knee] = a[knee] + [40.0, 0.0]
    scores = np.stack([np.full((1, V), 0.3), np.full((1, V), 0.8), np.full((1, V), 0.6)])
    res = fused(stack(a, b, c), scores)
    assert np.isnan(res.keypoints[0, nose]).all() and res.source[0, nose] == -1
    np.testing.assert_allclose(res.keypoints[0, ankle], c[ankle])
    assert res.source[0, ankle] == 2
    np.testing.assert_allclose(res.keypoints[0, knee], c[knee])
    assert res.source[0, knee] == 2
    np.testing.assert_allclose(res.keypoints[0, 5], (0.3 * a[5] + 0.8 * b[5]) / 1.1, atol=1e-12)


def test_fuse_joints_without_a_body_scale_takes_the_closest_pairs_higher_weight_member() -> None:
    X = np.array([10.0, 11.0, 50.0]).reshape(3, 1, 1, 1)
    Y = np.zeros_like(X)
    W = np.array([0.2, 0.7, 0.9]).reshape(3, 1, 1, 1)
    x, _, source = fuse_joints(X, Y, W, np.full((1, 1), np.nan), 0.2)
    assert (x[0, 0, 0], source[0, 0, 0]) == (11.0, 1)


def test_fused_confidence_is_eq_3_4_on_the_fused_pose_against_the_repaired_proposals() -> None:
    rng = np.random.default_rng(3)
    x = stack(POSE, flipped(POSE), POSE) + rng.normal(0, 2.0, (3, 1, V, 2))
    res = fused(x)
    repaired = x.copy()
    repaired[1] = flipped(x[1, 0])[None]
    np.testing.assert_allclose(res.confidence, confidence(res.keypoints, repaired), rtol=1e-12)
    assert res.normaliser[0] == 0 and res.options["mode"] == "fused"
    assert res.options["fused"]["fuse_tolerance"] == 0.2


def test_fused_batched_tracks_equal_single_tracks() -> None:
    rng = np.random.default_rng(0)
    x = POSE[None, None, None] + rng.normal(0, 8.0, (4, 3, 6, V, 2))
    x[rng.random(x.shape[:-1]) < 0.2] = np.nan
    x[1, 2] = flipped(x[1, 2].reshape(-1, V, 2).swapaxes(0, 1)).swapaxes(0, 1).reshape(6, V, 2)
    s = rng.random(x.shape[:-1])
    batched = fused(x, s)
    for b in range(len(x)):
        one = fused(x[b], s[b])
        np.testing.assert_array_equal(one.keypoints, batched.keypoints[b])
        np.testing.assert_array_equal(one.source, batched.source[b])
        np.testing.assert_array_equal(one.confidence, batched.confidence[b])


def test_fused_mode_refuses_thesis_only_settings_and_scores_of_another_shape() -> None:
    with pytest.raises(ConfigError, match="--missing zero is thesis-only"):
        AggregationOptions(mode="fused", missing="zero")
    with pytest.raises(ConfigError, match="--first-pick public is thesis-only"):
        AggregationOptions(mode="fused", first_pick="public")
    with pytest.raises(ConfigError, match="--fuse-tolerance must be > 0"):
        fused_options(fuse_tolerance=0.0)
    with pytest.raises(ValueError, match="scores must have the proposals' shape"):
        fused(stack(POSE, POSE), np.ones((2, 1, 3)))


@pytest.fixture(scope="module")
def demo() -> np.ndarray:
    return load_ssta_demo(DEMO).keypoints


def test_fused_on_real_demo_loses_no_joint_and_gives_every_pose_a_confidence(demo: np.ndarray) -> None:
    res = fused(demo)
    any_expert = np.isfinite(demo).all(-1).any(0)
    assert np.array_equal(np.isfinite(res.keypoints).all(-1), any_expert)
    assert np.isfinite(res.confidence).all()
    assert (res.source[any_expert] >= 0).all() and (res.source[~any_expert] == -1).all()


def test_fused_on_real_demo_is_unchanged_when_one_expert_has_its_sides_swapped(demo: np.ndarray) -> None:
    swapped = demo.copy()
    swapped[0] = demo[0][:, flip_index(COCO17)]
    X, Y = demo[..., 0][:, None], demo[..., 1][:, None]
    same, flip, known = side_costs(X, Y, COCO17, pose_scale(X, Y, COCO17))
    distinct = (known & (flip - same > 0.3)).all(0)[0]
    assert distinct.sum() > 1000
    clean, repaired = fused(demo), fused(swapped)
    kept = np.isclose(clean.keypoints, repaired.keypoints, atol=1e-9, equal_nan=True).all(-1)
    assert kept[distinct].all()
    thesis_clean, thesis_swapped = aggregate(demo, gamma=0.0), aggregate(swapped, gamma=0.0)
    moved = ~np.isclose(thesis_clean.keypoints, thesis_swapped.keypoints, equal_nan=True).all(-1)
    assert moved[distinct].mean() > 0.2


def test_fused_on_real_demo_ignores_an_outlier_expert_where_the_other_two_agree(demo: np.ndarray) -> None:
    noisy = demo.copy()
    noisy[2] += 150.0
    clean, res = fused(demo), fused(noisy)
    X, Y = demo[..., 0][:, None], demo[..., 1][:, None]
    scale = pose_scale(X, Y, COCO17)[0]
    close = np.linalg.norm(demo[0] - demo[1], axis=-1) <= 0.1 * scale[:, None]
    far_from_two = np.linalg.norm(demo[2] - demo[0], axis=-1) > 0.4 * scale[:, None]
    where = close & (far_from_two | ~np.isfinite(demo[2]).all(-1))
    assert where.sum() > 500
    np.testing.assert_allclose(res.keypoints[where], clean.keypoints[where], atol=1e-9)


def public_code_loop(proposals: np.ndarray) -> np.ndarray:
    """The authors' public code as it reads, in plain Python: ``(3, T, V, 2)`` pixels with (0, 0) for missing.

    t = 0: pairs compared in the order (1, 2), (0, 1), (0, 2), giving experts 1, 1, 2; t > 0:
    experts compared in the order 1, 2, 0 against the previous output; in both, the smallest
    distance wins and, among equal ones, the last compared.
    """
    _, T, joints, _ = proposals.shape
    out = np.zeros((T, joints, 2))

    def dist(p: np.ndarray, q: np.ndarray) -> float:
        return float(np.sqrt(((p - q) ** 2).sum()))

    for t in range(T):
        for v in range(joints):
            p = [proposals[k, t, v] for k in range(3)]
            if t == 0:
                options = [(dist(p[1], p[2]), 1), (dist(p[1], p[0]), 1), (dist(p[0], p[2]), 2)]
            else:
                options = [(dist(p[k], out[t - 1, v]), k) for k in (1, 2, 0)]
            best = min(d for d, _ in options)
            out[t, v] = p[[k for d, k in options if d == best][-1]]
    return out


def test_first_pick_public_reproduces_the_authors_code_on_every_joint_frame_of_the_demo() -> None:
    x = load_ssta_demo(DEMO, lcrnet_face="all").keypoints
    public = public_code_loop(np.nan_to_num(x, nan=0.0))
    settings = {"missing": "zero", "normaliser": "shoulders", "joints": "body12", "gamma": 0.0}

    def differing(first_pick: str) -> tuple[int, int]:
        res = aggregate(x, first_pick=first_pick, **settings)
        diff = (np.nan_to_num(res.keypoints, nan=0.0) != public).any(-1)
        return int(diff.sum()), int(diff.any(-1).sum())

    before, after = differing("lower"), differing("public")
    assert before == (1420, 679)
    assert 1420 / x[0].size * 2 == pytest.approx(0.0606, abs=1e-4)
    assert after == (0, 0)


def test_first_pick_public_vectorised_equals_the_per_joint_loop_on_random_stacks_with_ties_and_gaps() -> None:
    rng = np.random.default_rng(7)
    x = rng.integers(0, 4, (3, 12, V, 2)).astype(np.float64)
    x[rng.random(x.shape[:-1]) < 0.3] = np.nan
    for missing in ("skip", "zero"):
        loop = ssta_reference_loop(x, gamma=0.0, missing=missing, first_pick="public")
        res = aggregate(x, gamma=0.0, missing=missing, first_pick="public")
        np.testing.assert_array_equal(loop.keypoints, res.keypoints)
        np.testing.assert_array_equal(loop.source, res.source)
        np.testing.assert_array_equal(loop.confidence, res.confidence)
        assert res.options["first_pick"] == "public" == loop.options["first_pick"]


def test_select_first_public_takes_the_listed_member_of_the_closest_pair_and_the_last_on_ties() -> None:
    assert select_first_public([(0.0, 0.0), (1.0, 0.0), (9.0, 0.0)]) == 1
    assert select_first_public([(0.0, 0.0), (9.0, 0.0), (1.0, 0.0)]) == 2
    assert select_first_public([(9.0, 0.0), (0.0, 0.0), (1.0, 0.0)]) == 1
    assert select_first_public([(0.0, 0.0), (0.0, 0.0), (0.0, 0.0)]) == 2
    assert select_first_public([None, (0.0, 0.0), None]) == 1
    with pytest.raises(ValueError, match="three experts"):
        select_first_public([(0.0, 0.0), (1.0, 0.0)])
    with pytest.raises(ValueError, match="three-expert rule"):
        aggregate(np.zeros((2, 1, V, 2)), first_pick="public")
