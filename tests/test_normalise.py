"""The UNIK normalisation (replay, centring, two rotations) and the random-move augmentation."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.skeleton.normalise import (
    MOVE_SCALES,
    UNIK_CENTRE,
    UNIK_X_BONE,
    UNIK_Z_BONE,
    random_move,
    replay_empty_frames,
    turn_onto,
    unik_normalise,
)


def _person(T: int, V: int = 8, C: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(C, T, V, 1)).astype(np.float32)


def test_replay_repeats_the_frames_before_the_first_empty_tail_frame() -> None:
    x = np.full((2, 7, 3, 1), np.nan, np.float32)
    x[:, :3] = np.arange(1, 4, dtype=np.float32)[None, :, None, None]
    out = replay_empty_frames(x)
    assert out[0, :, 0, 0].tolist() == [1, 2, 3, 1, 2, 3, 1]


def test_replay_moves_a_late_starting_person_to_the_start_and_leaves_an_absent_person_empty() -> None:
    x = np.full((2, 6, 3, 2), np.nan, np.float32)
    x[:, 2] = 5.0
    x[:, 4, :, 0] = 7.0
    out = replay_empty_frames(x)
    assert out[0, :, 0, 0].tolist() == [5, 7, 5, 7, 5, 7]
    assert out[0, :, 0, 1].tolist() == [5, 5, 5, 5, 5, 5]
    x[..., 1] = np.nan
    assert np.isnan(replay_empty_frames(x)[..., 1]).all()


def test_turn_onto_turns_the_vector_onto_the_target_and_is_a_rotation() -> None:
    v = np.array([0.3, -1.2, 0.5])
    R = turn_onto(v, np.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(R @ v, [0, 0, np.linalg.norm(v)], atol=1e-12)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    np.testing.assert_array_equal(turn_onto(np.zeros(3), np.array([1.0, 0, 0])), np.eye(3))


def test_unik_normalise_centres_and_aligns_the_first_frame_of_the_first_person() -> None:
    x = _person(5)
    out = unik_normalise(x, frames=9)
    assert out.shape == (3, 9, 8, 1)
    np.testing.assert_allclose(out[:, 0, UNIK_CENTRE, 0], 0, atol=1e-6)
    x_bone = out[:, 0, UNIK_X_BONE[1], 0] - out[:, 0, UNIK_X_BONE[0], 0]
    np.testing.assert_allclose(x_bone[1:], 0, atol=1e-5)
    assert x_bone[0] > 0
    np.testing.assert_allclose(out[:, 5:], out[:, :4], atol=0)  # replayed after the 5 frames
    lengths = np.linalg.norm(out[:, :5] - out[:, :5, :1], axis=0)
    np.testing.assert_allclose(lengths, np.linalg.norm(x - x[:, :, :1], axis=0), rtol=1e-5)  # distances kept


def test_unik_normalise_on_a_hand_made_skeleton_gives_the_derived_array() -> None:
    # z bone along +y: the first turn is +90 degrees about x (y -> z, z -> -y); the x bone then lies along +x.
    x = np.zeros((3, 1, 7, 1), np.float32)
    joints = {UNIK_CENTRE: (1, 1, 1), UNIK_Z_BONE[0]: (1, 0, 1), UNIK_Z_BONE[1]: (1, 2, 1),
              UNIK_X_BONE[0]: (0, 1, 3), UNIK_X_BONE[1]: (2, 1, 3), 0: (1, 1, 2), 1: (1, 1, 0)}  # fmt: skip
    for v, p in joints.items():
        x[:, 0, v, 0] = p
    expected = {UNIK_CENTRE: (0, 0, 0), UNIK_Z_BONE[0]: (0, 0, -1), UNIK_Z_BONE[1]: (0, 0, 1),
                UNIK_X_BONE[0]: (-1, -2, 0), UNIK_X_BONE[1]: (1, -2, 0), 0: (0, -1, 0), 1: (0, 1, 0)}  # fmt: skip
    out = unik_normalise(x)
    for v, p in expected.items():
        np.testing.assert_allclose(out[:, 0, v, 0], p, atol=1e-6, err_msg=f"joint {v}")


def test_unik_normalise_of_2d_data_only_replays_and_keeps_missing_joints_missing() -> None:
    x = _person(4, C=2)
    x[:, 1, 0] = np.nan
    out = unik_normalise(x, frames=6)
    np.testing.assert_array_equal(out[:, :4], x)
    np.testing.assert_array_equal(out[:, 4:], x[:, :2])
    x3 = _person(4)
    x3[:, 2, 0] = np.nan
    assert np.isnan(unik_normalise(x3)[:, 2, 0]).all() and np.isfinite(unik_normalise(x3)[:, 2, 1:]).all()


def test_random_move_is_one_similarity_per_frame_and_keeps_missing_joints() -> None:
    x = _person(10, C=2)
    x[:, 3, 2] = np.nan
    out = random_move(x, np.random.default_rng(1))
    assert np.isnan(out[:, 3, 2]).all()
    for t in (0, 9):
        d_in = np.linalg.norm(x[:, t, 0] - x[:, t, 1], axis=0)
        d_out = np.linalg.norm(out[:, t, 0] - out[:, t, 1], axis=0)
        ratio = d_out / d_in
        assert np.ptp(ratio) < 1e-5 and min(abs(ratio[0] - s) for s in MOVE_SCALES) < 1e-5  # first/last: a candidate
    np.testing.assert_array_equal(random_move(x, np.random.default_rng(1)), out)
