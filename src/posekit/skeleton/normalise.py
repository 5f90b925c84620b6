"""Normalisations and augmentations of UNIK inputs, applied by the loaders and exports (never stored in shards).

Every function takes a ``(C, T, V, M)`` float array: ``C`` coordinates (2: screen units, 3: metres), ``T``
frames, ``V`` joints, ``M`` persons, NaN = missing joint.

- :func:`unik_normalise` (``--normalise unik``) is the pre-processing of the thesis (3.7.1: "2D and 3D inputs
  are pre-processed with normalization and centering following [125], [145]") as the authors' released
  ``data_gen`` applies it: frames without any joint are filled by replaying the person's frames (the 2D and 3D
  data), then, for 3D data only, the clip is centred on a joint of the first person's first frame and turned
  twice so that two of that frame's bones point along +z and then +x. The joints are those the authors' code
  names by position for every layout (:data:`UNIK_CENTRE`, :data:`UNIK_Z_BONE`, :data:`UNIK_X_BONE`).
- :func:`random_move` is the authors' random-move augmentation: one rotation, scale and shift of the screen
  plane, each varying linearly from the clip's first to its last frame.
"""

from __future__ import annotations

import numpy as np

UNIK_CENTRE = 3
"""Joint position the clip is centred on: the chest in Posetics-17, the head in NTU-25 (the authors' data_gen
uses position 3 for both, where 2s-AGCN centres NTU on the spine, position 1)."""
UNIK_Z_BONE = (2, 4)
"""Joint positions (from, to) of the bone turned onto +z: neck -> mid-hip in Posetics-17, neck -> left shoulder
in NTU-25."""
UNIK_X_BONE = (6, 5)
"""Joint positions (from, to) of the bone turned onto +x: right -> left shoulder in Posetics-17, left wrist ->
left elbow in NTU-25."""

MOVE_ANGLES_DEG = (-10.0, -5.0, 0.0, 5.0, 10.0)
MOVE_SCALES = (0.9, 1.0, 1.1)
MOVE_SHIFTS = (-0.2, -0.1, 0.0, 0.1, 0.2)
"""The candidates of :func:`random_move`: in-plane rotation (degrees), scale and shift (screen units)."""

_TINY = 1e-6


def replay_empty_frames(x: np.ndarray) -> np.ndarray:
    """Fill each person's frames without any joint by replaying their frames (thesis 3.7.1 "replaying").

    ``(C, T, V, M)`` -> the same shape. A person whose first frame is empty has their frames with joints moved to
    the start, in order; after the person's last frame with joints, the frames before it are repeated to the end
    of the clip. A person with no joint at all stays empty. A frame is empty when its coordinates sum to 0 with
    NaN read as 0 (the test the authors' arrays, where 0 means missing, make).
    """
    x = np.array(x, dtype=np.float32, copy=True)
    T = x.shape[1]
    for m in range(x.shape[3]):
        person = x[..., m]
        present = np.nansum(person, axis=(0, 2)) != 0
        if not present.any():
            continue
        if not present[0]:
            kept = person[:, present]
            person[:] = np.nan
            person[:, : kept.shape[1]] = kept
            present = np.arange(T) < kept.shape[1]
        end = int(np.flatnonzero(present)[-1]) + 1
        if end < T:
            person[:, end:] = person[:, np.arange(T - end) % end]
    return x


def turn_onto(v: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``(3, 3)`` rotation about ``v x target`` by the angle between them, which turns ``v`` onto ``target``'s
    direction (Rodrigues' formula); the identity when either vector, the axis or the angle is below 1e-6."""
    axis = np.cross(v, target)
    if np.abs(v).sum() < _TINY or np.abs(target).sum() < _TINY:
        return np.eye(3)
    cos = np.clip(np.dot(v, target) / (np.linalg.norm(v) * np.linalg.norm(target)), -1.0, 1.0)
    angle = float(np.arccos(cos))
    if np.abs(axis).sum() < _TINY or abs(angle) < _TINY:
        return np.eye(3)
    k = axis / np.linalg.norm(axis)
    cross = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.cos(angle) * np.eye(3) + np.sin(angle) * cross + (1.0 - np.cos(angle)) * np.outer(k, k)


def _rotate(x: np.ndarray, rotation: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """``(3, T, V, M)`` with ``rotation`` applied to the joints of the ``(T, M)`` ``frames``."""
    turned = np.einsum("ij,jtvm->itvm", rotation, x)
    return np.where(frames[None, :, None, :], turned, x)


def unik_normalise(x: np.ndarray, frames: int | None = None) -> np.ndarray:
    """The authors' ``pre_normalization`` (see the module docstring) of one clip.

    ``x``: ``(C, T, V, M)``, NaN = missing. ``frames``: the clip is first cut or extended to this many frames
    (300 for NTU), so that the replay fills them. Returns ``(C, frames or T, V, M)`` float32; joints missing
    after the replay stay NaN. 3D steps need ``C == 3`` and ``V >= 7``.
    """
    x = np.asarray(x, dtype=np.float32)
    if frames is not None:
        out = np.full((x.shape[0], frames, *x.shape[2:]), np.nan, np.float32)
        out[:, : min(frames, x.shape[1])] = x[:, :frames]
        x = out
    x = replay_empty_frames(x)
    if x.shape[0] != 3:
        return x
    missing = np.nansum(x, axis=0) == 0  # (T, V, M)
    zeroed = np.nan_to_num(x, nan=0.0).astype(np.float64)
    if not zeroed.any():
        return x
    zeroed = np.where(missing[None], 0.0, zeroed - zeroed[:, 0, UNIK_CENTRE, 0][:, None, None, None])
    frames_with_joints = zeroed.sum(axis=(0, 2)) != 0  # (T, M)
    first = zeroed[:, 0, :, 0]
    z_bone = first[:, UNIK_Z_BONE[1]] - first[:, UNIK_Z_BONE[0]]
    zeroed = _rotate(zeroed, turn_onto(z_bone, np.array([0.0, 0.0, 1.0])), frames_with_joints)
    frames_with_joints = zeroed.sum(axis=(0, 2)) != 0
    first = zeroed[:, 0, :, 0]
    x_bone = first[:, UNIK_X_BONE[1]] - first[:, UNIK_X_BONE[0]]
    zeroed = _rotate(zeroed, turn_onto(x_bone, np.array([1.0, 0.0, 0.0])), frames_with_joints)
    return np.where(missing[None], np.nan, zeroed).astype(np.float32)


def random_move(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The authors' random-move augmentation of ``(C, T, V, M)`` screen coordinates (first two channels).

    Draws two rotations, scales and x/y shifts from :data:`MOVE_ANGLES_DEG`, :data:`MOVE_SCALES` and
    :data:`MOVE_SHIFTS`, interpolates each linearly from the first to the last frame, and applies
    ``p' = s R(a) p + (tx, ty)`` frame by frame. Missing joints stay missing (the authors' arrays move their
    zeros too).
    """
    T = x.shape[1]
    angle = np.linspace(*rng.choice(MOVE_ANGLES_DEG, 2), T) * np.pi / 180.0
    scale = np.linspace(*rng.choice(MOVE_SCALES, 2), T)
    shift_x = np.linspace(*rng.choice(MOVE_SHIFTS, 2), T)
    shift_y = np.linspace(*rng.choice(MOVE_SHIFTS, 2), T)
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    px, py = x[0], x[1]
    out = np.array(x, dtype=np.float32, copy=True)
    out[0] = cos[:, None, None] * px - sin[:, None, None] * py + shift_x[:, None, None]
    out[1] = sin[:, None, None] * px + cos[:, None, None] * py + shift_y[:, None, None]
    return out
